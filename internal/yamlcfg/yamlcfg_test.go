package yamlcfg

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

type cfg struct {
	Name string `yaml:"name"`
	Size int    `yaml:"size"`
}

func TestDecode(t *testing.T) {
	for _, tc := range []struct{ in, err string }{
		{"name: a\nsize: 3\n", ""},
		{"name: a\nsiez: 3\n", "field siez not found"},
		{"", "the file is empty"},
		{"name: a\n---\nname: b\n", "more than one YAML document"},
		{"size: many\n", "cannot unmarshal"},
	} {
		var c cfg
		err := Decode([]byte(tc.in), &c, nil)
		if tc.err == "" {
			if err != nil || c.Name != "a" || c.Size != 3 {
				t.Errorf("Decode(%q) = %+v, %v", tc.in, c, err)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), tc.err) {
			t.Errorf("Decode(%q) error = %v, want %q", tc.in, err, tc.err)
		}
	}
}

func TestLoadNamesTheFile(t *testing.T) {
	p := filepath.Join(t.TempDir(), "x.yaml")
	os.WriteFile(p, []byte("nme: a\n"), 0o600)
	_, err := Load(p, func(raw []byte) (*cfg, error) {
		var c cfg
		return &c, Decode(raw, &c, nil)
	})
	if err == nil || !strings.HasPrefix(err.Error(), p+": ") {
		t.Fatalf("error %v does not start with the path", err)
	}
	if _, err := Load(filepath.Join(t.TempDir(), "none.yaml"), func([]byte) (*cfg, error) { return nil, nil }); err == nil {
		t.Fatal("missing file accepted")
	}
}

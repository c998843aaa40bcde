package yamlcfg

import (
	"errors"
	"strings"
	"testing"
	"time"
)

type listenCfg struct {
	HTTP string `yaml:"http"`
	GRPC string `yaml:"grpc"`
}

type signerCfg struct {
	ChainFile string `yaml:"chain_file"`
	File      struct {
		KeyFile string `yaml:"key_file"`
	} `yaml:"file"`
}

type item struct {
	Name      string            `yaml:"name"`
	MaxSize   int               `yaml:"max_size"`
	Templates map[string]string `yaml:"templates"`
}

type renamedCfg struct {
	Listen    listenCfg              `yaml:"listen"`
	Timeout   time.Duration          `yaml:"body_timeout"`
	Signer    signerCfg              `yaml:"signer"`
	TSA       *struct{ S signerCfg } `yaml:"tsa"`
	Items     []item                 `yaml:"items"`
	ByName    map[string]item        `yaml:"by_name"`
	Untouched string                 `yaml:"untouched"`
}

var testRenames = Renames{
	"http-addr":     "listen.http",
	"items.*.limit": "max_size",
}

func TestDecodeRenames(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want []string // one error line per renamed key, in order
	}{
		{"http-addr: 127.0.0.1:1\n", []string{`config line 1: "http-addr" was renamed: use listen.http`}},
		{"listen: {http: a}\nbody-timeout: 3s\n", []string{`config line 2: "body-timeout" was renamed: use body_timeout`}},
		{"signer:\n  chain-file: c\n  file: {key-file: k}\n", []string{
			`config line 2: "signer.chain-file" was renamed: use signer.chain_file`,
			`config line 3: "signer.file.key-file" was renamed: use signer.file.key_file`}},
		// Below a renamed key, keys are named under the new parent.
		{"tsa:\n  s: {chain-file: c}\n", []string{`config line 2: "tsa.s.chain-file" was renamed: use tsa.s.chain_file`}},
		{"items:\n  - name: a\n  - name: b\n    max-size: 3\n    limit: 4\n", []string{
			`config line 4: "items[1].max-size" was renamed: use items[1].max_size`,
			`config line 5: "items[1].limit" was renamed: use items[1].max_size`}},
		{"by_name:\n  x: {max-size: 1}\n", []string{`config line 2: "by_name.x.max-size" was renamed: use by_name.x.max_size`}},
		// Map keys are data, not config keys: a dash there is fine.
		{"items:\n  - name: a\n    templates: {build-signer-uri: x}\n", nil},
		{"by_name:\n  my-item: {name: a}\n", nil},
		// A kebab key with no snake twin is an ordinary unknown key.
		{"no-such-key: 1\n", []string{"field no-such-key not found"}},
		// Aliases are followed; the line is the anchored key's.
		{"signer: &b {chain_file: c}\ntsa: {s: *b}\n", nil},
		{"base: &b {chain-file: c}\nsigner: *b\n", []string{`config line 1: "signer.chain-file" was renamed: use signer.chain_file`}},
	} {
		var c renamedCfg
		err := Decode([]byte(tc.in), &c, testRenames)
		if tc.want == nil {
			if err != nil {
				t.Errorf("Decode(%q) = %v", tc.in, err)
			}
			continue
		}
		if err == nil {
			t.Errorf("Decode(%q) accepted", tc.in)
			continue
		}
		lines := strings.Split(err.Error(), "\n")
		if len(tc.want) == 1 && strings.HasPrefix(tc.want[0], "field ") {
			if !strings.Contains(err.Error(), tc.want[0]) {
				t.Errorf("Decode(%q) = %v, want %q", tc.in, err, tc.want[0])
			}
			continue
		}
		if strings.Join(lines, "\n") != strings.Join(tc.want, "\n") {
			t.Errorf("Decode(%q) =\n%v\nwant\n%s", tc.in, err, strings.Join(tc.want, "\n"))
		}
		var re *RenamedKeyError
		if !errors.As(err, &re) || re.Line == 0 {
			t.Errorf("Decode(%q): no RenamedKeyError in %v", tc.in, err)
		}
	}
}

type reshapedCfg struct {
	Listen struct {
		HTTP string `yaml:"http"`
	} `yaml:"listen"`
}

func TestDecodeReshaped(t *testing.T) {
	r := Renames{"listen": "listen.http"}
	var c reshapedCfg
	err := Decode([]byte("listen: 0.0.0.0:3030\n"), &c, r)
	want := `config line 1: "listen" takes a mapping now: use listen.http`
	if err == nil || err.Error() != want {
		t.Fatalf("scalar listen: %v, want %s", err, want)
	}
	if err := Decode([]byte("listen: {http: 0.0.0.0:3030}\n"), &c, r); err != nil || c.Listen.HTTP != "0.0.0.0:3030" {
		t.Fatalf("listen mapping: %+v, %v", c, err)
	}
}

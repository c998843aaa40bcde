package witness

import (
	"crypto/rand"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/mod/sumdb/note"

	"github.com/hallmark-dev/hallmark/tlog"
)

// TestWitnessesConfig checks the witnesses key of hallmark-log's config.
func TestWitnessesConfig(t *testing.T) {
	base := "database: {sqlite: x.db}\nlogs:\n  - name: a\n    kind: %s\n    url: http://log.example/a\n    key_file: k.pem\n    rekor: {tree_id: 1}\n"
	w := "    witnesses:\n      quorum: %d\n      endpoints: [{url: 'http://w.example', vkey: 'w+00000000+BA=='}]\n"
	for _, tc := range []struct {
		kind   string
		quorum int
		ok     bool
	}{
		{"tiles", 1, true}, {"rekor-v2", 0, true}, {"rekor-v1", 1, false}, {"tiles", 2, false}, {"tiles", -1, false},
	} {
		cfg := strings.Replace(base, "%s", tc.kind, 1) + strings.Replace(w, "%d", strconv.Itoa(tc.quorum), 1)
		c, err := tlog.ParseServiceConfig([]byte(cfg))
		if (err == nil) != tc.ok {
			t.Errorf("%s quorum %d: %v", tc.kind, tc.quorum, err)
		}
		if err == nil && (c.Logs[0].Witnesses == nil || len(c.Logs[0].Witnesses.Endpoints) != 1) {
			t.Errorf("witnesses not decoded")
		}
	}
	if _, err := tlog.ParseServiceConfig([]byte(strings.Replace(base, "%s", "tiles", 1) + "    witnesses: {endpoints: [{url: 'http://w', vkey: x, extra: 1}]}\n")); err == nil {
		t.Error("unknown key accepted")
	}
	// The vkey is checked when the cosigner is built.
	c, _ := tlog.ParseServiceConfig([]byte(strings.Replace(base, "%s", "tiles", 1) + strings.Replace(w, "%d", "1", 1)))
	if _, err := NewCosignerFromConfig("a", c.Logs[0].Witnesses, nil, nil); err == nil {
		t.Error("a malformed vkey was accepted")
	}
}

// TestServerConfig: the witness config's listen shape, its default, and
// the old forms rejected with the key to use.
func TestServerConfig(t *testing.T) {
	_, vkey, err := note.GenerateKey(rand.Reader, "log.example/a")
	if err != nil {
		t.Fatal(err)
	}
	rest := "name: witness.example/w\nkey_file: w.pem\nstate_file: s.json\nlogs: [{origin: log.example/a, vkeys: [\"" + vkey + "\"]}]\n"
	load := func(yaml string) (*ServerConfig, error) {
		p := filepath.Join(t.TempDir(), "witness.yaml")
		if err := os.WriteFile(p, []byte(yaml), 0o600); err != nil {
			t.Fatal(err)
		}
		return LoadServerConfig(p)
	}
	c, err := load("listen: {http: 0.0.0.0:3030}\n" + rest)
	if err != nil || c.Listen.HTTP != "0.0.0.0:3030" {
		t.Fatalf("listen.http: %+v, %v", c, err)
	}
	if c, err := load(rest); err != nil || c.Listen.HTTP != "127.0.0.1:3030" {
		t.Fatalf("default: %+v, %v", c, err)
	}
	for _, tc := range []struct{ yaml, want string }{
		{"listen: 0.0.0.0:3030\n" + rest, `config line 1: "listen" takes a mapping now: use listen.http`},
		{strings.Replace(rest, "key_file:", "key-file:", 1), `config line 2: "key-file" was renamed: use key_file`},
		{"listen: {http: x, grpc: y}\n" + rest, "field grpc not found"},
	} {
		if _, err := load(tc.yaml); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: %v, want %q", tc.yaml, err, tc.want)
		}
	}
}

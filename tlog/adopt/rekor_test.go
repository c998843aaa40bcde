package adopt

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"golang.org/x/mod/sumdb/note"

	"github.com/hallmark-dev/hallmark/tlog"
	"github.com/hallmark-dev/hallmark/tlog/format"
)

func TestTarget(t *testing.T) {
	cfg := &tlog.ServiceConfig{Logs: []tlog.LogConfig{{Name: "v2", Kind: "rekor-v2"}, {Name: "v1", Kind: "rekor-v1"}}}
	if lc, err := Target(cfg, ""); err != nil || lc.Name != "v1" {
		t.Fatalf("the only rekor-v1 log: %v, %v", lc, err)
	}
	if lc, err := Target(cfg, "v1"); err != nil || lc != &cfg.Logs[1] {
		t.Fatalf("by name: %v, %v", lc, err)
	}
	for _, tc := range []struct {
		cfg  *tlog.ServiceConfig
		name string
		msg  string
	}{
		{cfg, "v2", "log v2 is a rekor-v2 log"},
		{cfg, "v3", `no log named "v3"`},
		{&tlog.ServiceConfig{Logs: []tlog.LogConfig{{Name: "v2", Kind: "rekor-v2"}}}, "", "has no rekor-v1 log"},
		{&tlog.ServiceConfig{Logs: []tlog.LogConfig{{Name: "a", Kind: "rekor-v1"}, {Name: "b", Kind: "rekor-v1"}}}, "", "choose one with --log"},
	} {
		if _, err := Target(tc.cfg, tc.name); err == nil || !strings.Contains(err.Error(), tc.msg) {
			t.Errorf("Target(%q): got %v, want …%s…", tc.name, err, tc.msg)
		}
	}
}

// fakeRekor serves a Rekor v1's public key and log info.
type fakeRekor struct {
	keyPEM []byte
	info   map[string]any
}

func (f *fakeRekor) serve(t *testing.T) string {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /api/v1/log/publicKey", func(w http.ResponseWriter, r *http.Request) { w.Write(f.keyPEM) })
	mux.HandleFunc("GET /api/v1/log", func(w http.ResponseWriter, r *http.Request) { json.NewEncoder(w).Encode(f.info) })
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv.URL
}

func TestCheckRekor(t *testing.T) {
	cfg, err := tlog.ParseServiceConfig([]byte(`
listen: {http: "127.0.0.1:0", grpc: "off"}
database: {sqlite: x.db}
logs:
  - {name: rekor, kind: rekor-v1, url: "https://rekor.example.com", key_file: rekor.pem, rekor: {tree_id: 1193050959916656506, hostname: rekor.example.com}}
`))
	if err != nil {
		t.Fatal(err)
	}
	lc := &cfg.Logs[0]
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	signer, err := format.NewNoteSigner(lc.RekorHostname(), key)
	if err != nil {
		t.Fatal(err)
	}
	verifier, err := format.NewNoteVerifier(lc.RekorHostname(), key.Public())
	if err != nil {
		t.Fatal(err)
	}
	checkpoint := func(origin string, s note.Signer) string {
		msg, err := note.Sign(&note.Note{Text: origin + "\n5\n47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=\n"}, s)
		if err != nil {
			t.Fatal(err)
		}
		return string(msg)
	}
	der, _ := x509.MarshalPKIXPublicKey(&key.PublicKey)
	good := func() *fakeRekor {
		return &fakeRekor{keyPEM: pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}),
			info: map[string]any{"treeID": "1193050959916656506", "signedTreeHead": checkpoint(lc.CheckpointOrigin(), signer)}}
	}
	if err := CheckRekor(context.Background(), good().serve(t), lc, &key.PublicKey, verifier); err != nil {
		t.Fatalf("a matching Rekor: %v", err)
	}

	other, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	otherDER, _ := x509.MarshalPKIXPublicKey(&other.PublicKey)
	otherSigner, _ := format.NewNoteSigner(lc.RekorHostname(), other)
	for _, tc := range []struct {
		name string
		edit func(*fakeRekor)
		msg  string
	}{
		{"key", func(f *fakeRekor) { f.keyPEM = pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: otherDER}) }, "key_file is not Rekor's signing key"},
		{"not PEM", func(f *fakeRekor) { f.keyPEM = []byte("hello") }, "not PEM"},
		{"tree", func(f *fakeRekor) { f.info["treeID"] = "42" }, "Rekor's active tree is 42"},
		{"shards", func(f *fakeRekor) { f.info["inactiveShards"] = []any{map[string]any{"treeID": "7"}} }, "1 inactive shards"},
		{"origin", func(f *fakeRekor) {
			f.info["signedTreeHead"] = checkpoint("rekor.other.com - 1193050959916656506", signer)
		}, "set rekor.hostname"},
		{"signature", func(f *fakeRekor) { f.info["signedTreeHead"] = checkpoint(lc.CheckpointOrigin(), otherSigner) }, "does not verify"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := good()
			tc.edit(f)
			if err := CheckRekor(context.Background(), f.serve(t), lc, &key.PublicKey, verifier); err == nil || !strings.Contains(err.Error(), tc.msg) {
				t.Fatalf("got %v, want …%s…", err, tc.msg)
			}
		})
	}
	if err := CheckRekor(context.Background(), "http://127.0.0.1:1", lc, &key.PublicKey, verifier); err == nil || !strings.HasPrefix(err.Error(), "rekor: ") {
		t.Fatalf("Rekor down: %v", err)
	}
}

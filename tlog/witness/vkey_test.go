package witness

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"testing"

	"github.com/hallmark-dev/hallmark/tlog"
	"github.com/hallmark-dev/hallmark/tlog/format"
)

// TestConfiguredLogKey: each log kind's vkey names its checkpoint signer
// and key type as that kind's checkpoints are signed.
func TestConfiguredLogKey(t *testing.T) {
	cfg, err := tlog.ParseServiceConfig([]byte(`
listen: {http: "127.0.0.1:0", grpc: "off"}
database: {sqlite: x.db}
logs:
  - {name: v1, kind: rekor-v1, url: "https://rekor.example.com", key_file: v1.pem, rekor: {tree_id: 7}}
  - {name: v2, kind: rekor-v2, url: "https://log2.example.com/v2", key_file: v2.pem}
`))
	if err != nil {
		t.Fatal(err)
	}
	cfg.Logs = append(cfg.Logs, tlog.LogConfig{Name: "ct", Kind: "ct", URL: "https://ct.example.com/2026"})
	ec, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	ed, _, _ := ed25519.GenerateKey(rand.Reader)
	for i, tc := range []struct {
		pub  any
		want func() (string, error)
	}{
		{&ec.PublicKey, func() (string, error) { return format.LogKey(cfg.Logs[0].RekorHostname(), &ec.PublicKey) }},
		{ed, func() (string, error) { return format.LogKey(cfg.Logs[1].CheckpointOrigin(), ed) }},
		{&ec.PublicKey, func() (string, error) { return format.CTLogKey(cfg.Logs[2].CheckpointOrigin(), &ec.PublicKey) }},
	} {
		l := &cfg.Logs[i]
		got, err := ConfiguredLogKey(l, tc.pub)
		want, werr := tc.want()
		if err != nil || werr != nil || got != want {
			t.Errorf("%s: %q, %v; want %q, %v", l.Name, got, err, want, werr)
		}
	}
	if cfg.Logs[0].RekorHostname() == cfg.Logs[0].CheckpointOrigin() {
		t.Fatal("the Rekor v1 case does not tell the signer name from the origin")
	}
	if a, _ := ConfiguredLogKey(&cfg.Logs[2], &ec.PublicKey); a == mustLogKey(t, cfg.Logs[2].CheckpointOrigin(), &ec.PublicKey) {
		t.Fatal("the CT case does not tell CT keys from log keys")
	}
}

func mustLogKey(t *testing.T, name string, pub any) string {
	t.Helper()
	k, err := format.LogKey(name, pub)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

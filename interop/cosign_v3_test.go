package interop

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hallmark-dev/hallmark/tlog/rekorv2"
	"github.com/hallmark-dev/hallmark/trust/clientconfig"
)

// TestCosignV3RekorV2 signs a blob with cosign v3.1.3 and a key pair using a
// signing config that names Hallmark's Rekor v2 log, then verifies it with
// a trusted root naming the log's key; a tampered blob fails.
func TestCosignV3RekorV2(t *testing.T) {
	cosign := clientBinary(t, "cosign", "v3.1.3")
	p := startLogServer(t, pgURLOrSQLite(t), logSpec{Name: "v2", Kind: "rekor-v2", Path: "/rekor-v2"})
	l := p.Logs["v2"]
	dir, env := cosignDir(t, cosign)

	start := time.Now().Add(-time.Hour)
	keyID, _ := rekorv2.KeyHash(l.Origin, l.Key.Public())
	tr, err := clientconfig.TrustedRoot(clientconfig.TrustedRootParams{Tlogs: []clientconfig.Log{
		{BaseURL: l.URL, PublicKey: l.Key.Public(), KeyID: keyID[:], Start: start},
	}})
	if err != nil {
		t.Fatal(err)
	}
	sc, err := clientconfig.SigningConfig(clientconfig.SigningConfigParams{
		RekorURLs: []clientconfig.Service{{URL: l.URL, APIVersion: 2}}, Start: start, Operator: "hallmark-test",
	})
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(dir, "trusted_root.json"), tr, 0o644)
	os.WriteFile(filepath.Join(dir, "signing_config.json"), sc, 0o644)

	out, err := run(t, dir, env, cosign, "sign-blob", "--yes", "--key", "cosign.key",
		"--signing-config", "signing_config.json", "--bundle", "artifact.sigstore.json", "artifact.txt")
	if err != nil {
		t.Fatalf("cosign v3 sign-blob: %v\n%s", err, out)
	}
	bundle, _ := os.ReadFile(filepath.Join(dir, "artifact.sigstore.json"))
	if !strings.Contains(string(bundle), `"version":"0.0.2"`) && !strings.Contains(string(bundle), `"version": "0.0.2"`) {
		t.Fatalf("bundle has no Rekor v2 entry:\n%s", bundle)
	}
	verify := []string{"verify-blob", "--key", "cosign.pub", "--trusted-root", "trusted_root.json", "--bundle", "artifact.sigstore.json"}
	if out, err := run(t, dir, env, cosign, append(verify, "artifact.txt")...); err != nil || !strings.Contains(out, "Verified OK") {
		t.Fatalf("cosign v3 verify-blob: %v\n%s", err, out)
	}
	if out, err := run(t, dir, env, cosign, append(verify, "tampered.txt")...); err == nil {
		t.Fatalf("cosign v3 accepted a tampered blob:\n%s", out)
	}
}

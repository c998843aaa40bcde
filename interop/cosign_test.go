package interop

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// cosignDir prepares a working directory with a key pair and an artifact.
func cosignDir(t *testing.T, cosign string) (dir string, env []string) {
	t.Helper()
	dir = t.TempDir()
	env = []string{"HOME=" + dir, "COSIGN_PASSWORD=", "TUF_ROOT=" + filepath.Join(dir, "tuf")}
	if out, err := run(t, dir, env, cosign, "generate-key-pair"); err != nil {
		t.Fatalf("generate-key-pair: %v\n%s", err, out)
	}
	os.WriteFile(filepath.Join(dir, "artifact.txt"), []byte("hallmark cosign artifact\n"), 0o644)
	os.WriteFile(filepath.Join(dir, "tampered.txt"), []byte("hallmark cosign artifact!\n"), 0o644)
	return dir, env
}

// TestCosignV2RekorV1 signs a blob with cosign v2.6.5 and a key pair,
// logging to Hallmark's Rekor v1 log, then verifies it with the log's key
// (bundle and online lookup); a tampered blob fails.
func TestCosignV2RekorV1(t *testing.T) {
	cosign := clientBinary(t, "cosign", "v2.6.5")
	p := startLogServer(t, pgURLOrSQLite(t), v1Spec(""))
	l := p.Logs["rekor"]
	dir, env := cosignDir(t, cosign)
	pub, err := rekorPublicKeyPEM(l)
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(dir, "rekor.pub"), pub, 0o644)
	env = append(env, "SIGSTORE_REKOR_PUBLIC_KEY="+filepath.Join(dir, "rekor.pub"))

	out, err := run(t, dir, env, cosign, "sign-blob", "--yes", "--key", "cosign.key", "--rekor-url", l.URL,
		"--bundle", "artifact.bundle", "--output-signature", "artifact.sig", "artifact.txt")
	if err != nil {
		t.Fatalf("cosign sign-blob: %v\n%s", err, out)
	}
	for _, args := range [][]string{
		{"--bundle", "artifact.bundle"},
		{"--signature", "artifact.sig"}, // online: entries/retrieve by proposed entry
	} {
		verify := append([]string{"verify-blob", "--key", "cosign.pub", "--rekor-url", l.URL}, args...)
		if out, err := run(t, dir, env, cosign, append(verify, "artifact.txt")...); err != nil || !strings.Contains(out, "Verified OK") {
			t.Fatalf("cosign %v: %v\n%s", verify, err, out)
		}
		if out, err := run(t, dir, env, cosign, append(verify, "tampered.txt")...); err == nil {
			t.Fatalf("cosign %v accepted a tampered blob:\n%s", verify, out)
		}
	}
	// Signing the same blob again with the same signature is idempotent (409
	// then a lookup), as cosign v2 does it.
	if out, err := run(t, dir, env, cosign, "sign-blob", "--yes", "--key", "cosign.key", "--rekor-url", l.URL,
		"--bundle", "again.bundle", "artifact.txt"); err != nil {
		t.Fatalf("second sign-blob: %v\n%s", err, out)
	}
}

package interop

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestRekorCLI runs rekor-cli (v1.5.4, and v1.6.1, the newest) against a
// hallmark-log Rekor v1 log on PostgreSQL: upload, get, verify, search, and
// loginfo with its consistency check between runs.
func TestRekorCLI(t *testing.T) {
	for _, version := range []string{"v1.5.4", "v1.6.1"} {
		t.Run(version, func(t *testing.T) { testRekorCLI(t, version) })
	}
}

func testRekorCLI(t *testing.T, version string) {
	cli := clientBinary(t, "rekor-cli", version)
	p := startLogServer(t, pgURLOrSQLite(t), v1Spec(""))
	url := p.Logs["rekor"].URL
	dir := t.TempDir()
	env := []string{"HOME=" + dir}
	rekor := rekorCLI(t, dir, env, cli, url)

	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	der, _ := x509.MarshalPKIXPublicKey(key.Public())
	os.WriteFile(filepath.Join(dir, "pub.pem"), pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}), 0o644)
	artifact := []byte("rekor-cli artifact")
	os.WriteFile(filepath.Join(dir, "artifact"), artifact, 0o644)
	d := sha256.Sum256(artifact)
	sig, _ := ecdsa.SignASN1(rand.Reader, key, d[:])
	os.WriteFile(filepath.Join(dir, "artifact.sig"), sig, 0o644)

	out := rekor("upload", "--type", "hashedrekord", "--pki-format", "x509", "--artifact", "artifact", "--signature", "artifact.sig", "--public-key", "pub.pem")
	if !strings.Contains(out, "Created entry at index 0") {
		t.Fatalf("upload: %s", out)
	}
	again := rekor("upload", "--type", "hashedrekord", "--pki-format", "x509", "--artifact", "artifact", "--signature", "artifact.sig", "--public-key", "pub.pem")
	if !strings.Contains(again, "Entry already exists") {
		t.Fatalf("second upload: %s", again)
	}
	uuid := strings.TrimSpace(out[strings.LastIndex(out, "/")+1:])
	rekor("loginfo") // first run: stores the checkpoint in $HOME/.rekor
	// A second entry, so the next loginfo must prove consistency 1 -> 2.
	os.WriteFile(filepath.Join(dir, "second"), []byte("second"), 0o644)
	d2 := sha256.Sum256([]byte("second"))
	sig2, _ := ecdsa.SignASN1(rand.Reader, key, d2[:])
	os.WriteFile(filepath.Join(dir, "second.sig"), sig2, 0o644)
	rekor("upload", "--type", "hashedrekord", "--pki-format", "x509", "--artifact", "second", "--signature", "second.sig", "--public-key", "pub.pem")
	out = rekor("get", "--uuid", uuid, "--format", "json")
	if !strings.Contains(out, hex.EncodeToString(d[:])) {
		t.Fatalf("get by uuid: %s", out)
	}
	rekor("get", "--log-index", "0")
	out = rekor("verify", "--type", "hashedrekord", "--pki-format", "x509", "--artifact", "artifact", "--signature", "artifact.sig", "--public-key", "pub.pem")
	if !strings.Contains(out, "Inclusion Proof") {
		t.Fatalf("verify: %s", out)
	}
	for _, args := range [][]string{
		{"search", "--sha", hex.EncodeToString(d[:])},
		{"search", "--artifact", "artifact"},
		{"search", "--public-key", "pub.pem", "--pki-format", "x509"},
	} {
		if out := rekor(args...); !strings.Contains(out, uuid) {
			t.Fatalf("%v: %s", args, out)
		}
	}
	out = rekor("loginfo") // second run: verifies consistency with the first
	if !strings.Contains(out, "Verification Successful") || strings.Contains(out, "No previous log state") || !strings.Contains(out, "Total Tree Size:        2") {
		t.Fatalf("loginfo: %s", out)
	}
}

// rekorCLI returns a runner of rekor-cli against url, in dir with env,
// that fails the test when the command fails and returns its output.
func rekorCLI(t *testing.T, dir string, env []string, cli, url string) func(args ...string) string {
	return func(args ...string) string {
		t.Helper()
		out, err := run(t, dir, env, cli, append(args, "--rekor_server", url)...)
		if err != nil {
			t.Fatalf("rekor-cli %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return out
	}
}

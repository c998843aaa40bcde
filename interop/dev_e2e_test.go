package interop

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// devProc is a running `hallmark dev`.
type devProc struct {
	dir   string // state directory
	work  string // cosign's working directory
	state map[string]string
	cmd   *exec.Cmd
}

// startDev runs `hallmark dev` on free loopback ports with a fresh state
// directory, as a new user would, and waits until every service answers.
func startDev(t *testing.T) *devProc {
	t.Helper()
	d := &devProc{dir: t.TempDir(), work: t.TempDir()}
	args := []string{"dev", "--dir", d.dir,
		"--log-addr", freeAddr(t), "--log-grpc-addr", freeAddr(t), "--ca-addr", freeAddr(t), "--ca-grpc-addr", freeAddr(t),
		"--issuer-addr", freeAddr(t), "--github-issuer-addr", freeAddr(t)}
	d.cmd = exec.Command(hallmarkBinary(t, "hallmark"), args...)
	logf, _ := os.Create(filepath.Join(d.dir, "dev.log"))
	d.cmd.Stdout, d.cmd.Stderr = logf, logf
	if err := d.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.cmd.Process.Signal(os.Interrupt); d.cmd.Wait(); logf.Close() })
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		if raw, err := os.ReadFile(filepath.Join(d.dir, "dev.json")); err == nil && json.Unmarshal(raw, &d.state) == nil {
			if ok(d.state["log_url"]+"/healthz") && ok(d.state["ca_url"]+"/healthz") {
				return d
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	out, _ := os.ReadFile(filepath.Join(d.dir, "dev.log"))
	t.Fatalf("hallmark dev did not come up:\n%s", out)
	return nil
}

func ok(url string) bool {
	resp, err := http.Get(url)
	if err != nil {
		return false
	}
	resp.Body.Close()
	return resp.StatusCode == 200
}

// token writes a fresh identity token from `hallmark dev token` to a file.
func (d *devProc) token(t *testing.T, args ...string) string {
	t.Helper()
	out, err := exec.Command(hallmarkBinary(t, "hallmark"), append([]string{"dev", "token", "--dir", d.dir}, args...)...).Output()
	if err != nil {
		t.Fatalf("hallmark dev token: %v", err)
	}
	p := filepath.Join(d.work, fmt.Sprintf("token-%d", time.Now().UnixNano()))
	os.WriteFile(p, out, 0o600)
	return p
}

func (d *devProc) file(name string) string { return filepath.Join(d.dir, name) }

// TestDevCosignV3Keyless signs with cosign v3.1 keyless against `hallmark
// dev`: Fulcio-compatible CA, development OIDC issuer, Rekor v1 through
// signing_config.json, SCTs embedded from the CT log. Verification checks
// identity, issuer, the SCT and the tlog entry; wrong identity and a
// tampered artifact fail.
func TestDevCosignV3Keyless(t *testing.T) {
	cosign := clientBinary(t, "cosign", "v3.1.3")
	d := startDev(t)
	env := []string{"HOME=" + d.work, "TUF_ROOT=" + filepath.Join(d.work, "tuf")}
	os.WriteFile(filepath.Join(d.work, "artifact.txt"), []byte("signed keyless\n"), 0o644)
	os.WriteFile(filepath.Join(d.work, "tampered.txt"), []byte("signed keyless!\n"), 0o644)
	out, err := run(t, d.work, env, cosign, "sign-blob", "--yes", "--signing-config", d.file("signing_config.json"),
		"--trusted-root", d.file("trusted_root.json"), "--identity-token", d.token(t),
		"--bundle", "artifact.sigstore.json", "artifact.txt")
	if err != nil {
		t.Fatalf("cosign v3 keyless sign-blob: %v\n%s", err, out)
	}
	verify := func(identity, file string) (string, error) {
		return run(t, d.work, env, cosign, "verify-blob", "--trusted-root", d.file("trusted_root.json"),
			"--bundle", "artifact.sigstore.json", "--certificate-identity", identity,
			"--certificate-oidc-issuer", d.state["email_issuer_url"], file)
	}
	if out, err := verify("developer@hallmark.dev", "artifact.txt"); err != nil || !strings.Contains(out, "Verified OK") {
		t.Fatalf("verify-blob: %v\n%s", err, out)
	}
	if out, err := verify("mallory@hallmark.dev", "artifact.txt"); err == nil {
		t.Fatalf("verify-blob accepted a wrong identity:\n%s", out)
	}
	if out, err := verify("developer@hallmark.dev", "tampered.txt"); err == nil {
		t.Fatalf("verify-blob accepted a tampered artifact:\n%s", out)
	}
	bundle, _ := os.ReadFile(filepath.Join(d.work, "artifact.sigstore.json"))
	if !strings.Contains(string(bundle), "hashedrekord") || !strings.Contains(string(bundle), "inclusionProof") {
		t.Fatalf("bundle lacks a Rekor v1 entry:\n%s", bundle)
	}
	verifyBundleWithSigstoreGo(t, d.file("trusted_root.json"), filepath.Join(d.work, "artifact.sigstore.json"),
		[]byte("signed keyless\n"), "developer@hallmark.dev", d.state["email_issuer_url"])
}

// TestDevCosignV2Keyless signs and attests with cosign v2.6 keyless against
// `hallmark dev`, Rekor v1 directly by URL, and verifies with the dev CA
// chain and the log key.
func TestDevCosignV2Keyless(t *testing.T) {
	cosign := clientBinary(t, "cosign", "v2.6.5")
	d := startDev(t)
	rekorKey := filepath.Join(d.work, "rekor.pub")
	resp, err := http.Get(d.state["rekor_v1_url"] + "/api/v1/log/publicKey")
	if err != nil {
		t.Fatal(err)
	}
	f, _ := os.Create(rekorKey)
	f.ReadFrom(resp.Body)
	f.Close()
	resp.Body.Close()
	env := []string{"HOME=" + d.work, "TUF_ROOT=" + filepath.Join(d.work, "tuf"),
		"SIGSTORE_ROOT_FILE=" + d.file("ca/chain.pem"), "SIGSTORE_REKOR_PUBLIC_KEY=" + rekorKey,
		"SIGSTORE_CT_LOG_PUBLIC_KEY_FILE=" + d.file("keys/ct.pub")}
	os.WriteFile(filepath.Join(d.work, "artifact.txt"), []byte("cosign v2 keyless\n"), 0o644)
	os.WriteFile(filepath.Join(d.work, "tampered.txt"), []byte("cosign v2 keyless!\n"), 0o644)
	os.WriteFile(filepath.Join(d.work, "predicate.json"), []byte(`{"buildType":"https://ci.example.com/build@v1","builder":{"id":"https://ci.example.com"},"invocation":{},"materials":[]}`), 0o644)
	common := []string{"--fulcio-url", d.state["ca_url"], "--rekor-url", d.state["rekor_v1_url"]}
	out, err := run(t, d.work, env, cosign, append([]string{"sign-blob", "--yes", "--identity-token", d.token(t),
		"--bundle", "artifact.bundle"}, append(common, "artifact.txt")...)...)
	if err != nil {
		t.Fatalf("cosign v2 keyless sign-blob: %v\n%s", err, out)
	}
	out, err = run(t, d.work, env, cosign, append([]string{"attest-blob", "--yes", "--identity-token", d.token(t),
		"--predicate", "predicate.json", "--type", "slsaprovenance", "--bundle", "attestation.bundle"}, append(common, "artifact.txt")...)...)
	if err != nil {
		t.Fatalf("cosign v2 keyless attest-blob: %v\n%s", err, out)
	}
	id := []string{"--certificate-identity", "developer@hallmark.dev", "--certificate-oidc-issuer", d.state["email_issuer_url"],
		"--rekor-url", d.state["rekor_v1_url"]}
	for _, tc := range []struct {
		args []string
		ok   bool
	}{
		{append([]string{"verify-blob", "--bundle", "artifact.bundle", "artifact.txt"}, id...), true},
		{append([]string{"verify-blob", "--bundle", "artifact.bundle", "tampered.txt"}, id...), false},
		{append([]string{"verify-blob-attestation", "--bundle", "attestation.bundle", "--type", "slsaprovenance", "artifact.txt"}, id...), true},
		{append([]string{"verify-blob-attestation", "--bundle", "attestation.bundle", "--type", "slsaprovenance", "tampered.txt"}, id...), false},
		{[]string{"verify-blob", "--bundle", "artifact.bundle", "--certificate-identity", "mallory@hallmark.dev",
			"--certificate-oidc-issuer", d.state["email_issuer_url"], "artifact.txt"}, false},
	} {
		out, err := run(t, d.work, env, cosign, tc.args...)
		if (err == nil) != tc.ok {
			t.Fatalf("cosign %s: want ok=%v, got %v\n%s", strings.Join(tc.args, " "), tc.ok, err, out)
		}
	}
}

package interop

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sigstore/sigstore-go/pkg/bundle"
	"github.com/sigstore/sigstore-go/pkg/verify"
)

// devProc is a running `hallmark dev`.
type devProc struct {
	dir   string // state directory
	work  string // cosign's working directory
	args  []string
	state map[string]string
	cmd   *exec.Cmd
}

// startDev runs `hallmark dev` on free loopback ports with a fresh state
// directory, as a new user would, and waits until every service answers.
func startDev(t *testing.T) *devProc {
	t.Helper()
	d := &devProc{dir: t.TempDir(), work: t.TempDir()}
	d.args = []string{"dev", "--dir", d.dir,
		"--log-addr", freeAddr(t), "--log-grpc-addr", freeAddr(t), "--ca-addr", freeAddr(t), "--ca-grpc-addr", freeAddr(t),
		"--issuer-addr", freeAddr(t), "--github-issuer-addr", freeAddr(t)}
	d.start(t)
	return d
}

// start runs `hallmark dev` with d's state directory and addresses and
// waits until every service answers.
func (d *devProc) start(t *testing.T) {
	t.Helper()
	d.cmd = exec.Command(hallmarkBinary(t, "hallmark"), d.args...)
	logf, _ := os.OpenFile(filepath.Join(d.dir, "dev.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	d.cmd.Stdout, d.cmd.Stderr = logf, logf
	if err := d.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	cmd := d.cmd
	t.Cleanup(func() { cmd.Process.Signal(os.Interrupt); cmd.Wait(); logf.Close() })
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		if raw, err := os.ReadFile(filepath.Join(d.dir, "dev.json")); err == nil && json.Unmarshal(raw, &d.state) == nil {
			if ok(d.state["log_url"]+"/healthz") && ok(d.state["ca_url"]+"/healthz") {
				return
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	out, _ := os.ReadFile(filepath.Join(d.dir, "dev.log"))
	t.Fatalf("hallmark dev did not come up:\n%s", out)
}

// stop ends `hallmark dev` as Ctrl-C does and waits for it to exit.
func (d *devProc) stop(t *testing.T) {
	t.Helper()
	d.cmd.Process.Signal(os.Interrupt)
	if err := d.cmd.Wait(); err != nil {
		t.Logf("hallmark dev exited: %v", err)
	}
	for ok(d.state["log_url"]+"/healthz") || ok(d.state["ca_url"]+"/healthz") {
		time.Sleep(50 * time.Millisecond)
	}
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
// chain and the log key: wrong identity and a tampered artifact fail. Then
// sigstore-go verifies the same bundles with trusted_root.json: cosign v2's
// own bundle files, turned into v0.1 and v0.3 sigstore bundles
// (legacyBlobBundle), and the bundles cosign v2 writes with
// --new-bundle-format.
func TestDevCosignV2Keyless(t *testing.T) {
	cosign := clientBinary(t, "cosign", "v2.6.5")
	d := startDev(t)
	env := cosignV2Env(t, d)
	artifact, tampered := []byte("cosign v2 keyless\n"), []byte("cosign v2 keyless!\n")
	os.WriteFile(filepath.Join(d.work, "artifact.txt"), artifact, 0o644)
	os.WriteFile(filepath.Join(d.work, "tampered.txt"), tampered, 0o644)
	os.WriteFile(filepath.Join(d.work, "predicate.json"), []byte(slsaPredicateContent), 0o644)
	common := []string{"--fulcio-url", d.state["ca_url"], "--rekor-url", d.state["rekor_v1_url"]}
	for _, newFormat := range []bool{false, true} {
		sig, att := "artifact.bundle", "attestation.bundle"
		var format, verifyFormat []string
		if newFormat {
			sig, att, format = "artifact.sigstore.json", "attestation.sigstore.json", []string{"--new-bundle-format"}
			verifyFormat = append(format, "--trusted-root", d.file("trusted_root.json"))
		}
		out, err := run(t, d.work, env, cosign, append(append([]string{"sign-blob", "--yes", "--identity-token", d.token(t),
			"--bundle", sig}, format...), append(common, "artifact.txt")...)...)
		if err != nil {
			t.Fatalf("cosign v2 keyless sign-blob %v: %v\n%s", format, err, out)
		}
		out, err = run(t, d.work, env, cosign, append(append([]string{"attest-blob", "--yes", "--identity-token", d.token(t),
			"--predicate", "predicate.json", "--type", "slsaprovenance", "--bundle", att}, format...), append(common, "artifact.txt")...)...)
		if err != nil {
			t.Fatalf("cosign v2 keyless attest-blob %v: %v\n%s", format, err, out)
		}
		id := func(identity string) []string {
			return append([]string{"--certificate-identity", identity, "--certificate-oidc-issuer", d.state["email_issuer_url"],
				"--rekor-url", d.state["rekor_v1_url"]}, verifyFormat...)
		}
		for _, tc := range []struct {
			args []string
			ok   bool
		}{
			{append([]string{"verify-blob", "--bundle", sig, "artifact.txt"}, id(devIdentity)...), true},
			{append([]string{"verify-blob", "--bundle", sig, "tampered.txt"}, id(devIdentity)...), false},
			{append([]string{"verify-blob", "--bundle", sig, "artifact.txt"}, id("mallory@hallmark.dev")...), false},
			{append([]string{"verify-blob-attestation", "--bundle", att, "--type", "slsaprovenance", "artifact.txt"}, id(devIdentity)...), true},
			{append([]string{"verify-blob-attestation", "--bundle", att, "--type", "slsaprovenance", "tampered.txt"}, id(devIdentity)...), false},
			{append([]string{"verify-blob-attestation", "--bundle", att, "--type", "slsaprovenance", "artifact.txt"}, id("mallory@hallmark.dev")...), false},
		} {
			out, err := run(t, d.work, env, cosign, tc.args...)
			if (err == nil) != tc.ok {
				t.Fatalf("cosign %s: want ok=%v, got %v\n%s", strings.Join(tc.args, " "), tc.ok, err, out)
			}
		}

		if newFormat {
			for _, name := range []string{sig, att} {
				b, err := bundle.LoadJSONFromPath(filepath.Join(d.work, name))
				if err != nil {
					t.Fatalf("sigstore-go rejects cosign v2's %s: %v", name, err)
				}
				checkBlobBundle(t, d, name, b, artifact, tampered)
			}
			continue
		}
		for name, kind := range map[string]string{sig: "hashedrekord", att: "dsse"} {
			legacy := legacyBlobBundle(t, filepath.Join(d.work, name), artifact)
			if k := legacy.entryKind(t); k != kind {
				t.Fatalf("%s: cosign v2 made a %s entry, want %s", name, k, kind)
			}
			for _, version := range []string{"v0.1", "v0.3"} {
				checkBlobBundle(t, d, name+" as "+version, legacy.bundle(t, d, version), artifact, tampered)
			}
		}
	}
}

// checkBlobBundle verifies one keyless bundle about a blob with sigstore-go
// and trusted_root.json: it passes for the blob and the signer, and fails
// for a wrong identity and for a tampered blob.
func checkBlobBundle(t *testing.T, d *devProc, what string, b *bundle.Bundle, blob, tampered []byte) {
	t.Helper()
	issuer, trustedRoot := d.state["email_issuer_url"], d.file("trusted_root.json")
	if _, err := sigstoreGoVerify(t, trustedRoot, b, verify.WithArtifact(bytes.NewReader(blob)), devIdentity, issuer); err != nil {
		t.Fatalf("sigstore-go rejects %s: %v", what, err)
	}
	if _, err := sigstoreGoVerify(t, trustedRoot, b, verify.WithArtifact(bytes.NewReader(blob)), "mallory@hallmark.dev", issuer); err == nil {
		t.Errorf("sigstore-go accepted %s for a wrong identity", what)
	}
	if _, err := sigstoreGoVerify(t, trustedRoot, b, verify.WithArtifact(bytes.NewReader(tampered)), devIdentity, issuer); err == nil {
		t.Errorf("sigstore-go accepted %s for a tampered blob", what)
	}
}

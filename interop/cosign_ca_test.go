package interop

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hallmark-dev/hallmark/oidc/devissuer"
)

// cosignBinary returns the cosign binary named by env (HALLMARK_COSIGN_V2
// or HALLMARK_COSIGN_V3), or else the pinned build in $HALLMARK_TOOLS_DIR
// (as `make tools` lays it out: cosign-<version>/cosign). Without either
// the test is skipped, except with CI=true, where a missing client is a
// failure.
func cosignBinary(t *testing.T, env, version string) string {
	t.Helper()
	p := os.Getenv(env)
	if p == "" && os.Getenv("HALLMARK_TOOLS_DIR") != "" {
		p = filepath.Join(os.Getenv("HALLMARK_TOOLS_DIR"), "cosign-"+version, "cosign")
	}
	if p == "" {
		if os.Getenv("CI") == "true" {
			t.Fatalf("neither %s nor HALLMARK_TOOLS_DIR is set; CI must provide cosign %s", env, version)
		}
		t.Skipf("%s is not set", env)
	}
	if _, err := os.Stat(p); err != nil {
		t.Fatalf("cosign %s: %v", version, err)
	}
	return p
}

// cosign runs a cosign command in an isolated home (no TUF cache, no
// public-good defaults picked up from the developer's machine).
func cosign(t *testing.T, bin string, env []string, args ...string) (string, error) {
	t.Helper()
	home := t.TempDir()
	cmd := exec.Command(bin, args...)
	cmd.Env = append([]string{
		"HOME=" + home, "TUF_ROOT=" + filepath.Join(home, "tuf"), "PATH=" + os.Getenv("PATH"),
		"COSIGN_YES=true", "SIGSTORE_NO_CACHE=true",
	}, env...)
	done := make(chan struct{})
	var out []byte
	var err error
	go func() { out, err = cmd.CombinedOutput(); close(done) }()
	select {
	case <-done:
	case <-time.After(2 * time.Minute):
		cmd.Process.Kill()
		<-done
		err = fmt.Errorf("cosign %s timed out", args[0])
	}
	return string(out), err
}

// TestCosignV2 signs a blob with cosign v2's legacy Fulcio client (v1 API)
// and verifies it with SIGSTORE_ROOT_FILE pointing at Hallmark's chain.
// There is no transparency log or CT log yet: signing passes
// --tlog-upload=false and --insecure-skip-verify (which skips the SCT
// check), verification --insecure-ignore-tlog and --insecure-ignore-sct,
// so the certificate is checked against the current time.
func TestCosignV2(t *testing.T) {
	bin := cosignBinary(t, "HALLMARK_COSIGN_V2", "v2.6.5")
	e := startCA(t)
	// cosign reads --identity-token as a file when it can; a JWT longer than
	// a file name makes it fail with ENAMETOOLONG, so pass a file as CI does.
	token := e.writeFile(t, "token", []byte(mint(t, e.github, devissuer.GitHubClaims("acme/app", "refs/heads/main"))))
	blob := e.writeFile(t, "artifact.txt", []byte("hallmark cosign v2 artifact\n"))
	sig, cert := filepath.Join(e.dir, "artifact.sig"), filepath.Join(e.dir, "artifact.pem")

	out, err := cosign(t, bin, nil, "sign-blob", "--yes",
		"--fulcio-url", e.url, "--identity-token", token,
		"--tlog-upload=false", "--insecure-skip-verify",
		"--output-signature", sig, "--output-certificate", cert, blob)
	if err != nil {
		t.Fatalf("cosign v2 sign-blob: %v\n%s", err, out)
	}

	// Without --insecure-skip-verify cosign v2 verifies an SCT at sign
	// time against CT log keys (SIGSTORE_CT_LOG_PUBLIC_KEY_FILE or TUF).
	// Hallmark has no CT log yet (the response carries an empty detached
	// SCT) and there is no key to give, so cosign stops looking for one.
	out, err = cosign(t, bin, nil, "sign-blob", "--yes",
		"--fulcio-url", e.url, "--identity-token", token, "--tlog-upload=false",
		"--output-signature", sig+".2", "--output-certificate", cert+".2", blob)
	mustFail(t, "sign without SCT verification skipped", out, err, "getting CTFE public keys")

	san := "https://github.com/acme/app/.github/workflows/release.yml@refs/heads/main"
	rootEnv := []string{"SIGSTORE_ROOT_FILE=" + e.chainFile}
	verifyArgs := func(identity, repo string) []string {
		return []string{"verify-blob", "--certificate", cert, "--signature", sig,
			"--certificate-identity", identity, "--certificate-oidc-issuer", e.github.URL(),
			"--certificate-github-workflow-repository", repo,
			"--insecure-ignore-sct", "--insecure-ignore-tlog", blob}
	}
	if out, err := cosign(t, bin, rootEnv, verifyArgs(san, "acme/app")...); err != nil {
		t.Fatalf("cosign v2 verify-blob: %v\n%s", err, out)
	}
	// The same certificate must not pass for another identity, another
	// workflow repository (read from the raw .1.5 extension), or without
	// Hallmark's root.
	out, err = cosign(t, bin, rootEnv, verifyArgs("https://github.com/evil/app/.github/workflows/release.yml@refs/heads/main", "acme/app")...)
	mustFail(t, "wrong identity", out, err, "none of the expected identities matched")
	out, err = cosign(t, bin, rootEnv, verifyArgs(san, "evil/app")...)
	mustFail(t, "wrong workflow repository", out, err, "expected GitHub Workflow Repository not found")
	other := e.writeFile(t, "other-root.pem", mustOtherRoot(t))
	out, err = cosign(t, bin, []string{"SIGSTORE_ROOT_FILE=" + other}, verifyArgs(san, "acme/app")...)
	mustFail(t, "untrusted CA", out, err, "certificate signed by unknown authority")
	// cosign v2's legacy client uses the v1 API (201, PEM chain); the
	// sign attempt without --insecure-skip-verify got a certificate too.
	e.wantIssued(t, "v1", 2)
}

// mustFail checks that a cosign command failed, for the expected reason.
func mustFail(t *testing.T, what, out string, err error, want string) {
	t.Helper()
	if err == nil {
		t.Errorf("%s: cosign accepted it:\n%s", what, out)
	} else if !strings.Contains(out, want) {
		t.Errorf("%s: cosign failed without saying %q:\n%s", what, want, out)
	}
}

// TestCosignV3 signs with cosign v3 through a signing config that names
// hallmark-ca (sigstore-go's client, v2 API) and verifies the bundle
// against a trusted_root.json holding Hallmark's chain.
func TestCosignV3(t *testing.T) {
	bin := cosignBinary(t, "HALLMARK_COSIGN_V3", "v3.1.3")
	e := startCA(t)
	token := e.writeFile(t, "token", []byte(mint(t, e.github, devissuer.GitHubClaims("acme/app", "refs/heads/main"))))
	blob := e.writeFile(t, "artifact.txt", []byte("hallmark cosign v3 artifact\n"))
	trJSON, err := e.trustedRoot(t).MarshalJSON()
	if err != nil {
		t.Fatal(err)
	}
	trustedRoot := e.writeFile(t, "trusted_root.json", trJSON)
	signingConfig := e.writeFile(t, "signing_config.json", []byte(`{
  "mediaType": "application/vnd.dev.sigstore.signingconfig.v0.2+json",
  "caUrls": [{"url": "`+e.url+`", "majorApiVersion": 1, "validFor": {"start": "2020-01-01T00:00:00Z"}, "operator": "hallmark"}],
  "oidcUrls": [], "rekorTlogUrls": [], "tsaUrls": [],
  "rekorTlogConfig": {"selector": "ANY"}, "tsaConfig": {"selector": "ANY"}
}`))
	bundlePath := filepath.Join(e.dir, "artifact.sigstore.json")
	out, err := cosign(t, bin, nil, "sign-blob", "--yes",
		"--signing-config", signingConfig, "--trusted-root", trustedRoot,
		"--identity-token", token, // no rekorTlogUrls in the signing config: no tlog upload
		"--bundle", bundlePath, blob)
	if err != nil {
		t.Fatalf("cosign v3 sign-blob: %v\n%s", err, out)
	}
	san := "https://github.com/acme/app/.github/workflows/release.yml@refs/heads/main"
	verifyArgs := func(identity string) []string {
		return []string{"verify-blob", "--bundle", bundlePath, "--trusted-root", trustedRoot,
			"--certificate-identity", identity, "--certificate-oidc-issuer", e.github.URL(),
			"--insecure-ignore-sct", "--insecure-ignore-tlog", blob}
	}
	if out, err := cosign(t, bin, nil, verifyArgs(san)...); err != nil {
		t.Fatalf("cosign v3 verify-blob: %v\n%s", err, out)
	}
	out, err = cosign(t, bin, nil, verifyArgs(strings.Replace(san, "acme", "evil", 1))...)
	mustFail(t, "wrong identity", out, err, "no matching CertificateIdentity found")
	// cosign v3 goes through sigstore-go, i.e. the v2 API.
	e.wantIssued(t, "v2", 1)
}

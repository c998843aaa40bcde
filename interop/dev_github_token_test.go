package interop

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/sigstore/sigstore-go/pkg/bundle"
	"github.com/sigstore/sigstore-go/pkg/verify"
)

// TestDevGitHubWorkflowToken signs with cosign v3 and a GitHub-Actions-shaped
// token from `hallmark dev token --issuer-type github-workflow`, and verifies
// the way a policy for CI-built artifacts does: the workflow identity by
// regular expression, the issuer, and the repository from the certificate's
// GitHub extensions. Another repository fails, with cosign and sigstore-go.
func TestDevGitHubWorkflowToken(t *testing.T) {
	cosign := clientBinary(t, "cosign", "v3.1.3")
	d := startDev(t)
	env := []string{"HOME=" + d.work, "TUF_ROOT=" + filepath.Join(d.work, "tuf")}
	artifact := []byte("built by CI\n")
	os.WriteFile(filepath.Join(d.work, "artifact.txt"), artifact, 0o644)
	token := d.token(t, "--issuer-type", "github-workflow", "--repository", "acme/widget", "--ref", "refs/heads/main")
	if out, err := run(t, d.work, env, cosign, "sign-blob", "--yes", "--signing-config", d.file("signing_config.v2.json"),
		"--trusted-root", d.file("trusted_root.json"), "--identity-token", token,
		"--bundle", "artifact.sigstore.json", "artifact.txt"); err != nil {
		t.Fatalf("cosign sign-blob with a github-workflow token: %v\n%s", err, out)
	}
	issuer := d.state["github_issuer_url"]
	cosignVerify := func(repo string) (string, error) {
		return run(t, d.work, env, cosign, "verify-blob", "--trusted-root", d.file("trusted_root.json"),
			"--bundle", "artifact.sigstore.json", "--certificate-identity-regexp", "^https://github.com/"+repo+"/",
			"--certificate-oidc-issuer", issuer, "--certificate-github-workflow-repository", repo, "artifact.txt")
	}
	if out, err := cosignVerify("acme/widget"); err != nil {
		t.Fatalf("cosign verify-blob: %v\n%s", err, out)
	}
	if out, err := cosignVerify("acme/other"); err == nil {
		t.Fatalf("cosign verify-blob accepted another repository:\n%s", out)
	}

	b, err := bundle.LoadJSONFromPath(filepath.Join(d.work, "artifact.sigstore.json"))
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		repo string
		ok   bool
	}{{"acme/widget", true}, {"acme/other", false}} {
		id, err := verify.NewShortCertificateIdentity(issuer, "", "", "^https://github.com/"+c.repo+"/")
		if err != nil {
			t.Fatal(err)
		}
		_, err = sigstoreGoVerifyIdentity(t, d.file("trusted_root.json"), b, verify.WithArtifact(bytes.NewReader(artifact)), id)
		if (err == nil) != c.ok {
			t.Fatalf("sigstore-go, workflow of %s: want ok=%v, got %v", c.repo, c.ok, err)
		}
	}
}

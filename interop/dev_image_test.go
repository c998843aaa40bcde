package interop

import (
	"io"
	"log"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

// TestDevCosignImage signs and attests a container image in a local OCI
// registry with cosign v3 keyless against `hallmark dev`, and verifies both.
func TestDevCosignImage(t *testing.T) {
	cosign := clientBinary(t, "cosign", "v3.1.3")
	reg := httptest.NewServer(registry.New(registry.Logger(log.New(io.Discard, "", 0))))
	defer reg.Close()
	img, err := random.Image(1024, 2)
	if err != nil {
		t.Fatal(err)
	}
	tag, err := name.ParseReference(strings.TrimPrefix(reg.URL, "http://") + "/hallmark/app:v1")
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(tag, img); err != nil {
		t.Fatal(err)
	}
	digest, _ := img.Digest()
	ref := tag.Context().Digest(digest.String()).String()

	d := startDev(t)
	env := []string{"HOME=" + d.work, "TUF_ROOT=" + filepath.Join(d.work, "tuf")}
	os.WriteFile(filepath.Join(d.work, "predicate.json"), []byte(`{"buildType":"https://ci.example.com/build@v1","builder":{"id":"https://ci.example.com"},"invocation":{},"materials":[]}`), 0o644)
	signFlags := []string{"--yes", "--signing-config", d.file("signing_config.json"), "--trusted-root", d.file("trusted_root.json")}
	verifyFlags := []string{"--trusted-root", d.file("trusted_root.json"), "--certificate-identity", "developer@hallmark.dev",
		"--certificate-oidc-issuer", d.state["email_issuer_url"], "--allow-insecure-registry"}
	steps := [][]string{
		append(append([]string{"sign"}, signFlags...), "--identity-token", d.token(t), "--allow-insecure-registry", ref),
		append(append([]string{"verify"}, verifyFlags...), ref),
		append(append([]string{"attest"}, signFlags...), "--identity-token", d.token(t), "--allow-insecure-registry",
			"--type", "slsaprovenance", "--predicate", "predicate.json", ref),
		append(append([]string{"verify-attestation"}, verifyFlags...), "--type", "slsaprovenance", ref),
	}
	for _, args := range steps {
		if out, err := run(t, d.work, env, cosign, args...); err != nil {
			t.Fatalf("cosign %s: %v\n%s", args[0], err, out)
		}
	}
	wrong := append([]string{"verify"}, verifyFlags...)
	wrong[4] = "mallory@hallmark.dev"
	if out, err := run(t, d.work, env, cosign, append(wrong, ref)...); err == nil {
		t.Fatalf("cosign verify accepted a wrong identity:\n%s", out)
	}
}

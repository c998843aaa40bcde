package interop

import (
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestCosignV3KeylessRekorV2TSA is keyless signing end to end on `hallmark
// dev`: cosign v3.1.3 signs a blob with the signing_config.v2.json it wrote
// (hallmark-ca, the Rekor v2 log, the RFC 3161 TSA) and a dev identity
// token, and verifies the bundle with trusted_root.json, an identity and
// an issuer. Rekor v2 entries carry no integrated time, so the bundle's
// signed timestamp is what proves the certificate was valid at signing:
// without the TSA in the trusted root, verification fails.
// SCT and tlog verification are on: hallmark-ca embeds SCTs from the dev
// CT log, and sigstore-go checks the same bundle.
func TestCosignV3KeylessRekorV2TSA(t *testing.T) {
	cosign := clientBinary(t, "cosign", "v3.1.3")
	e := startDevTSA(t)
	dir := t.TempDir()
	env := []string{"HOME=" + dir, "TUF_ROOT=" + filepath.Join(dir, "tuf"), "SIGSTORE_NO_CACHE=true"}
	resp, err := http.Post(e.TokenURL, "application/json", strings.NewReader(`{}`))
	if err != nil {
		t.Fatal(err)
	}
	token, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("dev token: %d %s", resp.StatusCode, token)
	}
	os.WriteFile(filepath.Join(dir, "token"), token, 0o600)
	os.WriteFile(filepath.Join(dir, "artifact.txt"), []byte("hallmark keyless artifact\n"), 0o644)
	os.WriteFile(filepath.Join(dir, "tampered.txt"), []byte("hallmark keyless artifact!\n"), 0o644)

	out, err := run(t, dir, env, cosign, "sign-blob", "--yes",
		"--signing-config", e.signingConfigV2, "--trusted-root", e.trustedRoot,
		"--identity-token", "token", "--bundle", "artifact.sigstore.json", "artifact.txt")
	if err != nil {
		t.Fatalf("cosign v3 sign-blob: %v\n%s", err, out)
	}
	raw, _ := os.ReadFile(filepath.Join(dir, "artifact.sigstore.json"))
	var bundle struct {
		VerificationMaterial struct {
			Certificate               json.RawMessage `json:"certificate"`
			TlogEntries               []struct{ KindVersion struct{ Version string } }
			TimestampVerificationData struct {
				Rfc3161Timestamps []struct{ SignedTimestamp string } `json:"rfc3161Timestamps"`
			} `json:"timestampVerificationData"`
		} `json:"verificationMaterial"`
	}
	if err := json.Unmarshal(raw, &bundle); err != nil {
		t.Fatal(err)
	}
	vm := bundle.VerificationMaterial
	if len(vm.Certificate) == 0 || len(vm.TlogEntries) != 1 || vm.TlogEntries[0].KindVersion.Version != "0.0.2" || len(vm.TimestampVerificationData.Rfc3161Timestamps) != 1 {
		t.Fatalf("bundle lacks a certificate, a Rekor v2 entry or an RFC 3161 timestamp:\n%s", raw)
	}

	verify := func(trustedRoot, identity, artifact string) (string, error) {
		return run(t, dir, env, cosign, "verify-blob", "--bundle", "artifact.sigstore.json", "--trusted-root", trustedRoot,
			"--certificate-identity", identity, "--certificate-oidc-issuer", e.EmailIssuerURL, artifact)
	}
	if out, err := verify(e.trustedRoot, "developer@hallmark.dev", "artifact.txt"); err != nil || !strings.Contains(out, "Verified OK") {
		t.Fatalf("cosign v3 verify-blob: %v\n%s", err, out)
	}
	art, _ := os.ReadFile(filepath.Join(dir, "artifact.txt"))
	verifyBundleWithSigstoreGo(t, e.trustedRoot, filepath.Join(dir, "artifact.sigstore.json"), art, "developer@hallmark.dev", e.EmailIssuerURL)
	out, err = verify(e.trustedRoot, "developer@hallmark.dev", "tampered.txt")
	mustFail(t, "tampered blob", out, err, "")
	out, err = verify(e.trustedRoot, "someone@hallmark.dev", "artifact.txt")
	mustFail(t, "wrong identity", out, err, "no matching CertificateIdentity found")

	// The same trusted root without the TSA: nothing vouches for the
	// signing time any more.
	var tr map[string]any
	trRaw, _ := os.ReadFile(e.trustedRoot)
	json.Unmarshal(trRaw, &tr)
	delete(tr, "timestampAuthorities")
	noTSA, _ := json.Marshal(tr)
	os.WriteFile(filepath.Join(dir, "no_tsa_root.json"), noTSA, 0o644)
	out, err = verify("no_tsa_root.json", "developer@hallmark.dev", "artifact.txt")
	mustFail(t, "trusted root without the TSA", out, err, "")
}

package interop

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hallmark-dev/hallmark/oidc/devissuer"
	"github.com/hallmark-dev/hallmark/trust/clientconfig"
)

// ctStack is hallmark-ca issuing with embedded SCTs from a Hallmark CT
// log, next to a Rekor v1 log, all on one hallmark-log.
type ctStack struct {
	ca          *caEnv
	logs        *logProc
	ct, rekor   *servedLog
	trustedRoot func(ctKey any) []byte
}

func startCTStack(t *testing.T) *ctStack {
	t.Helper()
	s := &ctStack{}
	s.ca = startCA(t, func(e *caEnv) string {
		s.logs = startLogServer(t, pgURLOrSQLite(t), v1Spec(""),
			logSpec{Name: "ct", Kind: "ct", Path: "/ct", KeyType: "ecdsa-p256",
				Extra: fmt.Sprintf("    ct: {roots_file: %q}\n    batch: {max_age: 10ms}\n", e.chainFile)})
		s.ct, s.rekor = s.logs.Logs["ct"], s.logs.Logs["rekor"]
		der, _ := x509.MarshalPKIXPublicKey(s.ct.Key.Public())
		keyFile := e.writeFile(t, "ct.pub", pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}))
		return fmt.Sprintf("ct:\n  url: %s\n  public_key_file: %s\n", s.ct.URL, keyFile)
	})
	start := time.Now().Add(-time.Hour)
	s.trustedRoot = func(ctKey any) []byte {
		tr, err := clientconfig.TrustedRoot(clientconfig.TrustedRootParams{
			Tlogs:                  []clientconfig.Log{{BaseURL: s.rekor.URL, PublicKey: s.rekor.Key.Public(), Start: start}},
			CertificateAuthorities: []clientconfig.Authority{{URI: s.ca.url, Chain: s.ca.chain, Start: start}},
			CTLogs:                 []clientconfig.Log{{BaseURL: s.ct.URL, PublicKey: ctKey, Start: start}},
		})
		if err != nil {
			t.Fatal(err)
		}
		return tr
	}
	return s
}

// TestCosignV3KeylessWithCT is the acceptance test of issue 6: cosign
// v3.1 signs keyless against hallmark-ca (embedded SCT from Hallmark's CT
// log) and Hallmark's Rekor v1 log, and verify-blob checks the SCT (no
// --insecure-ignore-sct) against the CT key in trusted_root.json. With
// another CT key in the trusted root, verification fails.
func TestCosignV3KeylessWithCT(t *testing.T) {
	bin := cosignBinary(t, "HALLMARK_COSIGN_V3", "v3.1.3")
	s := startCTStack(t)
	e := s.ca
	token := e.writeFile(t, "token", []byte(mint(t, e.github, devissuer.GitHubClaims("acme/app", "refs/heads/main"))))
	blob := e.writeFile(t, "artifact.txt", []byte("hallmark cosign v3 CT artifact\n"))
	trustedRoot := e.writeFile(t, "trusted_root.json", s.trustedRoot(s.ct.Key.Public()))
	sc, err := clientconfig.SigningConfig(clientconfig.SigningConfigParams{CAURL: e.url,
		RekorURLs: []clientconfig.Service{{URL: s.rekor.URL, APIVersion: 1}}, Start: time.Now().Add(-time.Hour), Operator: "hallmark-test"})
	if err != nil {
		t.Fatal(err)
	}
	signingConfig := e.writeFile(t, "signing_config.json", sc)
	bundlePath := filepath.Join(e.dir, "artifact.sigstore.json")
	out, err := cosign(t, bin, nil, "sign-blob", "--yes", "--signing-config", signingConfig, "--trusted-root", trustedRoot,
		"--identity-token", token, "--bundle", bundlePath, blob)
	if err != nil {
		t.Fatalf("cosign v3 sign-blob: %v\n%s", err, out)
	}
	san := "https://github.com/acme/app/.github/workflows/release.yml@refs/heads/main"
	verify := func(tr string) (string, error) {
		return cosign(t, bin, nil, "verify-blob", "--bundle", bundlePath, "--trusted-root", tr,
			"--certificate-identity", san, "--certificate-oidc-issuer", e.github.URL(), blob)
	}
	if out, err := verify(trustedRoot); err != nil || !strings.Contains(out, "Verified OK") {
		t.Fatalf("cosign v3 verify-blob with SCT verification: %v\n%s", err, out)
	}
	other, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	wrongCT := e.writeFile(t, "trusted_root_other_ct.json", s.trustedRoot(other.Public()))
	out, err = verify(wrongCT)
	mustFail(t, "SCT from an untrusted CT log", out, err, "SCT")
	if _, err := os.Stat(bundlePath); err != nil {
		t.Fatal(err)
	}
}

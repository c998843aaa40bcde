package interop

import (
	"bytes"
	"testing"

	"github.com/sigstore/sigstore-go/pkg/bundle"
	"github.com/sigstore/sigstore-go/pkg/root"
	"github.com/sigstore/sigstore-go/pkg/verify"
)

// verifyBundleWithSigstoreGo checks a keyless bundle with sigstore-go and a
// trusted root file, as a policy engine would.
func verifyBundleWithSigstoreGo(t *testing.T, trustedRoot, bundlePath string, artifact []byte, san, issuer string) {
	t.Helper()
	b, err := bundle.LoadJSONFromPath(bundlePath)
	if err != nil {
		t.Fatalf("sigstore-go rejects the bundle: %v", err)
	}
	if _, err := sigstoreGoVerify(t, trustedRoot, b, verify.WithArtifact(bytes.NewReader(artifact)), san, issuer); err != nil {
		t.Fatalf("sigstore-go rejects the bundle: %v", err)
	}
}

// sigstoreGoVerify verifies a keyless bundle with sigstore-go against a
// trusted root file: the certificate chains to the root's CA and holds an
// SCT from one of its CT logs, the entry is in one of its transparency
// logs, the signing time is vouched for (by every kind of time the bundle
// carries: the RFC 3161 timestamp, which Rekor v2 bundles must have, and
// the integrated time of a Rekor v1 entry), and the certificate names san
// and issuer.
func sigstoreGoVerify(t *testing.T, trustedRoot string, b *bundle.Bundle, artifact verify.ArtifactPolicyOption, san, issuer string) (*verify.VerificationResult, error) {
	t.Helper()
	id, err := verify.NewShortCertificateIdentity(issuer, "", san, "")
	if err != nil {
		t.Fatal(err)
	}
	return sigstoreGoVerifyIdentity(t, trustedRoot, b, artifact, id)
}

// sigstoreGoVerifyIdentity is sigstoreGoVerify for any certificate identity.
func sigstoreGoVerifyIdentity(t *testing.T, trustedRoot string, b *bundle.Bundle, artifact verify.ArtifactPolicyOption, id verify.CertificateIdentity) (*verify.VerificationResult, error) {
	t.Helper()
	tr, err := root.NewTrustedRootFromPath(trustedRoot)
	if err != nil {
		t.Fatalf("sigstore-go rejects the trusted root: %v", err)
	}
	if len(tr.CTLogs()) == 0 {
		t.Fatalf("trusted root %s names no CT log: SCTs cannot be checked", trustedRoot)
	}
	opts := []verify.VerifierOption{verify.WithTransparencyLog(1), verify.WithSignedCertificateTimestamps(1)}
	if len(b.GetVerificationMaterial().GetTimestampVerificationData().GetRfc3161Timestamps()) > 0 {
		opts = append(opts, verify.WithSignedTimestamps(1))
	}
	for _, e := range b.GetVerificationMaterial().GetTlogEntries() {
		if e.GetIntegratedTime() > 0 { // Rekor v1
			opts = append(opts, verify.WithIntegratedTimestamps(1))
			break
		}
	}
	v, err := verify.NewVerifier(tr, opts...)
	if err != nil {
		t.Fatal(err)
	}
	return v.Verify(b, verify.NewPolicy(artifact, verify.WithCertificateIdentity(id)))
}

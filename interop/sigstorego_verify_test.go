package interop

import (
	"bytes"
	"os"
	"testing"

	"github.com/sigstore/sigstore-go/pkg/bundle"
	"github.com/sigstore/sigstore-go/pkg/root"
	"github.com/sigstore/sigstore-go/pkg/verify"
)

// verifyBundleWithSigstoreGo checks a keyless bundle with sigstore-go and a
// trusted root file, as a policy engine would.
func verifyBundleWithSigstoreGo(t *testing.T, trustedRoot, bundlePath string, artifact []byte, san, issuer string) {
	t.Helper()
	tr, err := root.NewTrustedRootFromPath(trustedRoot)
	if err != nil {
		t.Fatalf("sigstore-go rejects the trusted root: %v", err)
	}
	raw, err := os.ReadFile(bundlePath)
	if err != nil {
		t.Fatal(err)
	}
	var b bundle.Bundle
	if err := b.UnmarshalJSON(raw); err != nil {
		t.Fatalf("sigstore-go rejects the bundle: %v", err)
	}
	opts := []verify.VerifierOption{verify.WithTransparencyLog(1)}
	if len(b.GetVerificationMaterial().GetTimestampVerificationData().GetRfc3161Timestamps()) > 0 {
		opts = append(opts, verify.WithSignedTimestamps(1))
	} else {
		opts = append(opts, verify.WithIntegratedTimestamps(1))
	}
	if len(tr.CTLogs()) > 0 {
		opts = append(opts, verify.WithSignedCertificateTimestamps(1))
	}
	v, err := verify.NewVerifier(tr, opts...)
	if err != nil {
		t.Fatal(err)
	}
	id, err := verify.NewShortCertificateIdentity(issuer, "", san, "")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := v.Verify(&b, verify.NewPolicy(verify.WithArtifact(bytes.NewReader(artifact)), verify.WithCertificateIdentity(id))); err != nil {
		t.Fatalf("sigstore-go rejects the bundle: %v", err)
	}
}

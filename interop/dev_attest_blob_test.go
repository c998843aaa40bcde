package interop

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/sigstore/sigstore-go/pkg/bundle"
)

// TestDevCosignV3AttestBlob attests a blob with cosign v3.1 keyless
// against `hallmark dev`, with signing_config.json (Rekor v1) and with
// signing_config.v2.json (Rekor v2 and the TSA), and verifies the in-toto
// attestation with `cosign verify-blob-attestation` (identity, issuer, SCT
// and tlog checked; a wrong identity and a tampered blob fail) and with
// sigstore-go and trusted_root.json (the same cases).
func TestDevCosignV3AttestBlob(t *testing.T) {
	cosign := clientBinary(t, "cosign", "v3.1.3")
	d := startDev(t)
	env := []string{"HOME=" + d.work, "TUF_ROOT=" + filepath.Join(d.work, "tuf")}
	artifact, tampered := []byte("attested keyless\n"), []byte("attested keyless!\n")
	os.WriteFile(filepath.Join(d.work, "artifact.txt"), artifact, 0o644)
	os.WriteFile(filepath.Join(d.work, "tampered.txt"), tampered, 0o644)
	os.WriteFile(filepath.Join(d.work, "predicate.json"), []byte(slsaPredicateContent), 0o644)
	for _, tc := range []struct{ signingConfig, entryVersion string }{
		{"signing_config.json", "0.0.1"},
		{"signing_config.v2.json", "0.0.2"},
	} {
		out := tc.signingConfig + ".attestation.sigstore.json"
		if o, err := run(t, d.work, env, cosign, "attest-blob", "--yes", "--signing-config", d.file(tc.signingConfig),
			"--trusted-root", d.file("trusted_root.json"), "--identity-token", d.token(t),
			"--predicate", "predicate.json", "--type", "slsaprovenance", "--bundle", out, "artifact.txt"); err != nil {
			t.Fatalf("cosign v3 attest-blob with %s: %v\n%s", tc.signingConfig, err, o)
		}
		for _, c := range []struct {
			identity, file string
			ok             bool
		}{
			{devIdentity, "artifact.txt", true},
			{"mallory@hallmark.dev", "artifact.txt", false},
			{devIdentity, "tampered.txt", false},
		} {
			o, err := run(t, d.work, env, cosign, "verify-blob-attestation", "--trusted-root", d.file("trusted_root.json"),
				"--bundle", out, "--type", "slsaprovenance", "--certificate-identity", c.identity,
				"--certificate-oidc-issuer", d.state["email_issuer_url"], c.file)
			if (err == nil) != c.ok {
				t.Fatalf("%s: verify-blob-attestation %s as %s: want ok=%v, got %v\n%s", tc.signingConfig, c.file, c.identity, c.ok, err, o)
			}
		}
		b, err := bundle.LoadJSONFromPath(filepath.Join(d.work, out))
		if err != nil {
			t.Fatalf("sigstore-go rejects the bundle: %v", err)
		}
		entries := b.GetVerificationMaterial().GetTlogEntries()
		if b.GetDsseEnvelope() == nil || len(entries) != 1 || entries[0].GetKindVersion().GetVersion() != tc.entryVersion ||
			len(b.GetVerificationMaterial().GetTimestampVerificationData().GetRfc3161Timestamps()) != 1 {
			t.Fatalf("%s: want a DSSE envelope, one entry of version %s and one RFC 3161 timestamp", out, tc.entryVersion)
		}
		checkBlobBundle(t, d, out, b, artifact, tampered)
	}
}

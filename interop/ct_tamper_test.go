package interop

import (
	"bytes"
	"context"
	"crypto"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sigstore/sigstore-go/pkg/bundle"
	"github.com/sigstore/sigstore-go/pkg/root"
	"github.com/sigstore/sigstore-go/pkg/sign"
	"github.com/sigstore/sigstore-go/pkg/verify"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/hallmark-dev/hallmark/ca"
	"github.com/hallmark-dev/hallmark/oidc/devissuer"
)

// oidSCTList is RFC 6962's embedded SCT list extension.
var oidSCTList = asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 11129, 2, 4, 2}

// tamperingFulcio obtains a certificate from hallmark-ca and hands
// sigstore-go's signer a copy whose embedded SCT was altered by alter, re-
// signed with the CA key: the certificate signature, the chain, the
// identity and the Rekor entry are all valid, and only the SCT is wrong.
type tamperingFulcio struct {
	fulcio *sign.Fulcio
	caKey  crypto.Signer
	alter  func(sctList []byte) // edits the TLS-encoded SCT list in place; nil: no change
}

func (f *tamperingFulcio) GetCertificate(ctx context.Context, kp sign.Keypair, opts *sign.CertificateProviderOptions) ([]byte, error) {
	der, err := f.fulcio.GetCertificate(ctx, kp, opts)
	if err != nil || f.alter == nil {
		return der, err
	}
	return resignWithAlteredSCT(der, f.caKey, f.alter)
}

// resignWithAlteredSCT rebuilds the certificate der with the same
// TBSCertificate except for the bytes alter changes inside the SCT list,
// signed again by caKey (ECDSA with SHA-256, as the CA signs).
func resignWithAlteredSCT(der []byte, caKey crypto.Signer, alter func([]byte)) ([]byte, error) {
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, err
	}
	var list []byte
	for _, e := range cert.Extensions {
		if e.Id.Equal(oidSCTList) {
			if _, err := asn1.Unmarshal(e.Value, &list); err != nil {
				return nil, err
			}
		}
	}
	if list == nil {
		return nil, os.ErrNotExist
	}
	tbs := bytes.Clone(cert.RawTBSCertificate)
	at := bytes.Index(tbs, list)
	if at < 0 || bytes.Contains(tbs[at+1:], list) {
		return nil, os.ErrInvalid
	}
	alter(tbs[at : at+len(list)])
	digest := sha256.Sum256(tbs)
	sig, err := caKey.Sign(rand.Reader, digest[:], crypto.SHA256)
	if err != nil {
		return nil, err
	}
	return asn1.Marshal(struct {
		TBS       asn1.RawValue
		Algorithm pkix.AlgorithmIdentifier
		Signature asn1.BitString
	}{asn1.RawValue{FullBytes: tbs}, pkix.AlgorithmIdentifier{Algorithm: asn1.ObjectIdentifier{1, 2, 840, 10045, 4, 3, 2}},
		asn1.BitString{Bytes: sig, BitLength: 8 * len(sig)}})
}

// TestAlteredSCTFailsVerification is the last acceptance point of issue 6:
// a certificate whose embedded SCT was altered (one byte of the SCT's
// signature, or of its timestamp) but which the CA itself signed fails
// cosign v2.6 and v3.1 verify-blob and sigstore-go's verifier with SCT
// verification on, while the same flow with the unaltered certificate
// passes all three.
func TestAlteredSCTFailsVerification(t *testing.T) {
	v2 := cosignBinary(t, "HALLMARK_COSIGN_V2", "v2.6.5")
	v3 := cosignBinary(t, "HALLMARK_COSIGN_V3", "v3.1.3")
	s := startCTStack(t)
	e := s.ca
	// startCA wrote the key encrypted with this password for hallmark-ca.
	caKey, err := ca.LoadEncryptedKeyFile(filepath.Join(e.dir, ca.IntermediateKeyFile), []byte(os.Getenv("HALLMARK_INTEROP_CA_PASSWORD")))
	if err != nil {
		t.Fatal(err)
	}
	trJSON := s.trustedRoot(s.ct.Key.Public())
	trustedRoot := e.writeFile(t, "trusted_root.json", trJSON)
	tr, err := root.NewTrustedRootFromJSON(trJSON)
	if err != nil {
		t.Fatal(err)
	}
	fulcio := sign.NewFulcio(&sign.FulcioOptions{BaseURL: e.url, Timeout: 30 * time.Second, Retries: 1})
	rekor := sign.NewRekor(&sign.RekorOptions{BaseURL: s.rekor.URL, Timeout: 30 * time.Second, Version: 1})
	san := "https://github.com/acme/app/.github/workflows/release.yml@refs/heads/main"

	// The SCT list: u16 list length, u16 SCT length, then the SCT:
	// version (1), log ID (32), timestamp (8), extensions, signature.
	const timestampLastByte = 2 + 2 + 1 + 32 + 7
	for _, tc := range []struct {
		name  string
		alter func([]byte)
	}{
		{"unaltered", nil},
		{"sct-signature", func(l []byte) { l[len(l)-1] ^= 0x01 }},
		{"sct-timestamp", func(l []byte) { l[timestampLastByte] ^= 0x01 }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			kp, err := sign.NewEphemeralKeypair(nil)
			if err != nil {
				t.Fatal(err)
			}
			token := mint(t, e.github, devissuer.GitHubClaims("acme/app", "refs/heads/main"))
			artifact := []byte("hallmark artifact, certificate " + tc.name + "\n")
			pb, err := sign.Bundle(&sign.PlainData{Data: artifact}, kp, sign.BundleOptions{
				CertificateProvider:        &tamperingFulcio{fulcio: fulcio, caKey: caKey, alter: tc.alter},
				CertificateProviderOptions: &sign.CertificateProviderOptions{IDToken: token},
				TransparencyLogs:           []sign.Transparency{rekor},
			})
			if err != nil {
				t.Fatalf("sign.Bundle: %v", err)
			}
			js, err := protojson.Marshal(pb)
			if err != nil {
				t.Fatal(err)
			}
			dir := t.TempDir()
			bundlePath := filepath.Join(dir, "artifact.sigstore.json")
			blob := filepath.Join(dir, "artifact.txt")
			os.WriteFile(bundlePath, js, 0o644)
			os.WriteFile(blob, artifact, 0o644)

			// The certificate itself is the CA's: its signature and chain
			// verify, so whatever fails below is the SCT.
			leaf, err := x509.ParseCertificate(pb.GetVerificationMaterial().GetCertificate().GetRawBytes())
			if err != nil {
				t.Fatal(err)
			}
			pool := x509.NewCertPool()
			pool.AddCert(e.chain[1])
			inter := x509.NewCertPool()
			inter.AddCert(e.chain[0])
			if _, err := leaf.Verify(x509.VerifyOptions{Roots: pool, Intermediates: inter, CurrentTime: leaf.NotBefore,
				KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageCodeSigning}}); err != nil {
				t.Fatalf("the re-signed certificate does not chain to the CA: %v", err)
			}

			ok := tc.alter == nil
			for _, c := range []struct {
				name string
				args []string
			}{
				{"cosign v2.6", []string{v2, "verify-blob", "--new-bundle-format"}},
				{"cosign v3.1", []string{v3, "verify-blob"}},
			} {
				args := append(c.args[1:], "--bundle", bundlePath, "--trusted-root", trustedRoot,
					"--certificate-identity", san, "--certificate-oidc-issuer", e.github.URL(), blob)
				out, err := cosign(t, c.args[0], nil, args...)
				switch {
				case ok && (err != nil || !strings.Contains(out, "Verified OK")):
					t.Errorf("%s verify-blob rejects the unaltered certificate: %v\n%s", c.name, err, out)
				case !ok:
					mustFail(t, c.name+" verify-blob, altered SCT", out, err, "SCT")
					t.Logf("%s: %s", c.name, lastLine(out))
				}
			}

			var b bundle.Bundle
			if err := b.UnmarshalJSON(js); err != nil {
				t.Fatal(err)
			}
			v, err := verify.NewVerifier(tr, verify.WithTransparencyLog(1), verify.WithIntegratedTimestamps(1),
				verify.WithSignedCertificateTimestamps(1))
			if err != nil {
				t.Fatal(err)
			}
			id, err := verify.NewShortCertificateIdentity(e.github.URL(), "", san, "")
			if err != nil {
				t.Fatal(err)
			}
			_, err = v.Verify(&b, verify.NewPolicy(verify.WithArtifact(bytes.NewReader(artifact)), verify.WithCertificateIdentity(id)))
			switch {
			case ok && err != nil:
				t.Errorf("sigstore-go rejects the unaltered certificate: %v", err)
			case !ok && err == nil:
				t.Errorf("sigstore-go accepts a certificate with an altered SCT")
			case !ok && !strings.Contains(err.Error(), "certificate timestamp"):
				t.Errorf("sigstore-go rejects the altered certificate, but not for its SCT: %v", err)
			case !ok:
				t.Logf("sigstore-go: %v", err)
			}
		})
	}
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return lines[len(lines)-1]
}

package ca

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"testing"
	"time"

	"github.com/hallmark-dev/hallmark/oidc"
)

// TestTBSMatchesCreateCertificate holds encodeTBS to its contract: for
// every template c.template builds (each SAN kind, each CA key type, with
// and without a last extension), the TBSCertificate is byte for byte the
// one x509.CreateCertificate encodes, and the signed certificate parses
// and verifies under the issuing CA.
func TestTBSMatchesCreateCertificate(t *testing.T) {
	ec := func(c elliptic.Curve) crypto.Signer { k, _ := ecdsa.GenerateKey(c, rand.Reader); return k }
	_, ed, _ := ed25519.GenerateKey(rand.Reader)
	rsaKey, _ := rsa.GenerateKey(rand.Reader, 2048)
	keys := map[string]crypto.Signer{"P-256": ec(elliptic.P256()), "P-384": ec(elliptic.P384()), "P-521": ec(elliptic.P521()), "Ed25519": ed, "RSA": rsaKey}
	ext := testExtensions()
	ids := map[string]*oidc.Identity{
		"email":     {Issuer: "https://accounts.example.com", SANKind: oidc.SANEmail, SAN: "dev@example.com", Extensions: ext},
		"uri":       {Issuer: "https://token.actions.githubusercontent.com", SANKind: oidc.SANURI, SAN: "https://github.com/acme/app/.github/workflows/release.yml@refs/heads/main", Extensions: ext},
		"othername": {Issuer: "https://idp.example.com", SANKind: oidc.SANOtherName, SAN: "builder", Extensions: ext},
	}
	lasts := map[string]*pkix.Extension{
		"none":   nil,
		"poison": {Id: oidPoison, Critical: true, Value: asn1.NullBytes},
		"sct":    {Id: oidSCTList, Value: []byte{0x04, 0x03, 0x00, 0x01, 0xaa}},
	}
	for kn, key := range keys {
		root, err := CreateRoot(key, CertTemplate{Organization: "o", CommonName: "root " + kn, Validity: time.Hour})
		if err != nil {
			t.Fatal(err)
		}
		c, err := New(key, []*x509.Certificate{root}, Options{})
		if err != nil {
			t.Fatal(err)
		}
		for in, id := range ids {
			for ln, last := range lasts {
				t.Run(kn+"/"+in+"/"+ln, func(t *testing.T) {
					leafKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
					tmpl, spki, err := c.template(id, leafKey.Public())
					if err != nil {
						t.Fatal(err)
					}
					got, err := c.encodeTBS(tmpl, spki, last)
					if err != nil {
						t.Fatal(err)
					}
					x := *tmpl
					if last != nil {
						x.ExtraExtensions = append(x.ExtraExtensions[:len(x.ExtraExtensions):len(x.ExtraExtensions)], *last)
					}
					der, err := x509.CreateCertificate(rand.Reader, &x, root, leafKey.Public(), key)
					if err != nil {
						t.Fatal(err)
					}
					want, _ := x509.ParseCertificate(der)
					if !bytes.Equal(got, want.RawTBSCertificate) {
						t.Fatalf("TBSCertificate differs from crypto/x509's:\n got %x\nwant %x", got, want.RawTBSCertificate)
					}
					signed, err := c.certificate(tmpl, spki, last)
					if err != nil {
						t.Fatal(err)
					}
					cert, err := x509.ParseCertificate(signed)
					if err != nil {
						t.Fatal(err)
					}
					if err := cert.CheckSignatureFrom(root); err != nil || cert.SignatureAlgorithm != want.SignatureAlgorithm {
						t.Fatalf("signature: %v, algorithm %v, want %v", err, cert.SignatureAlgorithm, want.SignatureAlgorithm)
					}
				})
			}
		}
	}
}

// testExtensions returns Fulcio extension values of every kind: raw (.1.1 to
// .1.6) and UTF8String (.1.8 onwards).
func testExtensions() oidc.Extensions {
	return oidc.Extensions{
		Issuer: "https://token.actions.githubusercontent.com", GithubWorkflowTrigger: "push", GithubWorkflowSHA: "0123456789abcdef",
		GithubWorkflowRepository: "acme/app", SourceRepositoryURI: "https://github.com/acme/app", RunnerEnvironment: "github-hosted",
		BuildConfigURI: "https://github.com/acme/app/.github/workflows/release.yml@refs/heads/main", Subject: "repo:acme/app:ref:refs/heads/main",
	}
}

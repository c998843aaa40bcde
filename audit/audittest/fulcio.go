package audittest

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/base64"
	"fmt"
	"math/big"
	"net/url"
	"strings"
	"time"
)

// Fulcio certificate extensions carrying the OIDC issuer.
var (
	OIDIssuerV1 = asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 57264, 1, 1} // raw bytes (deprecated)
	OIDIssuerV2 = asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 57264, 1, 8} // DER UTF8String
)

// CA issues Fulcio-style code-signing certificates.
type CA struct {
	Cert *x509.Certificate
	key  *ecdsa.PrivateKey
}

// NewCA makes a self-signed ECDSA P-256 CA.
func NewCA() (*CA, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{Organization: []string{"hallmark test"}, CommonName: "hallmark test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, err
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, err
	}
	return &CA{Cert: cert, key: key}, nil
}

// Leaf is a code-signing certificate and its key.
type Leaf struct {
	DER []byte
	Key *ecdsa.PrivateKey
}

// Issue returns a 10-minute certificate for subject (an e-mail address, or
// a URI such as a CI workflow identity) vouched for by the OIDC issuer,
// with both of Fulcio's issuer extensions, as Fulcio issues them, and any
// extra extensions.
func (ca *CA) Issue(subject, issuer string, extra ...pkix.Extension) (*Leaf, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	serial, _ := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 120))
	issuerV2, err := asn1.MarshalWithParams(issuer, "utf8")
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		NotBefore:    time.Now().Add(-time.Minute), NotAfter: time.Now().Add(10 * time.Minute),
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageCodeSigning},
		ExtraExtensions: append([]pkix.Extension{
			{Id: OIDIssuerV1, Value: []byte(issuer)},
			{Id: OIDIssuerV2, Value: issuerV2},
		}, extra...),
	}
	if strings.Contains(subject, "://") {
		u, err := url.Parse(subject)
		if err != nil {
			return nil, err
		}
		tmpl.URIs = []*url.URL{u}
	} else {
		tmpl.EmailAddresses = []string{subject}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.Cert, &key.PublicKey, ca.key)
	if err != nil {
		return nil, err
	}
	return &Leaf{DER: der, Key: key}, nil
}

// SignDigest signs a SHA-256 digest with the leaf key (ASN.1 ECDSA).
func (l *Leaf) SignDigest(digest []byte) ([]byte, error) {
	return l.Key.Sign(rand.Reader, digest, crypto.SHA256)
}

// HashedRekordV2 returns the canonical body Rekor v2 (and Hallmark's
// rekor-v2 logs) store for a hashedrekord 0.0.2 entry signed by an ECDSA
// P-256 certificate: protojson of the Entry, canonicalised with RFC 8785.
func HashedRekordV2(certDER, digest, sig []byte) []byte {
	b64 := base64.StdEncoding.EncodeToString
	return fmt.Appendf(nil, `{"apiVersion":"0.0.2","kind":"hashedrekord","spec":{"hashedRekordV002":{"data":{"algorithm":"SHA2_256","digest":"%s"},"signature":{"content":"%s","verifier":{"keyDetails":"PKIX_ECDSA_P256_SHA_256","x509Certificate":{"rawBytes":"%s"}}}}}}`,
		b64(digest), b64(sig), b64(certDER))
}

// SignedEntry makes a hashedrekord 0.0.2 body for artifact signed by leaf.
func SignedEntry(leaf *Leaf, artifact []byte) ([]byte, error) {
	digest := sha256.Sum256(artifact)
	sig, err := leaf.SignDigest(digest[:])
	if err != nil {
		return nil, err
	}
	return HashedRekordV2(leaf.DER, digest[:], sig), nil
}

// CIExtensions returns extensions like those Fulcio adds to a certificate
// for a CI workflow (build signer, source repository, commit, trigger, run
// URL... as DER UTF8Strings, 1.3.6.1.4.1.57264.1.9 to .21) and an embedded
// SCT list of the usual size: realistic certificate sizes for benchmarks.
func CIExtensions(repo, workflow string) []pkix.Extension {
	values := []string{
		"https://git.example/" + repo + "/" + workflow + "@refs/heads/main", // 9 build signer URI
		"0123456789abcdef0123456789abcdef01234567",                          // 10 build signer digest
		"hosted",                      // 11 runner environment
		"https://git.example/" + repo, // 12 source repository URI
		"89abcdef0123456789abcdef0123456789abcdef", // 13 source repository digest
		"refs/heads/main",                          // 14 source repository ref
		"123456789",                                // 15 source repository identifier
		"https://git.example/" + repo[:max(1, len(repo)/2)], // 16 owner URI
		"987654321", // 17 owner identifier
		"https://git.example/" + repo + "/" + workflow + "@refs/heads/main", // 18 build config URI
		"0123456789abcdef0123456789abcdef01234567",                          // 19 build config digest
		"push", // 20 build trigger
		"https://git.example/" + repo + "/actions/runs/123456789/attempts/1", // 21 run invocation URI
	}
	var out []pkix.Extension
	for i, v := range values {
		der, _ := asn1.MarshalWithParams(v, "utf8")
		out = append(out, pkix.Extension{Id: asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 57264, 1, 9 + i}, Value: der})
	}
	sct := make([]byte, 122) // an SCT list holding one SCT
	rand.Read(sct)
	sctDER, _ := asn1.Marshal(sct)
	return append(out, pkix.Extension{Id: asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 11129, 2, 4, 2}, Value: sctDER})
}

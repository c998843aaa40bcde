package ca

import (
	"bytes"
	"crypto"
	"crypto/rand"
	"crypto/sha1"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"os"
	"time"

	"github.com/hallmark-dev/hallmark/tlog/format"
)

// VerifyChain checks a CA chain [issuing CA, intermediates..., root] the
// way Fulcio does at startup, plus the failure clients hit most often:
//   - it is non-empty and its last certificate is a self-signed CA;
//   - every certificate is a CA allowed to sign certificates, and is
//     signed by the next one;
//   - the issuing CA verifies up to the root for EKU codeSigning, so every
//     CA certificate that lists EKUs includes codeSigning (Go clients
//     chain EKUs; a missing one fails with "incompatible key usage");
//   - it is valid now (now defaults to time.Now).
func VerifyChain(chain []*x509.Certificate, now func() time.Time) error {
	if len(chain) == 0 {
		return errors.New("CA chain is empty")
	}
	if now == nil {
		now = time.Now
	}
	root := chain[len(chain)-1]
	if !bytes.Equal(root.RawIssuer, root.RawSubject) || root.CheckSignatureFrom(root) != nil {
		return fmt.Errorf("CA chain: last certificate (%s) is not a self-signed root", root.Subject)
	}
	for i, c := range chain {
		if !c.IsCA || !c.BasicConstraintsValid {
			return fmt.Errorf("CA chain: certificate %d (%s) is not a CA", i, c.Subject)
		}
		if c.KeyUsage&x509.KeyUsageCertSign == 0 {
			return fmt.Errorf("CA chain: certificate %d (%s) lacks key usage certSign", i, c.Subject)
		}
		if i+1 < len(chain) {
			if err := c.CheckSignatureFrom(chain[i+1]); err != nil {
				return fmt.Errorf("CA chain: certificate %d (%s) is not signed by the next one: %w", i, c.Subject, err)
			}
		}
	}
	roots, inter := x509.NewCertPool(), x509.NewCertPool()
	roots.AddCert(root)
	if len(chain) > 2 {
		for _, c := range chain[1 : len(chain)-1] {
			inter.AddCert(c)
		}
	}
	if _, err := chain[0].Verify(x509.VerifyOptions{
		Roots: roots, Intermediates: inter, CurrentTime: now(),
		KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageCodeSigning},
	}); err != nil {
		return fmt.Errorf("CA chain does not verify for code signing: %w", err)
	}
	return nil
}

// ParseChainPEM parses a PEM bundle of certificates, in file order.
func ParseChainPEM(data []byte) ([]*x509.Certificate, error) {
	return format.ParseCertificatesPEM(data)
}

// LoadChain reads a PEM chain file: issuing CA first, root last.
func LoadChain(path string) ([]*x509.Certificate, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading CA chain: %w", err)
	}
	chain, err := ParseChainPEM(data)
	if err != nil {
		return nil, fmt.Errorf("CA chain %s: %w", path, err)
	}
	return chain, nil
}

// EncodeChainPEM encodes certificates as a PEM bundle, in order.
func EncodeChainPEM(chain []*x509.Certificate) []byte {
	var b bytes.Buffer
	for _, c := range chain {
		pem.Encode(&b, &pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})
	}
	return b.Bytes()
}

// CertTemplate names a CA certificate to create.
type CertTemplate struct {
	Organization string
	CommonName   string
	Validity     time.Duration
	// NotBefore defaults to now minus 5 minutes, for clock skew.
	NotBefore time.Time
}

// CreateRoot creates a self-signed root CA certificate for key: CA:TRUE
// without path length limit, KU certSign+crlSign, no EKU, random 159-bit
// serial, SKID set. Typical validity: 10 years.
func CreateRoot(key crypto.Signer, t CertTemplate) (*x509.Certificate, error) {
	tmpl, err := caTemplate(key.Public(), t)
	if err != nil {
		return nil, err
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		return nil, fmt.Errorf("signing root certificate: %w", err)
	}
	return x509.ParseCertificate(der)
}

// CreateIntermediate creates an intermediate CA certificate for pub signed
// by parent/parentKey: CA:TRUE with path length 0, KU certSign+crlSign,
// EKU codeSigning (required by clients that chain EKUs), and a validity
// clipped to the parent's. Typical validity: 3 years.
func CreateIntermediate(pub crypto.PublicKey, t CertTemplate, parent *x509.Certificate, parentKey crypto.Signer) (*x509.Certificate, error) {
	tmpl, err := caTemplate(pub, t)
	if err != nil {
		return nil, err
	}
	tmpl.MaxPathLen, tmpl.MaxPathLenZero = 0, true
	tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageCodeSigning}
	if tmpl.NotAfter.After(parent.NotAfter) {
		tmpl.NotAfter = parent.NotAfter
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, pub, parentKey)
	if err != nil {
		return nil, fmt.Errorf("signing intermediate certificate: %w", err)
	}
	return x509.ParseCertificate(der)
}

func caTemplate(pub crypto.PublicKey, t CertTemplate) (*x509.Certificate, error) {
	if t.CommonName == "" || t.Organization == "" {
		return nil, errors.New("CA certificates need a common name and an organization")
	}
	if t.Validity <= 0 {
		return nil, errors.New("CA certificate validity must be positive")
	}
	if err := ValidatePublicKey(pub); err != nil {
		return nil, fmt.Errorf("CA key: %w", err)
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 159))
	if err != nil {
		return nil, err
	}
	spki, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return nil, err
	}
	var info struct {
		Algorithm pkix.AlgorithmIdentifier
		PublicKey asn1.BitString
	}
	if _, err := asn1.Unmarshal(spki, &info); err != nil {
		return nil, err
	}
	skid := sha1.Sum(info.PublicKey.Bytes)
	nb := t.NotBefore
	if nb.IsZero() {
		nb = time.Now().Add(-5 * time.Minute)
	}
	return &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{Organization: []string{t.Organization}, CommonName: t.CommonName},
		NotBefore:             nb,
		NotAfter:              nb.Add(t.Validity),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
		SubjectKeyId:          skid[:],
	}, nil
}

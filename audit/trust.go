package audit

import (
	"crypto"
	"crypto/x509"
	"encoding/asn1"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"

	prototrustroot "github.com/sigstore/protobuf-specs/gen/pb-go/trustroot/v1"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/hallmark-dev/hallmark/tlog/format"
)

var oidCTPoison = asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 11129, 2, 4, 3}

// TrustedLog is a transparency log listed in a trusted_root.json.
type TrustedLog struct {
	BaseURL string
	Key     crypto.PublicKey
	// LogID is the log's ID: SHA-256 of the DER key for Rekor v1 logs, the
	// C2SP note key hash (which commits to the origin) for Rekor v2 logs.
	LogID []byte
}

// TrustedRoot is the part of a Sigstore trusted_root.json an auditor needs:
// the transparency logs and their keys, and the certificate authorities.
type TrustedRoot struct {
	Tlogs []TrustedLog
	// CAs holds the certificate authorities' chains, issuing certificate
	// first, root last.
	CAs [][]*x509.Certificate
}

// VerifyCertificate reports whether a code-signing certificate chains to
// one of the trusted certificate authorities, at the time it was issued
// (Fulcio certificates live ten minutes).
func (t *TrustedRoot) VerifyCertificate(der []byte) error {
	c, err := x509.ParseCertificate(der)
	if err != nil {
		return err
	}
	// A CT precertificate is the certificate to be, with a critical poison
	// extension crypto/x509 does not know: its chain is the same.
	c.UnhandledCriticalExtensions = slices.DeleteFunc(c.UnhandledCriticalExtensions, func(oid asn1.ObjectIdentifier) bool {
		return oid.Equal(oidCTPoison)
	})
	var last error = errors.New("the trusted root lists no certificate authorities")
	for _, chain := range t.CAs {
		roots, inter := x509.NewCertPool(), x509.NewCertPool()
		roots.AddCert(chain[len(chain)-1])
		for _, ic := range chain[:len(chain)-1] {
			inter.AddCert(ic)
		}
		_, last = c.Verify(x509.VerifyOptions{Roots: roots, Intermediates: inter, CurrentTime: c.NotBefore,
			KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageCodeSigning}})
		if last == nil {
			return nil
		}
	}
	return last
}

// LoadTrustedRoot reads a trusted_root.json (Sigstore protobuf-specs
// TrustedRoot, any media type version).
func LoadTrustedRoot(path string) (*TrustedRoot, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("couldn't read trusted root: %w", err)
	}
	return ParseTrustedRoot(raw)
}

// ParseTrustedRoot parses a trusted_root.json.
func ParseTrustedRoot(raw []byte) (*TrustedRoot, error) {
	var tr prototrustroot.TrustedRoot
	if err := (protojson.UnmarshalOptions{DiscardUnknown: true}).Unmarshal(raw, &tr); err != nil {
		return nil, fmt.Errorf("invalid trusted root: %w", err)
	}
	out := &TrustedRoot{}
	for i, tl := range tr.GetTlogs() {
		pub, err := x509.ParsePKIXPublicKey(tl.GetPublicKey().GetRawBytes())
		if err != nil {
			return nil, fmt.Errorf("trusted root tlogs[%d] (%s): invalid public key: %w", i, tl.GetBaseUrl(), err)
		}
		out.Tlogs = append(out.Tlogs, TrustedLog{BaseURL: tl.GetBaseUrl(), Key: pub, LogID: tl.GetLogId().GetKeyId()})
	}
	for i, ca := range tr.GetCertificateAuthorities() {
		var chain []*x509.Certificate
		for _, c := range ca.GetCertChain().GetCertificates() {
			cert, err := x509.ParseCertificate(c.GetRawBytes())
			if err != nil {
				return nil, fmt.Errorf("trusted root certificateAuthorities[%d] (%s): %w", i, ca.GetUri(), err)
			}
			chain = append(chain, cert)
		}
		if len(chain) > 0 {
			out.CAs = append(out.CAs, chain)
		}
	}
	if len(out.Tlogs) == 0 {
		return nil, errors.New("the trusted root lists no transparency logs")
	}
	return out, nil
}

// ByLogID returns the log with the given ID.
func (t *TrustedRoot) ByLogID(id []byte) (*TrustedLog, error) {
	for i := range t.Tlogs {
		if string(t.Tlogs[i].LogID) == string(id) {
			return &t.Tlogs[i], nil
		}
	}
	return nil, fmt.Errorf("log ID %s is not in the trusted root", hex.EncodeToString(id))
}

// ByURL returns the log whose base URL is u (ignoring a trailing slash).
func (t *TrustedRoot) ByURL(u string) (*TrustedLog, error) {
	norm := func(s string) string { return strings.TrimSuffix(s, "/") }
	for i := range t.Tlogs {
		if norm(t.Tlogs[i].BaseURL) == norm(u) {
			return &t.Tlogs[i], nil
		}
	}
	return nil, fmt.Errorf("no log with base URL %s in the trusted root", u)
}

// LoadPublicKey reads a PEM public key (PKIX "PUBLIC KEY").
func LoadPublicKey(path string) (crypto.PublicKey, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("couldn't read public key: %w", err)
	}
	pub, err := format.ParsePublicKeyPEM(raw)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return pub, nil
}

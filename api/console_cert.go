package api

// Certificate decoding for the console's entry page. What is decoded here
// is for display: the browser proves the entry's bytes included, not what
// this code reads out of them (docs/auditing.md).

import (
	"crypto/sha256"
	"crypto/x509"
	"encoding/asn1"
	"encoding/hex"
	"errors"
	"fmt"
	"time"
	"unicode/utf8"

	"golang.org/x/crypto/cryptobyte"

	"github.com/hallmark-dev/hallmark/audit"
)

// consoleCert is a decoded signing certificate.
type consoleCert struct {
	Subject    string       `json:"subject"`
	Issuer     string       `json:"issuer"`
	Serial     string       `json:"serial"`
	SANs       []string     `json:"sans"`
	OIDCIssuer string       `json:"oidc_issuer,omitempty"`
	NotBefore  time.Time    `json:"not_before"`
	NotAfter   time.Time    `json:"not_after"`
	SHA256     string       `json:"sha256"`
	Extensions []consoleExt `json:"extensions"`
	SCTs       []consoleSCT `json:"scts"`
	Precert    bool         `json:"precert,omitempty"`
	Error      string       `json:"error,omitempty"`
}

// consoleExt is one Fulcio extension (1.3.6.1.4.1.57264.1.*).
type consoleExt struct {
	OID   string `json:"oid"`
	Name  string `json:"name"`
	Value string `json:"value"`
}

// consoleSCT is one embedded signed certificate timestamp. Log names the
// CT log of this server whose ID it carries, if any.
type consoleSCT struct {
	LogID     string    `json:"log_id"`
	Log       string    `json:"log,omitempty"`
	Timestamp time.Time `json:"timestamp"`
}

// fulcioExtensions names Fulcio's certificate extensions
// (github.com/sigstore/fulcio docs/oid-info.md). Arc 1 to 6 hold raw
// strings, 8 and above DER UTF8Strings.
var fulcioExtensions = map[int]string{
	1: "Issuer (deprecated)", 2: "GitHub Workflow Trigger (deprecated)", 3: "GitHub Workflow SHA (deprecated)",
	4: "GitHub Workflow Name (deprecated)", 5: "GitHub Workflow Repository (deprecated)", 6: "GitHub Workflow Ref (deprecated)",
	7: "OtherName SAN", 8: "Issuer", 9: "Build Signer URI", 10: "Build Signer Digest", 11: "Runner Environment",
	12: "Source Repository URI", 13: "Source Repository Digest", 14: "Source Repository Ref",
	15: "Source Repository Identifier", 16: "Source Repository Owner URI", 17: "Source Repository Owner Identifier",
	18: "Build Config URI", 19: "Build Config Digest", 20: "Build Trigger", 21: "Run Invocation URI",
	22: "Source Repository Visibility At Signing", 23: "Deployment Environment",
}

var (
	oidFulcioArc = asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 57264, 1}
	oidSCTList   = asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 11129, 2, 4, 2}
)

// entryCertificates returns the DER certificates of a Rekor v1 or v2 entry.
func entryCertificates(body []byte) ([][]byte, error) {
	ders, err := audit.EntryCertificates(body)
	if err != nil {
		return nil, fmt.Errorf("couldn't read the entry's certificates: %w", err)
	}
	return ders, nil
}

// certificateIdentity returns the identity a certificate names: its SANs
// and OIDC issuer (Fulcio's extensions), or, for a certificate those
// cannot be read from, its email and URI SANs as x509 parses them.
func certificateIdentity(der []byte) (sans []string, issuer string) {
	if id, err := audit.CertificateIdentity(der); err == nil {
		return id.Subjects, id.Issuer
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, ""
	}
	sans = append(sans, cert.EmailAddresses...)
	for _, u := range cert.URIs {
		sans = append(sans, u.String())
	}
	return sans, ""
}

// decodeCertificate decodes der for display. A precertificate's
// TBSCertificate (CT precert entries) is decoded as far as x509 goes.
func (c *console) decodeCertificate(der []byte) (*consoleCert, error) {
	sum := sha256.Sum256(der)
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("couldn't parse certificate %x: %w", sum[:8], err)
	}
	cc := &consoleCert{Subject: cert.Subject.String(), Issuer: cert.Issuer.String(), Serial: hex.EncodeToString(cert.SerialNumber.Bytes()),
		NotBefore: cert.NotBefore.UTC(), NotAfter: cert.NotAfter.UTC(), SHA256: hex.EncodeToString(sum[:]),
		SANs: []string{}, Extensions: []consoleExt{}, SCTs: []consoleSCT{}}
	if id, err := audit.CertificateIdentity(der); err == nil {
		cc.SANs, cc.OIDCIssuer = id.Subjects, id.Issuer
	} else {
		cc.SANs = append(cc.SANs, cert.EmailAddresses...)
		for _, u := range cert.URIs {
			cc.SANs = append(cc.SANs, u.String())
		}
		cc.Error = err.Error()
	}
	for _, ext := range cert.Extensions {
		switch {
		case len(ext.Id) == len(oidFulcioArc)+1 && ext.Id[:len(oidFulcioArc)].Equal(oidFulcioArc):
			arc := ext.Id[len(oidFulcioArc)]
			name, ok := fulcioExtensions[arc]
			if !ok {
				name = "Fulcio extension"
			}
			cc.Extensions = append(cc.Extensions, consoleExt{OID: ext.Id.String(), Name: name, Value: extensionText(arc, ext.Value)})
		case ext.Id.Equal(oidSCTList):
			scts, err := c.parseSCTList(ext.Value)
			if err != nil {
				cc.Error = err.Error()
			}
			cc.SCTs = scts
		}
	}
	return cc, nil
}

// extensionText renders a Fulcio extension value.
func extensionText(arc int, value []byte) string {
	if arc >= 8 {
		var s string
		if rest, err := asn1.UnmarshalWithParams(value, &s, "utf8"); err == nil && len(rest) == 0 {
			return s
		}
	}
	if utf8.Valid(value) {
		return string(value)
	}
	return hex.EncodeToString(value)
}

// parseSCTList reads an embedded SignedCertificateTimestampList (RFC 6962
// §3.3): an OCTET STRING holding a TLS vector of TLS-encoded SCTs.
func (c *console) parseSCTList(value []byte) ([]consoleSCT, error) {
	var octets []byte
	if rest, err := asn1.Unmarshal(value, &octets); err != nil || len(rest) != 0 {
		return nil, errors.New("SCT list extension is not an OCTET STRING")
	}
	s := cryptobyte.String(octets)
	var list cryptobyte.String
	if !s.ReadUint16LengthPrefixed(&list) || !s.Empty() {
		return nil, errors.New("malformed SCT list")
	}
	out := []consoleSCT{}
	for !list.Empty() {
		var sct cryptobyte.String
		var version uint8
		var logID []byte
		var ts uint64
		if !list.ReadUint16LengthPrefixed(&sct) || !sct.ReadUint8(&version) || !sct.ReadBytes(&logID, 32) || !sct.ReadUint64(&ts) {
			return out, errors.New("malformed SCT")
		}
		entry := consoleSCT{LogID: hex.EncodeToString(logID), Timestamp: time.UnixMilli(int64(ts)).UTC()}
		entry.Log = c.ctLogIDs[[32]byte(logID)]
		out = append(out, entry)
	}
	return out, nil
}

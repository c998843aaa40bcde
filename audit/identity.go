package audit

import (
	"bytes"
	"encoding/asn1"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"

	"golang.org/x/crypto/cryptobyte"
	cbasn1 "golang.org/x/crypto/cryptobyte/asn1"

	"github.com/hallmark-dev/hallmark/tlog/format"
)

// Identity is who a Fulcio-style code-signing certificate was issued to.
type Identity struct {
	// Subjects are the certificate's subject alternative names: e-mail
	// addresses, URIs, DNS names, and Fulcio's otherName user names.
	Subjects []string
	// Issuer is the OIDC issuer that vouched for the identity: Fulcio's
	// extension 1.3.6.1.4.1.57264.1.8 (a DER UTF8String), else the
	// deprecated 1.3.6.1.4.1.57264.1.1 (raw bytes).
	Issuer string

	// The certificate, as DER or base64 DER, when read by EntryIdentities.
	der, b64 []byte
}

// Certificate returns the DER certificate the identity was read from (by
// EntryIdentities), or nil.
func (id *Identity) Certificate() ([]byte, error) {
	if id.der != nil || id.b64 == nil {
		return id.der, nil
	}
	return base64.StdEncoding.DecodeString(string(id.b64))
}

var (
	oidSAN            = derOID(asn1.ObjectIdentifier{2, 5, 29, 17})
	oidIssuerV1       = derOID(asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 57264, 1, 1})
	oidIssuerV2       = derOID(asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 57264, 1, 8})
	oidFulcioUsername = derOID(asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 57264, 1, 7})
)

// derOID returns the content octets of an OID's DER encoding, which is what
// certificate parsing compares against without allocating.
func derOID(oid asn1.ObjectIdentifier) string {
	der, err := asn1.Marshal(oid)
	if err != nil {
		panic(err)
	}
	return string(der[2:])
}

var errNotCertificate = errors.New("not a DER X.509 certificate")

// CertificateIdentity reads the subject alternative names and the OIDC
// issuer of a DER certificate. It walks the DER directly instead of
// parsing the whole certificate (keys, signatures, every extension): a
// monitor scans millions of them. It does not verify anything.
func CertificateIdentity(der []byte) (Identity, error) {
	var id Identity
	input := cryptobyte.String(der)
	var cert, tbs cryptobyte.String
	if !input.ReadASN1(&cert, cbasn1.SEQUENCE) || !cert.ReadASN1(&tbs, cbasn1.SEQUENCE) {
		return id, errNotCertificate
	}
	if !tbs.SkipOptionalASN1(cbasn1.Tag(0).Constructed().ContextSpecific()) || // version
		!tbs.SkipASN1(cbasn1.INTEGER) || // serial number
		!tbs.SkipASN1(cbasn1.SEQUENCE) || // signature algorithm
		!tbs.SkipASN1(cbasn1.SEQUENCE) || // issuer
		!tbs.SkipASN1(cbasn1.SEQUENCE) || // validity
		!tbs.SkipASN1(cbasn1.SEQUENCE) || // subject
		!tbs.SkipASN1(cbasn1.SEQUENCE) || // subject public key info
		!tbs.SkipOptionalASN1(cbasn1.Tag(1).ContextSpecific()) || // issuerUniqueID
		!tbs.SkipOptionalASN1(cbasn1.Tag(2).ContextSpecific()) { // subjectUniqueID
		return id, errNotCertificate
	}
	var extsOuter, exts cryptobyte.String
	var present bool
	if !tbs.ReadOptionalASN1(&extsOuter, &present, cbasn1.Tag(3).Constructed().ContextSpecific()) {
		return id, errNotCertificate
	}
	if !present {
		return id, nil
	}
	if !extsOuter.ReadASN1(&exts, cbasn1.SEQUENCE) {
		return id, errNotCertificate
	}
	var issuerV1 string
	for !exts.Empty() {
		var ext, oid cryptobyte.String
		var value []byte
		if !exts.ReadASN1(&ext, cbasn1.SEQUENCE) || !ext.ReadASN1(&oid, cbasn1.OBJECT_IDENTIFIER) ||
			!ext.SkipOptionalASN1(cbasn1.BOOLEAN) || !ext.ReadASN1Bytes(&value, cbasn1.OCTET_STRING) {
			return id, fmt.Errorf("%w: malformed extension", errNotCertificate)
		}
		if err := id.addExtension(string(oid), value, &issuerV1); err != nil {
			return id, err
		}
	}
	if id.Issuer == "" {
		id.Issuer = issuerV1
	}
	return id, nil
}

// addExtension records what a Fulcio certificate extension says of the
// identity: SAN subjects, the issuer (v2, a DER UTF8String) or the legacy
// raw issuer (v1) into issuerV1. Other extensions are ignored.
func (id *Identity) addExtension(oid string, value []byte, issuerV1 *string) error {
	switch oid {
	case oidSAN:
		subjects, err := generalNames(value)
		if err != nil {
			return err
		}
		id.Subjects = append(id.Subjects, subjects...)
	case oidIssuerV2:
		issuer, err := utf8StringValue(value)
		if err != nil {
			return err
		}
		id.Issuer = issuer
	case oidIssuerV1:
		*issuerV1 = string(value)
	}
	return nil
}

// utf8StringValue reads an extension value that is a DER UTF8String.
func utf8StringValue(value []byte) (string, error) {
	s := cryptobyte.String(value)
	var utf8 []byte
	if !s.ReadASN1Bytes(&utf8, cbasn1.UTF8String) || !s.Empty() {
		return "", fmt.Errorf("%w: OIDC issuer extension is not a UTF8String", errNotCertificate)
	}
	return string(utf8), nil
}

// generalNames reads the names of a subjectAltName extension value.
func generalNames(value []byte) ([]string, error) {
	outer := cryptobyte.String(value)
	var names cryptobyte.String
	if !outer.ReadASN1(&names, cbasn1.SEQUENCE) {
		return nil, fmt.Errorf("%w: malformed subject alternative names", errNotCertificate)
	}
	var out []string
	for !names.Empty() {
		var name cryptobyte.String
		var tag cbasn1.Tag
		if !names.ReadAnyASN1(&name, &tag) {
			return nil, fmt.Errorf("%w: malformed subject alternative name", errNotCertificate)
		}
		switch tag {
		case cbasn1.Tag(1).ContextSpecific(), // rfc822Name
			cbasn1.Tag(2).ContextSpecific(), // dNSName
			cbasn1.Tag(6).ContextSpecific(): // uniformResourceIdentifier
			out = append(out, string(name))
		case cbasn1.Tag(0).Constructed().ContextSpecific(): // otherName
			var typeID, explicit cryptobyte.String
			var v []byte
			if name.ReadASN1(&typeID, cbasn1.OBJECT_IDENTIFIER) && string(typeID) == oidFulcioUsername &&
				name.ReadASN1(&explicit, cbasn1.Tag(0).Constructed().ContextSpecific()) &&
				explicit.ReadASN1Bytes(&v, cbasn1.UTF8String) {
				out = append(out, string(v))
			}
		}
	}
	return out, nil
}

// v2CertPrefix starts the certificate of a Rekor v2 verifier in a canonical
// (RFC 8785) entry body: keys are sorted, so x509Certificate holds only
// rawBytes, the base64 DER.
var v2CertPrefix = []byte(`"x509Certificate":{"rawBytes":"`)

// EntryCertificates returns the DER certificates that verify the
// signatures of a log entry: Rekor v2 hashedrekord and dsse 0.0.2 bodies
// (x509Certificate verifiers), and Rekor v1 hashedrekord, dsse and intoto
// bodies (PEM certificates; the first of a chain is the signer's). Entries
// signed with bare public keys have none. Other entries (e.g. a plain
// tiles log's) yield nothing and no error.
func EntryCertificates(body []byte) ([][]byte, error) {
	switch {
	case isV2Body(body):
		return v2Certificates(body)
	case bytes.HasPrefix(body, []byte(`{"apiVersion":"0.0.`)):
		return v1Certificates(body)
	}
	return nil, nil
}

// isV2Body reports whether body is a canonical Rekor v2 entry.
func isV2Body(body []byte) bool {
	return bytes.Contains(body, []byte(`"spec":{"hashedRekordV002":`)) || bytes.Contains(body, []byte(`"spec":{"dsseV002":`))
}

// v2Certificates finds every x509Certificate verifier of a canonical Rekor
// v2 body. A quote inside a JSON string is escaped, so the pattern cannot
// occur inside a string value.
func v2Certificates(body []byte) ([][]byte, error) {
	var out [][]byte
	for {
		i := bytes.Index(body, v2CertPrefix)
		if i < 0 {
			return out, nil
		}
		body = body[i+len(v2CertPrefix):]
		end := bytes.IndexByte(body, '"')
		if end < 0 {
			return nil, errors.New("unterminated x509Certificate in entry")
		}
		der := make([]byte, base64.StdEncoding.DecodedLen(end))
		n, err := base64.StdEncoding.Decode(der, body[:end])
		if err != nil {
			return nil, fmt.Errorf("x509Certificate is not base64: %w", err)
		}
		out = append(out, der[:n])
		body = body[end:]
	}
}

// v1Body is the union of the Rekor v1 canonical bodies that carry keys:
// hashedrekord (spec.signature.publicKey.content), dsse
// (spec.signatures[].verifier), intoto 0.0.1 (spec.publicKey) and 0.0.2
// (spec.content.envelope.signatures[].publicKey); each a base64 PEM.
type v1Body struct {
	Kind string `json:"kind"`
	Spec struct {
		Signature *struct {
			PublicKey struct {
				Content []byte `json:"content"`
			} `json:"publicKey"`
		} `json:"signature"`
		Signatures []struct {
			Verifier []byte `json:"verifier"`
		} `json:"signatures"`
		PublicKey []byte `json:"publicKey"`
		Content   *struct {
			Envelope *struct {
				Signatures []struct {
					PublicKey []byte `json:"publicKey"`
				} `json:"signatures"`
			} `json:"envelope"`
		} `json:"content"`
	} `json:"spec"`
}

func v1Certificates(body []byte) ([][]byte, error) {
	var b v1Body
	if err := json.Unmarshal(body, &b); err != nil {
		return nil, fmt.Errorf("invalid Rekor v1 entry: %w", err)
	}
	var pems [][]byte
	switch b.Kind {
	case "hashedrekord":
		if b.Spec.Signature != nil {
			pems = append(pems, b.Spec.Signature.PublicKey.Content)
		}
	case "dsse":
		for _, s := range b.Spec.Signatures {
			pems = append(pems, s.Verifier)
		}
	case "intoto":
		pems = append(pems, b.Spec.PublicKey)
		if b.Spec.Content != nil && b.Spec.Content.Envelope != nil {
			for _, s := range b.Spec.Content.Envelope.Signatures {
				pems = append(pems, s.PublicKey)
			}
		}
	}
	var out [][]byte
	for _, p := range pems {
		// The signer's certificate comes first; the rest is its chain.
		if block, _, err := format.DecodePEM(p, format.PEMCertificate); err == nil {
			out = append(out, block.Bytes)
		}
	}
	return out, nil
}

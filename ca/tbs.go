package ca

import (
	"crypto"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"errors"
	"fmt"
	"time"

	"golang.org/x/crypto/cryptobyte"
	cbasn1 "golang.org/x/crypto/cryptobyte/asn1"
)

// Issued certificates are encoded here rather than by
// x509.CreateCertificate, for two costs that dominated issuance with an
// embedded SCT: CreateCertificate encodes through encoding/asn1's
// reflection (about a third of its time), and checks every signature it
// makes (an ECDSA verification costs three signatures), twice per
// certificate with a precertificate. The encoding is the one
// CreateCertificate produces for the templates c.template builds, byte for
// byte (TestTBSMatchesCreateCertificate holds it to that for every SAN kind
// and key type): the Fulcio leaf profile, nothing more.
//
// The signature is checked when the key is outside this process (KMS,
// HSM, PKCS #11), where a fault returns a wrong signature; a key in this
// process's memory (the encrypted key file) produces a valid signature by
// construction. A precertificate's signature is checked by the CT log too,
// whatever the key.

// certificate encodes tmpl (built by c.template; spki is its public key's
// SubjectPublicKeyInfo) with last, if not nil, as its last extension, and
// signs it. The precertificate (last: the poison) and the final
// certificate (last: the SCT list) of one template therefore have the
// TBSCertificates RFC 6962 §3.1 requires: equal but for that extension.
func (c *CA) certificate(tmpl *x509.Certificate, spki []byte, last *pkix.Extension) ([]byte, error) {
	tbs, err := c.encodeTBS(tmpl, spki, last)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrSigner, err)
	}
	sig, err := crypto.SignMessage(c.signer, rand.Reader, tbs, c.sigHash)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrSigner, err)
	}
	if !c.inProcessKey {
		if err := c.chain[0].CheckSignature(c.sigAlg, tbs, sig); err != nil {
			return nil, fmt.Errorf("%w: the signature returned by the CA key is invalid: %w", ErrSigner, err)
		}
	}
	var b cryptobyte.Builder
	b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
		b.AddBytes(tbs)
		b.AddBytes(c.sigAlgID)
		b.AddASN1BitString(sig)
	})
	return b.Bytes()
}

// DER-encoded parts of the profile that never change.
var (
	// KeyUsage, critical: digitalSignature.
	extKeyUsageDigitalSignature = []byte{0x30, 0x0e, 0x06, 0x03, 0x55, 0x1d, 0x0f, 0x01, 0x01, 0xff, 0x04, 0x04, 0x03, 0x02, 0x07, 0x80}
	// ExtendedKeyUsage: codeSigning.
	extExtKeyUsageCodeSigning = []byte{0x30, 0x13, 0x06, 0x03, 0x55, 0x1d, 0x25, 0x04, 0x0c, 0x30, 0x0a,
		0x06, 0x08, 0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x03, 0x03}
	// The empty subject: an RDNSequence of no names.
	emptySubject = []byte{0x30, 0x00}

	oidSubjectKeyID   = asn1.ObjectIdentifier{2, 5, 29, 14}
	oidAuthorityKeyID = asn1.ObjectIdentifier{2, 5, 29, 35}
)

// signatureAlgorithmID returns the DER AlgorithmIdentifier crypto/x509
// writes for alg (RFC 5758, RFC 4055, RFC 8410).
func signatureAlgorithmID(alg x509.SignatureAlgorithm) ([]byte, error) {
	var oid asn1.ObjectIdentifier
	nullParams := false
	switch alg {
	case x509.ECDSAWithSHA256:
		oid = asn1.ObjectIdentifier{1, 2, 840, 10045, 4, 3, 2}
	case x509.ECDSAWithSHA384:
		oid = asn1.ObjectIdentifier{1, 2, 840, 10045, 4, 3, 3}
	case x509.ECDSAWithSHA512:
		oid = asn1.ObjectIdentifier{1, 2, 840, 10045, 4, 3, 4}
	case x509.SHA256WithRSA:
		oid, nullParams = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 1, 11}, true
	case x509.PureEd25519:
		oid = asn1.ObjectIdentifier{1, 3, 101, 112}
	default:
		return nil, fmt.Errorf("unsupported signature algorithm %v", alg)
	}
	var b cryptobyte.Builder
	b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
		b.AddASN1ObjectIdentifier(oid)
		if nullParams {
			b.AddASN1NULL()
		}
	})
	return b.Bytes()
}

// encodeTBS encodes the TBSCertificate of tmpl: version 3, serial, the
// signature algorithm, the issuing CA's subject, the validity, an empty
// subject, spki, then the extensions in crypto/x509's order — key usage,
// extended key usage, subject key ID, authority key ID (the issuing CA's
// subject key ID), the SAN (critical: the subject is empty) unless it is
// among the extra extensions — then tmpl.ExtraExtensions and last.
func (c *CA) encodeTBS(tmpl *x509.Certificate, spki []byte, last *pkix.Extension) ([]byte, error) {
	if tmpl.KeyUsage != x509.KeyUsageDigitalSignature || len(tmpl.ExtKeyUsage) != 1 || tmpl.ExtKeyUsage[0] != x509.ExtKeyUsageCodeSigning ||
		len(tmpl.DNSNames) > 0 || len(tmpl.IPAddresses) > 0 || len(tmpl.EmailAddresses)+len(tmpl.URIs) > 1 || len(tmpl.SubjectKeyId) == 0 {
		return nil, errors.New("the template is not of the Fulcio leaf profile")
	}
	san, err := sanExtension(tmpl)
	if err != nil {
		return nil, err
	}
	var b cryptobyte.Builder
	b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
		b.AddASN1(cbasn1.Tag(0).Constructed().ContextSpecific(), func(b *cryptobyte.Builder) {
			b.AddASN1Int64(2) // v3
		})
		b.AddASN1BigInt(tmpl.SerialNumber)
		b.AddBytes(c.sigAlgID)
		b.AddBytes(c.chain[0].RawSubject)
		b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
			addTime(b, tmpl.NotBefore)
			addTime(b, tmpl.NotAfter)
		})
		b.AddBytes(emptySubject)
		b.AddBytes(spki)
		b.AddASN1(cbasn1.Tag(3).Constructed().ContextSpecific(), func(b *cryptobyte.Builder) {
			b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
				b.AddBytes(extKeyUsageDigitalSignature)
				b.AddBytes(extExtKeyUsageCodeSigning)
				addExtension(b, oidSubjectKeyID, false, func(b *cryptobyte.Builder) {
					b.AddASN1OctetString(tmpl.SubjectKeyId)
				})
				if aki := c.chain[0].SubjectKeyId; len(aki) > 0 {
					addExtension(b, oidAuthorityKeyID, false, func(b *cryptobyte.Builder) {
						b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
							b.AddASN1(cbasn1.Tag(0).ContextSpecific(), func(b *cryptobyte.Builder) { b.AddBytes(aki) })
						})
					})
				}
				if san != nil {
					addExtension(b, oidSAN, true, func(b *cryptobyte.Builder) { b.AddBytes(san) })
				}
				for _, e := range tmpl.ExtraExtensions {
					addExtension(b, e.Id, e.Critical, func(b *cryptobyte.Builder) { b.AddBytes(e.Value) })
				}
				if last != nil {
					addExtension(b, last.Id, last.Critical, func(b *cryptobyte.Builder) { b.AddBytes(last.Value) })
				}
			})
		})
	})
	return b.Bytes()
}

// sanExtension returns the value of the SAN extension crypto/x509 builds
// for tmpl's email address or URI (GeneralNames with one rfc822Name [1] or
// uniformResourceIdentifier [6], IA5 strings), or nil if the SAN is one of
// the extra extensions (an otherName).
func sanExtension(tmpl *x509.Certificate) ([]byte, error) {
	var tag cbasn1.Tag
	var name string
	switch {
	case len(tmpl.EmailAddresses) == 1:
		tag, name = cbasn1.Tag(1).ContextSpecific(), tmpl.EmailAddresses[0]
	case len(tmpl.URIs) == 1:
		tag, name = cbasn1.Tag(6).ContextSpecific(), tmpl.URIs[0].String()
	default:
		return nil, nil
	}
	for i := range len(name) {
		if name[i] >= 0x80 {
			return nil, fmt.Errorf("SAN %q is not an IA5String", name)
		}
	}
	var b cryptobyte.Builder
	b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
		b.AddASN1(tag, func(b *cryptobyte.Builder) { b.AddBytes([]byte(name)) })
	})
	return b.Bytes()
}

// addExtension appends an Extension: SEQUENCE { extnID, critical DEFAULT
// FALSE, extnValue OCTET STRING }.
func addExtension(b *cryptobyte.Builder, id asn1.ObjectIdentifier, critical bool, value cryptobyte.BuilderContinuation) {
	b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
		b.AddASN1ObjectIdentifier(id)
		if critical {
			b.AddASN1Boolean(true)
		}
		b.AddASN1(cbasn1.OCTET_STRING, value)
	})
}

// addTime appends t (UTC, whole seconds) as encoding/asn1 does: UTCTime
// for the years 1950 to 2049, GeneralizedTime otherwise (RFC 5280
// §4.1.2.5).
func addTime(b *cryptobyte.Builder, t time.Time) {
	t = t.UTC()
	if y := t.Year(); y >= 1950 && y < 2050 {
		b.AddASN1UTCTime(t)
	} else {
		b.AddASN1GeneralizedTime(t)
	}
}

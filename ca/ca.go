package ca

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"errors"
	"fmt"
	"log/slog"
	"math/big"
	"net/url"
	"time"
	"unicode/utf8"

	"golang.org/x/crypto/cryptobyte"
	cbasn1 "golang.org/x/crypto/cryptobyte/asn1"

	hsigner "github.com/hallmark-dev/hallmark/internal/signer"
	"github.com/hallmark-dev/hallmark/oidc"
)

// ErrSigner is wrapped around failures of the CA key or of the certificate
// it produced; an API maps it to Internal.
var ErrSigner = errors.New("the CA could not sign the certificate")

// ErrCT is wrapped around SCTProvider failures.
var ErrCT = errors.New("the certificate transparency log did not return an SCT")

// DefaultValidity is the lifetime of issued certificates, as Fulcio's.
const DefaultValidity = 10 * time.Minute

// SCTProvider obtains a signed certificate timestamp for a precertificate
// from a CT log. It is the seam for embedded SCTs; Hallmark's CT log
// provides the implementation.
//
// Contract: PrecertSCT receives the precertificate (DER, carrying the
// critical poison extension) followed by the CA chain up to and including
// the root, and returns one SCT in its RFC 6962 §3.2 TLS encoding
// (SignedCertificateTimestamp). It must return only after the log has
// committed to including the entry. It is called concurrently.
type SCTProvider interface {
	PrecertSCT(ctx context.Context, chain [][]byte) ([]byte, error)
}

// Options configure a CA. The zero value issues 10-minute certificates
// without SCTs.
type Options struct {
	// Validity of issued certificates; default DefaultValidity.
	Validity time.Duration
	// SCTProvider, when set, makes the CA issue a precertificate, obtain an
	// SCT for it and embed the SCT in the final certificate.
	SCTProvider SCTProvider
	// SCTOptional issues a certificate without an SCT (and logs a warning)
	// when SCTProvider or DetachedSCT fails. By default such a failure
	// fails issuance with ErrCT: a certificate without SCT fails
	// verification in cosign and sigstore-go.
	SCTOptional bool
	// DetachedSCT, when set instead of SCTProvider, logs the final
	// certificate and returns its SCT beside it (Certificate.DetachedSCT),
	// as Fulcio does with CAs that cannot embed.
	DetachedSCT DetachedSCTProvider
	// Now is the clock; default time.Now.
	Now func() time.Time
}

// CA issues Fulcio-profile code-signing certificates. It is safe for
// concurrent use if its signer is.
type CA struct {
	signer crypto.Signer
	chain  []*x509.Certificate // [issuing CA, intermediates..., root]
	opts   Options

	// How crypto/x509 signs with signer, and so does certificate
	// (tbs.go): the algorithm, its DER AlgorithmIdentifier, its hash.
	sigAlg   x509.SignatureAlgorithm
	sigAlgID []byte
	sigHash  crypto.Hash // 0 for Ed25519
	// inProcessKey: the key is in this process's memory (see tbs.go).
	inProcessKey bool
}

// Certificate is an issued certificate and the chain a client needs.
type Certificate struct {
	Leaf *x509.Certificate
	// Chain is [issuing CA, intermediates..., root].
	Chain []*x509.Certificate
	// EmbeddedSCT is true when Leaf carries an SCT list extension.
	EmbeddedSCT bool
	// DetachedSCT is a JSON RFC 6962 add-chain response for Leaf, for CT
	// setups that return SCTs out of band. Empty when there is none; the
	// Fulcio API then returns an empty detached SCT, as Fulcio without a
	// CT log does.
	DetachedSCT []byte
}

// New returns a CA that signs with signer under chain ([issuing CA, ...,
// root]). It checks the chain as Fulcio does at startup (see VerifyChain)
// and that the issuing certificate holds signer's public key.
func New(signer crypto.Signer, chain []*x509.Certificate, opts Options) (*CA, error) {
	if err := VerifyChain(chain, opts.Now); err != nil {
		return nil, err
	}
	if !publicKeysEqual(chain[0].PublicKey, signer.Public()) {
		return nil, errors.New("the CA key does not match the issuing certificate (the first certificate of the chain)")
	}
	if opts.Validity == 0 {
		opts.Validity = DefaultValidity
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	c := &CA{signer: signer, chain: chain, opts: opts, inProcessKey: hsigner.InProcess(signer)}
	switch k := signer.Public().(type) {
	case *ecdsa.PublicKey:
		switch k.Curve {
		case elliptic.P256():
			c.sigAlg, c.sigHash = x509.ECDSAWithSHA256, crypto.SHA256
		case elliptic.P384():
			c.sigAlg, c.sigHash = x509.ECDSAWithSHA384, crypto.SHA384
		case elliptic.P521():
			c.sigAlg, c.sigHash = x509.ECDSAWithSHA512, crypto.SHA512
		}
	case *rsa.PublicKey:
		c.sigAlg, c.sigHash = x509.SHA256WithRSA, crypto.SHA256
	case ed25519.PublicKey:
		c.sigAlg = x509.PureEd25519
	}
	if c.sigAlg == x509.UnknownSignatureAlgorithm {
		return nil, fmt.Errorf("unsupported CA key type %T", signer.Public())
	}
	var err error
	if c.sigAlgID, err = signatureAlgorithmID(c.sigAlg); err != nil {
		return nil, err
	}
	return c, nil
}

// Chain returns [issuing CA, ..., root]. The caller must not modify it.
func (c *CA) Chain() []*x509.Certificate { return c.chain }

// Issue certifies pub for id. The caller has verified the identity token
// and the proof of possession of pub's private key.
func (c *CA) Issue(ctx context.Context, id *oidc.Identity, pub crypto.PublicKey) (*Certificate, error) {
	tmpl, spki, err := c.template(id, pub)
	if err != nil {
		return nil, err
	}
	out := &Certificate{Chain: c.chain}
	var der []byte
	if c.opts.SCTProvider != nil {
		switch der, err = c.embedSCT(ctx, tmpl, spki); {
		case err == nil:
			out.EmbeddedSCT = true
		case c.opts.SCTOptional && errors.Is(err, ErrCT):
			slog.WarnContext(ctx, "issuing a certificate without SCT (ct.required is false)", "err", err)
		default:
			return nil, err
		}
	}
	if der == nil {
		if der, err = c.certificate(tmpl, spki, nil); err != nil {
			return nil, err
		}
	}
	// Verify what we serve: certificate has checked the signature of a
	// key outside the process (a faulty HSM or KMS yields an error above,
	// not a bad certificate), and New checked that signer.Public() is the
	// issuing certificate's key. What is left is that the certificate
	// parses as clients will parse it, with the algorithm it was signed
	// with.
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("%w: issued certificate does not parse: %w", ErrSigner, err)
	}
	if leaf.SignatureAlgorithm != c.sigAlg {
		return nil, fmt.Errorf("%w: issued certificate is signed with %v, want %v", ErrSigner, leaf.SignatureAlgorithm, c.sigAlg)
	}
	out.Leaf = leaf
	if c.opts.DetachedSCT != nil && !out.EmbeddedSCT {
		chain := [][]byte{der}
		for _, cert := range c.chain {
			chain = append(chain, cert.Raw)
		}
		sct, err := c.opts.DetachedSCT.CertSCT(ctx, chain)
		switch {
		case err == nil:
			out.DetachedSCT = sct
		case c.opts.SCTOptional:
			slog.WarnContext(ctx, "issuing a certificate without SCT (ct.required is false)", "err", err)
		default:
			return nil, fmt.Errorf("%w: %w", ErrCT, err)
		}
	}
	return out, nil
}

// embedSCT signs tmpl as a precertificate, obtains its SCT and returns the
// final certificate (DER): the same template with the SCT list where the
// precertificate has the poison (RFC 6962 §3.1).
func (c *CA) embedSCT(ctx context.Context, tmpl *x509.Certificate, spki []byte) ([]byte, error) {
	pre, err := c.certificate(tmpl, spki, &pkix.Extension{Id: oidPoison, Critical: true, Value: asn1.NullBytes})
	if err != nil {
		return nil, fmt.Errorf("precertificate: %w", err)
	}
	chain := [][]byte{pre}
	for _, cert := range c.chain {
		chain = append(chain, cert.Raw)
	}
	sct, err := c.opts.SCTProvider.PrecertSCT(ctx, chain)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrCT, err)
	}
	list, err := sctListExtension(sct)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrCT, err)
	}
	return c.certificate(tmpl, spki, &list)
}

// sctListExtension wraps one TLS-encoded SCT into the X.509 SCT list
// extension: OCTET STRING { SignedCertificateTimestampList }.
func sctListExtension(sct []byte) (pkix.Extension, error) {
	var b cryptobyte.Builder
	b.AddUint16LengthPrefixed(func(b *cryptobyte.Builder) {
		b.AddUint16LengthPrefixed(func(b *cryptobyte.Builder) { b.AddBytes(sct) })
	})
	list, err := b.Bytes()
	if err != nil {
		return pkix.Extension{}, err
	}
	v, err := asn1.Marshal(list)
	return pkix.Extension{Id: oidSCTList, Value: v}, err
}

var (
	oidPoison   = asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 11129, 2, 4, 3}
	oidSCTList  = asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 11129, 2, 4, 2}
	oidSAN      = asn1.ObjectIdentifier{2, 5, 29, 17}
	oidFulcio   = asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 57264, 1}
	oidUsername = append(oidFulcio[:len(oidFulcio):len(oidFulcio)], 7)
)

// template builds the leaf: empty subject, one critical SAN, KU
// digitalSignature, EKU codeSigning, validity [now, now+Validity], random
// 159-bit serial, SKID = SHA-1 of the subjectPublicKey, AKI = the issuing
// CA's SKID (written by encodeTBS, as crypto/x509 would), Fulcio
// extensions. It returns the SubjectPublicKeyInfo of pub too.
func (c *CA) template(id *oidc.Identity, pub crypto.PublicKey) (*x509.Certificate, []byte, error) {
	// A name x509 cannot carry exactly is the token's problem, found
	// before any signing (the API checks it earlier still).
	if err := CheckIdentity(id); err != nil {
		return nil, nil, err
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 159))
	if err != nil {
		return nil, nil, fmt.Errorf("%w: serial: %w", ErrSigner, err)
	}
	spki, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: %w", ErrBadPublicKey, err)
	}
	var info struct {
		Algorithm pkix.AlgorithmIdentifier
		PublicKey asn1.BitString
	}
	if _, err := asn1.Unmarshal(spki, &info); err != nil {
		return nil, nil, fmt.Errorf("%w: %w", ErrBadPublicKey, err)
	}
	skid := sha1.Sum(info.PublicKey.Bytes)
	now := c.opts.Now()
	t := &x509.Certificate{
		SerialNumber: serial,
		NotBefore:    now,
		NotAfter:     now.Add(c.opts.Validity),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageCodeSigning},
		SubjectKeyId: skid[:],
		PublicKey:    pub,
	}
	// With an empty subject, crypto/x509 marks the SAN extension critical.
	switch id.SANKind {
	case oidc.SANEmail:
		t.EmailAddresses = []string{id.SAN}
	case oidc.SANURI:
		u, err := url.Parse(id.SAN)
		if err != nil {
			return nil, nil, fmt.Errorf("%w: SAN %q: %w", ErrSigner, id.SAN, err)
		}
		t.URIs = []*url.URL{u}
	case oidc.SANOtherName:
		ext, err := otherNameSAN(id.SAN)
		if err != nil {
			return nil, nil, fmt.Errorf("%w: %w", ErrSigner, err)
		}
		t.ExtraExtensions = append(t.ExtraExtensions, ext)
	default:
		return nil, nil, fmt.Errorf("%w: identity has no SAN", ErrSigner)
	}
	exts, err := renderExtensions(id.Extensions)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: %w", ErrSigner, err)
	}
	t.ExtraExtensions = append(t.ExtraExtensions, exts...)
	return t, spki, nil
}

// otherNameSAN encodes a critical SAN extension holding one otherName of
// type 1.3.6.1.4.1.57264.1.7 with a UTF8String value, as Fulcio's username
// identities carry.
func otherNameSAN(name string) (pkix.Extension, error) {
	type otherName struct {
		ID    asn1.ObjectIdentifier
		Value string `asn1:"utf8,explicit,tag:0"`
	}
	on, err := asn1.MarshalWithParams(otherName{oidUsername, name}, "tag:0")
	if err != nil {
		return pkix.Extension{}, err
	}
	v, err := asn1.Marshal([]asn1.RawValue{{FullBytes: on}})
	return pkix.Extension{Id: oidSAN, Critical: true, Value: v}, err
}

// renderExtensions encodes the Fulcio extensions in Fulcio's order: .1.1 to
// .1.6 as the raw bytes of the string (the deprecated encoding cosign's
// legacy verifier reads), .1.8 onwards as DER UTF8String. Empty values are
// left out; the issuer is mandatory.
func renderExtensions(e oidc.Extensions) ([]pkix.Extension, error) {
	if e.Issuer == "" {
		return nil, errors.New("identity has no issuer")
	}
	var out []pkix.Extension
	raw := func(n int, v string) {
		if v != "" {
			out = append(out, pkix.Extension{Id: fulcioOID(n), Value: []byte(v)})
		}
	}
	var err error
	utf8 := func(n int, v string) {
		if v == "" || err != nil {
			return
		}
		var b []byte
		if b, err = utf8String(v); err == nil {
			out = append(out, pkix.Extension{Id: fulcioOID(n), Value: b})
		}
	}
	raw(1, e.Issuer)
	raw(2, e.GithubWorkflowTrigger)
	raw(3, e.GithubWorkflowSHA)
	raw(4, e.GithubWorkflowName)
	raw(5, e.GithubWorkflowRepository)
	raw(6, e.GithubWorkflowRef)
	utf8(8, e.Issuer)
	utf8(9, e.BuildSignerURI)
	utf8(10, e.BuildSignerDigest)
	utf8(11, e.RunnerEnvironment)
	utf8(12, e.SourceRepositoryURI)
	utf8(13, e.SourceRepositoryDigest)
	utf8(14, e.SourceRepositoryRef)
	utf8(15, e.SourceRepositoryIdentifier)
	utf8(16, e.SourceRepositoryOwnerURI)
	utf8(17, e.SourceRepositoryOwnerIdentifier)
	utf8(18, e.BuildConfigURI)
	utf8(19, e.BuildConfigDigest)
	utf8(20, e.BuildTrigger)
	utf8(21, e.RunInvocationURI)
	utf8(22, e.SourceRepositoryVisibilityAtSigning)
	utf8(23, e.DeploymentEnvironment)
	utf8(24, e.Subject)
	return out, err
}

// utf8String DER-encodes s as an ASN.1 UTF8String, like
// asn1.MarshalWithParams(s, "utf8") without the reflection.
func utf8String(s string) ([]byte, error) {
	if !utf8.ValidString(s) {
		return nil, fmt.Errorf("extension value %q is not valid UTF-8", s)
	}
	var b cryptobyte.Builder
	b.AddASN1(cbasn1.UTF8String, func(b *cryptobyte.Builder) { b.AddBytes([]byte(s)) })
	return b.Bytes()
}

func fulcioOID(n int) asn1.ObjectIdentifier {
	return append(oidFulcio[:len(oidFulcio):len(oidFulcio)], n)
}

func publicKeysEqual(a, b crypto.PublicKey) bool {
	da, err1 := x509.MarshalPKIXPublicKey(a)
	db, err2 := x509.MarshalPKIXPublicKey(b)
	return err1 == nil && err2 == nil && bytes.Equal(da, db)
}

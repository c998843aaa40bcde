package ca

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"strconv"
	"strings"
	"time"

	"github.com/digitorus/timestamp"
	"golang.org/x/crypto/cryptobyte"
	cbasn1 "golang.org/x/crypto/cryptobyte/asn1"

	hsigner "github.com/hallmark-dev/hallmark/internal/signer"
)

// Reasons a time-stamp request is refused. Each is wrapped with details;
// TimestampFailure maps them to the PKIFailureInfo bit of the rejection
// (RFC 3161 section 2.4.2), and the API sends that rejection as the reply.
var (
	// ErrTSABadAlg: the message imprint's hash is unknown, unsupported
	// (only SHA-256, SHA-384 and SHA-512 are accepted) or weak (SHA-1).
	ErrTSABadAlg = errors.New("unsupported hash algorithm")
	// ErrTSABadDataFormat: the request is not a well-formed TimeStampReq
	// (bad DER or JSON, a digest of the wrong length, an oversized nonce).
	ErrTSABadDataFormat = errors.New("malformed time-stamp request")
	// ErrTSABadRequest: the transaction is not permitted or supported
	// (wrong media type, body too large, a TimeStampReq version other
	// than 1).
	ErrTSABadRequest = errors.New("time-stamp request not permitted")
	// ErrTSAVersion: the TimeStampReq's version is not 1. It wraps
	// ErrTSABadRequest: the only request parsing error that does.
	ErrTSAVersion = fmt.Errorf("%w: unsupported TimeStampReq version", ErrTSABadRequest)
	// ErrTSAUnacceptedPolicy: the request names a policy this TSA does not
	// issue under.
	ErrTSAUnacceptedPolicy = errors.New("requested TSA policy is not accepted")
	// ErrTSAUnacceptedExtension: the request carries extensions; this TSA
	// recognises none, and RFC 3161 2.4.2 says to reject unknown ones.
	ErrTSAUnacceptedExtension = errors.New("time-stamp request extensions are not accepted")
)

// TimestampFailure returns the PKIFailureInfo for an error returned by
// ParseTimestampQuery, ParseTimestampJSON or TSA.Timestamp, and a short
// reason for metrics. Errors that are not the client's fault map to
// systemFailure.
func TimestampFailure(err error) (timestamp.FailureInfo, string) {
	switch {
	case errors.Is(err, ErrTSABadAlg):
		return timestamp.BadAlgorithm, "bad_alg"
	case errors.Is(err, ErrTSABadDataFormat):
		return timestamp.BadDataFormat, "bad_data_format"
	case errors.Is(err, ErrTSABadRequest):
		return timestamp.BadRequest, "bad_request"
	case errors.Is(err, ErrTSAUnacceptedPolicy):
		return timestamp.UnacceptedPolicy, "unaccepted_policy"
	case errors.Is(err, ErrTSAUnacceptedExtension):
		return timestamp.UnacceptedExtension, "unaccepted_extension"
	}
	return timestamp.SystemFailure, "system_failure"
}

// RejectionResponse is the DER TimeStampResp with status rejection and
// the failure info TimestampFailure assigns to err.
func RejectionResponse(err error) []byte {
	fi, _ := TimestampFailure(err)
	der, merr := timestamp.CreateErrorResponse(timestamp.Rejection, fi)
	if merr != nil { // cannot happen: a fixed structure
		panic(merr)
	}
	return der
}

// DefaultTSAPolicy is the policy under which timestamps are issued unless
// configured otherwise: the one sigstore's timestamp-authority uses
// (1.3.6.1.4.1.57264.2, under the Sigstore private enterprise number).
// Clients do not check it; operators with their own OID arc should set
// theirs.
var DefaultTSAPolicy = asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 57264, 2}

// maxNonceBytes bounds the nonce: RFC 3161 suggests 64 bits of randomness;
// clients send 64 to 160 bits.
const maxNonceBytes = 64

// errUnknownHash is digitorus/timestamp's message for a hash OID it does
// not know (TestTimestampQueryRejections pins it).
const errUnknownHash = "Time-Stamp request uses unknown hash function"

// ParseTimestampQuery parses a DER TimeStampReq (RFC 3161 2.4.1). It
// never panics; errors wrap ErrTSABadAlg or ErrTSABadDataFormat.
func ParseTimestampQuery(der []byte) (*timestamp.Request, error) {
	req, err := timestamp.ParseRequest(der)
	if err != nil {
		var pe timestamp.ParseError
		if errors.As(err, &pe) && string(pe) == errUnknownHash {
			return nil, fmt.Errorf("%w: the message imprint's algorithm is not SHA-256, SHA-384 or SHA-512", ErrTSABadAlg)
		}
		return nil, fmt.Errorf("%w: %w", ErrTSABadDataFormat, err)
	}
	if err := checkTimestampReqVersion(der); err != nil {
		return nil, err
	}
	return req, nil
}

// checkTimestampReqVersion refuses a TimeStampReq whose version is not v1,
// the only one RFC 3161 defines; digitorus/timestamp reads the field and
// ignores it. A later version could mean fields this TSA would misread,
// so the request is not permitted (badRequest), as for any transaction
// the TSA does not support.
func checkTimestampReqVersion(der []byte) error {
	in := cryptobyte.String(der)
	var req cryptobyte.String
	var v int64
	if !in.ReadASN1(&req, cbasn1.SEQUENCE) || !req.ReadASN1Integer(&v) {
		return fmt.Errorf("%w: the version does not parse", ErrTSABadDataFormat)
	}
	if v != 1 {
		return fmt.Errorf("%w %d: this TSA implements version 1 (RFC 3161 2.4.1)", ErrTSAVersion, v)
	}
	return nil
}

// TimestampJSONRequest is the JSON request form sigstore's
// timestamp-authority accepts (Content-Type application/json).
type TimestampJSONRequest struct {
	ArtifactHash  string   `json:"artifactHash"`  // base64 of the digest
	Certificates  bool     `json:"certificates"`  // certReq
	HashAlgorithm string   `json:"hashAlgorithm"` // sha256, sha384 or sha512
	Nonce         *big.Int `json:"nonce"`
	TSAPolicyOID  string   `json:"tsaPolicyOID"` // dotted, optional
}

// ParseTimestampJSON parses the JSON request form into a request.
func ParseTimestampJSON(body []byte) (*timestamp.Request, error) {
	var j TimestampJSONRequest
	if err := json.Unmarshal(body, &j); err != nil {
		return nil, fmt.Errorf("%w: JSON: %w", ErrTSABadDataFormat, err)
	}
	req := &timestamp.Request{Certificates: j.Certificates, Nonce: j.Nonce}
	switch strings.ToLower(j.HashAlgorithm) {
	case "sha256":
		req.HashAlgorithm = crypto.SHA256
	case "sha384":
		req.HashAlgorithm = crypto.SHA384
	case "sha512":
		req.HashAlgorithm = crypto.SHA512
	default:
		return nil, fmt.Errorf("%w: hashAlgorithm %q (want sha256, sha384 or sha512)", ErrTSABadAlg, j.HashAlgorithm)
	}
	var err error
	if req.HashedMessage, err = base64.StdEncoding.DecodeString(j.ArtifactHash); err != nil {
		return nil, fmt.Errorf("%w: artifactHash is not base64: %w", ErrTSABadDataFormat, err)
	}
	if j.TSAPolicyOID != "" {
		if req.TSAPolicyOID, err = ParseOID(j.TSAPolicyOID); err != nil {
			return nil, fmt.Errorf("%w: tsaPolicyOID: %w", ErrTSABadDataFormat, err)
		}
	}
	return req, nil
}

// ParseOID parses a dotted object identifier such as 1.3.6.1.4.1.57264.2.
func ParseOID(s string) (asn1.ObjectIdentifier, error) {
	parts := strings.Split(s, ".")
	if len(parts) < 2 || len(parts) > 64 {
		return nil, fmt.Errorf("OID %q: want 2 to 64 arcs", s)
	}
	oid := make(asn1.ObjectIdentifier, len(parts))
	for i, p := range parts {
		n, err := strconv.ParseUint(p, 10, 31)
		if err != nil {
			return nil, fmt.Errorf("OID %q: arc %d: %w", s, i, err)
		}
		oid[i] = int(n)
	}
	if oid[0] > 2 || (oid[0] < 2 && oid[1] > 39) {
		return nil, fmt.Errorf("OID %q: invalid first arcs", s)
	}
	return oid, nil
}

// TSAOptions configure a TSA.
type TSAOptions struct {
	// Policy is the TSA policy OID written into every token; default
	// DefaultTSAPolicy.
	Policy asn1.ObjectIdentifier
	// AcceptedPolicies are the policies a request may name besides Policy.
	// A request naming one gets a token under that policy.
	AcceptedPolicies []asn1.ObjectIdentifier
	// Accuracy is the accuracy claimed in tokens; default 1s, 0 < a <= 1h.
	Accuracy time.Duration
	// Now is the clock; default time.Now (the system clock: keep it
	// synchronised with NTP, see docs/tsa.md).
	Now func() time.Time
}

// TSA is an RFC 3161 time-stamping authority: a signing key and the
// certificate chain [TSA leaf, intermediates..., root] that certifies it.
// It is safe for concurrent use; it keeps no state between requests
// (serial numbers are 160 random bits).
type TSA struct {
	signer crypto.Signer
	chain  []*x509.Certificate
	hash   crypto.Hash // signature digest, matched to the key
	opts   TSAOptions
}

// NewTSA checks the chain with VerifyTSAChain and that signer holds the
// leaf's key, issues one token as a self-test and returns the TSA.
func NewTSA(signer crypto.Signer, chain []*x509.Certificate, o TSAOptions) (*TSA, error) {
	if o.Policy == nil {
		o.Policy = DefaultTSAPolicy
	}
	if o.Accuracy == 0 {
		o.Accuracy = time.Second
	}
	if o.Accuracy < 0 || o.Accuracy > time.Hour {
		return nil, fmt.Errorf("TSA accuracy %s: want (0, 1h]", o.Accuracy)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if err := VerifyTSAChain(chain, o.Now()); err != nil {
		return nil, err
	}
	if !publicKeysEqual(signer.Public(), chain[0].PublicKey) {
		return nil, errors.New("TSA key does not match the TSA certificate")
	}
	t := &TSA{signer: signer, chain: chain, opts: o}
	switch k := signer.Public().(type) {
	case *ecdsa.PublicKey:
		t.hash = hsigner.CurveHash(k.Curve)
	case *rsa.PublicKey:
		t.hash = crypto.SHA256
	default:
		return nil, fmt.Errorf("TSA key type %T: want ECDSA or RSA", k)
	}
	// Self-test: a token that does not parse and verify here would not for
	// clients either.
	resp, err := t.Timestamp(&timestamp.Request{HashAlgorithm: crypto.SHA256, HashedMessage: make([]byte, 32), Certificates: true})
	if err != nil {
		return nil, fmt.Errorf("TSA self-test: %w", err)
	}
	if _, err := timestamp.ParseResponse(resp); err != nil {
		return nil, fmt.Errorf("TSA self-test: the token does not verify: %w", err)
	}
	return t, nil
}

// Chain returns [TSA leaf, ..., root].
func (t *TSA) Chain() []*x509.Certificate { return t.chain }

// Policy returns the default policy of issued tokens.
func (t *TSA) Policy() asn1.ObjectIdentifier { return t.opts.Policy }

// Timestamp checks a request and returns a DER TimeStampResp granting it:
// a token over the request's message imprint at the current time, under
// the requested (accepted) policy or the default one, echoing the nonce,
// signed with SigningCertificateV2 (ESSCertIDv2, RFC 5816) naming the TSA
// certificate, which is included when the request sets certReq. Errors
// wrap the sentinels above (client errors) or are system failures.
func (t *TSA) Timestamp(req *timestamp.Request) ([]byte, error) {
	switch req.HashAlgorithm {
	case crypto.SHA256, crypto.SHA384, crypto.SHA512:
	default:
		return nil, fmt.Errorf("%w: %v (want SHA-256, SHA-384 or SHA-512)", ErrTSABadAlg, req.HashAlgorithm)
	}
	if len(req.HashedMessage) != req.HashAlgorithm.Size() {
		return nil, fmt.Errorf("%w: a %v digest is %d bytes, not %d", ErrTSABadDataFormat, req.HashAlgorithm, req.HashAlgorithm.Size(), len(req.HashedMessage))
	}
	if req.Nonce != nil && len(req.Nonce.Bytes()) > maxNonceBytes {
		return nil, fmt.Errorf("%w: nonce longer than %d bytes", ErrTSABadDataFormat, maxNonceBytes)
	}
	if len(req.Extensions) > 0 {
		return nil, fmt.Errorf("%w: %s", ErrTSAUnacceptedExtension, req.Extensions[0].Id)
	}
	policy := t.opts.Policy
	if len(req.TSAPolicyOID) > 0 && !req.TSAPolicyOID.Equal(policy) {
		ok := false
		for _, p := range t.opts.AcceptedPolicies {
			if p.Equal(req.TSAPolicyOID) {
				ok, policy = true, p
				break
			}
		}
		if !ok {
			return nil, fmt.Errorf("%w: %s", ErrTSAUnacceptedPolicy, req.TSAPolicyOID)
		}
	}
	ts := timestamp.Timestamp{
		HashAlgorithm: req.HashAlgorithm,
		HashedMessage: req.HashedMessage,
		// GeneralizedTime must be UTC (RFC 5280 4.1.2.5.2); whole seconds.
		Time:              t.opts.Now().UTC().Truncate(time.Second),
		Accuracy:          t.opts.Accuracy,
		Nonce:             req.Nonce,
		Policy:            policy,
		AddTSACertificate: req.Certificates,
	}
	resp, err := ts.CreateResponseWithOpts(t.chain[0], t.signer, t.hash)
	if err != nil {
		return nil, fmt.Errorf("signing time-stamp token: %w", err)
	}
	return resp, nil
}

// oidTimeStamping is id-kp-timeStamping (RFC 3161 2.3).
var (
	oidExtKeyUsage   = asn1.ObjectIdentifier{2, 5, 29, 37}
	oidTimeStamping  = asn1.ObjectIdentifier{1, 3, 6, 1, 5, 5, 7, 3, 8}
	errTSALeafFormat = errors.New("TSA certificate must be an end-entity certificate whose only extended key usage is timeStamping, marked critical")
)

// VerifyTSAChain checks a TSA chain [leaf, intermediates..., root] the way
// sigstore's timestamp-authority verification will: the leaf is not a CA
// and has exactly one extended key usage, timeStamping, in a critical
// extension (RFC 3161 2.3); the chain verifies at now for timeStamping
// (so every intermediate that lists EKUs includes it); the last
// certificate is a self-signed root.
func VerifyTSAChain(chain []*x509.Certificate, now time.Time) error {
	if len(chain) < 2 {
		return errors.New("TSA chain: want the TSA certificate and at least its root")
	}
	leaf, root := chain[0], chain[len(chain)-1]
	if leaf.IsCA {
		return fmt.Errorf("TSA chain: %w (it is a CA)", errTSALeafFormat)
	}
	critical := false
	for _, e := range leaf.Extensions {
		if e.Id.Equal(oidExtKeyUsage) {
			critical = e.Critical
		}
	}
	if !critical || len(leaf.ExtKeyUsage)+len(leaf.UnknownExtKeyUsage) != 1 || leaf.ExtKeyUsage[0] != x509.ExtKeyUsageTimeStamping {
		return fmt.Errorf("TSA chain: %w", errTSALeafFormat)
	}
	if !bytes.Equal(root.RawIssuer, root.RawSubject) || root.CheckSignatureFrom(root) != nil {
		return fmt.Errorf("TSA chain: last certificate (%s) is not a self-signed root", root.Subject)
	}
	roots, inter := x509.NewCertPool(), x509.NewCertPool()
	roots.AddCert(root)
	for _, c := range chain[1 : len(chain)-1] {
		inter.AddCert(c)
	}
	if _, err := leaf.Verify(x509.VerifyOptions{Roots: roots, Intermediates: inter, CurrentTime: now,
		KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageTimeStamping}}); err != nil {
		return fmt.Errorf("TSA chain does not verify for time stamping: %w", err)
	}
	return nil
}

// CreateTSACertificate creates the TSA's end-entity certificate for pub,
// signed by parent/parentKey (the root, or an intermediate without EKUs
// or with timeStamping): CA:FALSE, KU digitalSignature, the single EKU
// timeStamping in a critical extension, validity clipped to the parent's.
// Typical validity: a few years, as long as tokens must be issued by it.
func CreateTSACertificate(pub crypto.PublicKey, t CertTemplate, parent *x509.Certificate, parentKey crypto.Signer) (*x509.Certificate, error) {
	tmpl, err := caTemplate(pub, t)
	if err != nil {
		return nil, err
	}
	tmpl.IsCA = false
	tmpl.KeyUsage = x509.KeyUsageDigitalSignature
	eku, err := asn1.Marshal([]asn1.ObjectIdentifier{oidTimeStamping})
	if err != nil {
		return nil, err
	}
	// ExtraExtensions, because crypto/x509 writes ExtKeyUsage non-critical.
	tmpl.ExtraExtensions = []pkix.Extension{{Id: oidExtKeyUsage, Critical: true, Value: eku}}
	if tmpl.NotAfter.After(parent.NotAfter) {
		tmpl.NotAfter = parent.NotAfter
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, pub, parentKey)
	if err != nil {
		return nil, fmt.Errorf("signing TSA certificate: %w", err)
	}
	return x509.ParseCertificate(der)
}

// defaultTSACurve is P-256: tokens are signed per request, and P-256
// signs several times faster than P-384.
var defaultTSACurve = elliptic.P256()

package access

import (
	"bytes"
	"context"
	"crypto"
	"crypto/sha256"
	"crypto/x509"
	"encoding/asn1"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/hallmark-dev/hallmark/audit"
	"github.com/hallmark-dev/hallmark/oidc"
	"github.com/hallmark-dev/hallmark/tlog/format"
)

// Writer is who a write is attributed to: the identity per-identity quotas
// key on. Two writes by the same CI identity (a Fulcio certificate, or a
// token, with the same issuer and subject) or the same key have equal
// Writers.
type Writer struct {
	// Kind is "identity" (an OIDC issuer and subject, from a signing
	// certificate or a bearer token), "key" (a bare public key, or a
	// certificate without a Fulcio identity), "client" (a TLS client
	// certificate) or "anonymous".
	Kind string
	// ID is "<issuer> <subject>" for identities and clients, and
	// "sha256:<hex of the DER SubjectPublicKeyInfo>" for keys.
	ID string
}

// String is "<kind>:<id>", a stable key for maps and metrics-free logs.
func (w Writer) String() string { return w.Kind + ":" + w.ID }

// Anonymous is the writer of an entry with no signer and no credentials.
var Anonymous = Writer{Kind: "anonymous"}

// SignerIdentity returns the writer of an entry signed with key, carried
// by chain (leaf first) if the entry has a certificate: the certificate's
// Fulcio identity (OIDC issuer and subject alternative name) when it has
// one, else the key's fingerprint.
func SignerIdentity(key crypto.PublicKey, chain []*x509.Certificate) Writer {
	if len(chain) > 0 {
		if id, err := audit.CertificateIdentity(chain[0].Raw); err == nil && id.Issuer != "" && len(id.Subjects) > 0 {
			return Writer{Kind: "identity", ID: id.Issuer + " " + id.Subjects[0]}
		}
		key = chain[0].PublicKey
	}
	fp, err := KeyFingerprint(key)
	if err != nil {
		return Writer{Kind: "key", ID: "unknown"}
	}
	return Writer{Kind: "key", ID: fp}
}

// KeyFingerprint is "sha256:" and the hex SHA-256 of the key's DER
// SubjectPublicKeyInfo.
func KeyFingerprint(key crypto.PublicKey) (string, error) {
	der, err := x509.MarshalPKIXPublicKey(key)
	if err != nil {
		return "", fmt.Errorf("couldn't encode public key: %w", err)
	}
	h := sha256.Sum256(der)
	return "sha256:" + hex.EncodeToString(h[:]), nil
}

// evaluate applies an identity policy to a certificate identity: it fails
// if any candidate subject is denied, and passes if one candidate
// satisfies the allow-list (Fulcio certificates have exactly one).
func evaluate(p oidc.Policy, issuer string, subjects []string) error {
	if len(p.Allow) == 0 && len(p.Deny) == 0 {
		return nil
	}
	if len(subjects) == 0 {
		subjects = []string{""}
	}
	deny := oidc.Policy{Deny: p.Deny}
	var first error
	for _, s := range subjects {
		claims := map[string]string{"issuer": issuer}
		if s != "" {
			claims["subject"] = s
		}
		if err := deny.Evaluate(claims); err != nil {
			return err
		}
	}
	allow := oidc.Policy{Allow: p.Allow}
	for _, s := range subjects {
		claims := map[string]string{"issuer": issuer}
		if s != "" {
			claims["subject"] = s
		}
		err := allow.Evaluate(claims)
		if err == nil {
			return nil
		}
		if first == nil {
			first = err
		}
	}
	return first
}

// policyText trims oidc's CA wording from a policy refusal.
func policyText(err error) string {
	return strings.TrimPrefix(err.Error(), oidc.ErrPolicyDenied.Error()+": ")
}

// certRule is a compiled CertificatesRule.
type certRule struct {
	rule                 string
	roots, intermediates *x509.CertPool
	policy               oidc.Policy
}

// oidCTPoison is RFC 6962's precertificate poison extension (critical).
var oidCTPoison = asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 11129, 2, 4, 3}

func newCertRule(name string, c *CertificatesRule, path func(string) string) (*certRule, error) {
	certs, err := readPEMCertificates(path(c.RootsFile))
	if err != nil {
		return nil, fmt.Errorf("certificates.roots_file: %w", err)
	}
	r := &certRule{rule: name, roots: x509.NewCertPool(), intermediates: x509.NewCertPool(), policy: c.Identity}
	nroots := 0
	for _, cert := range certs {
		if bytes.Equal(cert.RawIssuer, cert.RawSubject) && cert.CheckSignatureFrom(cert) == nil {
			r.roots.AddCert(cert)
			nroots++
		} else {
			r.intermediates.AddCert(cert)
		}
	}
	if nroots == 0 {
		return nil, fmt.Errorf("certificates.roots_file %s holds no self-signed root", c.RootsFile)
	}
	return r, nil
}

func (r *certRule) name() string { return r.rule }

func (r *certRule) admitSigner(_ crypto.PublicKey, chain []*x509.Certificate, now time.Time) (string, error) {
	if len(chain) == 0 {
		return ReasonCertificate, errors.New("the entry is signed with a bare public key, and this rule wants a certificate")
	}
	leaf := chain[0]
	if slices.ContainsFunc(leaf.UnhandledCriticalExtensions, oidCTPoison.Equal) {
		// A CT precertificate: the poison marks it unusable, which is
		// what it is, and says nothing of its issuer.
		cp := *leaf
		cp.UnhandledCriticalExtensions = slices.DeleteFunc(slices.Clone(leaf.UnhandledCriticalExtensions), oidCTPoison.Equal)
		leaf = &cp
	}
	// Only the configured certificates build the path: the intermediates
	// a client submits are ignored, so that a hostile chain cannot choose
	// what (and how much) is verified before the entry's own checks.
	if _, err := leaf.Verify(x509.VerifyOptions{Roots: r.roots, Intermediates: r.intermediates, CurrentTime: now,
		KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}}); err != nil {
		return ReasonCertificate, fmt.Errorf("the signing certificate (subject %q, issuer %q) does not chain to this rule's roots: %w",
			leaf.Subject.String(), leaf.Issuer.String(), err)
	}
	id, err := audit.CertificateIdentity(leaf.Raw)
	if err != nil {
		return ReasonCertificate, fmt.Errorf("couldn't read the certificate's identity: %w", err)
	}
	if err := evaluate(r.policy, id.Issuer, id.Subjects); err != nil {
		return ReasonCertificate, fmt.Errorf("certificate identity (issuer %q, subject %q): %s", id.Issuer, strings.Join(id.Subjects, ", "), policyText(err))
	}
	return "", nil
}

// keySet is an allow-list of key fingerprints.
type keySet map[string]bool

// parseKeys reads every PUBLIC KEY block of a PEM document.
func parseKeys(raw []byte, into keySet) (int, error) {
	n := 0
	for {
		block, rest, err := format.DecodePEM(raw)
		if err != nil {
			break
		}
		raw = rest
		if block.Type != format.PEMPublicKey {
			continue
		}
		pub, err := x509.ParsePKIXPublicKey(block.Bytes)
		if err != nil {
			return n, fmt.Errorf("public key %d: %w", n, err)
		}
		fp, err := KeyFingerprint(pub)
		if err != nil {
			return n, err
		}
		into[fp] = true
		n++
	}
	if n == 0 {
		return 0, fmt.Errorf("%w (want PUBLIC KEY)", format.ErrNoPEM)
	}
	return n, nil
}

// keyRule is a compiled KeysRule: the keys of its files, and those of its
// TUF target, swapped atomically on each refresh.
type keyRule struct {
	rule  string
	files keySet
	tuf   atomic.Pointer[keySet]
	stop  func()
}

func newKeyRule(name string, k *KeysRule, o Options, m *Metrics) (*keyRule, error) {
	r := &keyRule{rule: name, files: keySet{}, stop: func() {}}
	for _, f := range k.Files {
		raw, err := os.ReadFile(o.Path(f))
		if err != nil {
			return nil, fmt.Errorf("keys.files: couldn't read %s: %w", f, err)
		}
		if _, err := parseKeys(raw, r.files); err != nil {
			return nil, fmt.Errorf("keys.files: %s: %w", f, err)
		}
	}
	if k.TUF != nil {
		if err := r.startTUF(k.TUF, o, m); err != nil {
			return nil, fmt.Errorf("keys.tuf: %w", err)
		}
	}
	return r, nil
}

func (r *keyRule) name() string { return r.rule }
func (r *keyRule) close()       { r.stop() }

func (r *keyRule) admitSigner(key crypto.PublicKey, chain []*x509.Certificate, _ time.Time) (string, error) {
	if len(chain) > 0 {
		key = chain[0].PublicKey
	}
	fp, err := KeyFingerprint(key)
	if err != nil {
		return ReasonKey, err
	}
	if r.files[fp] {
		return "", nil
	}
	if t := r.tuf.Load(); t != nil && (*t)[fp] {
		return "", nil
	}
	return ReasonKey, fmt.Errorf("the signing key %s is not in this rule's allow-list", fp)
}

// tokenRule is a compiled TokenRule.
type tokenRule struct {
	rule string
	v    *oidc.Verifier
}

func (r *tokenRule) name() string { return r.rule }

func (r *tokenRule) admitCaller(ctx context.Context, c Credentials) (Writer, string, error) {
	if c.Authorization == "" {
		return Writer{}, ReasonNoCredentials, fmt.Errorf("%w: no bearer token (send Authorization: Bearer <OIDC token>)", errBadCredentials)
	}
	scheme, token, ok := strings.Cut(c.Authorization, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") || token == "" {
		return Writer{}, ReasonToken, fmt.Errorf("%w: the Authorization header is not \"Bearer <token>\"", errBadCredentials)
	}
	id, err := r.v.Verify(ctx, strings.TrimSpace(token))
	if errors.Is(err, oidc.ErrPolicyDenied) {
		return Writer{}, ReasonToken, fmt.Errorf("token identity: %s", policyText(err))
	}
	if err != nil {
		return Writer{}, ReasonToken, fmt.Errorf("%w: bearer token: %w", errBadCredentials, err)
	}
	return Writer{Kind: "identity", ID: id.Issuer + " " + id.SAN}, "", nil
}

// clientCertRule is a compiled ClientCertificateRule.
type clientCertRule struct {
	rule   string
	policy oidc.Policy
}

func (r *clientCertRule) name() string { return r.rule }

func (r *clientCertRule) admitCaller(_ context.Context, c Credentials) (Writer, string, error) {
	if len(c.ClientChain) == 0 {
		return Writer{}, ReasonNoCredentials, fmt.Errorf("%w: no verified TLS client certificate", errBadCredentials)
	}
	leaf := c.ClientChain[0]
	var subjects []string
	if leaf.Subject.CommonName != "" {
		subjects = append(subjects, leaf.Subject.CommonName)
	}
	subjects = append(subjects, leaf.DNSNames...)
	subjects = append(subjects, leaf.EmailAddresses...)
	for _, u := range leaf.URIs {
		subjects = append(subjects, u.String())
	}
	issuer := leaf.Issuer.CommonName
	if err := evaluate(r.policy, issuer, subjects); err != nil {
		return Writer{}, ReasonClientCertificate, fmt.Errorf("client certificate identity (issuer %q, subject %q): %s", issuer, strings.Join(subjects, ", "), policyText(err))
	}
	id := ""
	if len(subjects) > 0 {
		id = subjects[0]
	}
	return Writer{Kind: "client", ID: issuer + " " + id}, "", nil
}

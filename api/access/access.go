// Package access decides who may write to a log: the write policy of
// hallmark-log's `write:` block, shared by every write API (Rekor v1, Rekor
// v2 REST and gRPC, CT add-chain, tiles raw append).
//
// A write is judged in two steps, both before the entry joins a batch:
//
//  1. [Policy.Begin], as the request arrives and before its body is read:
//     the caller's credentials (a bearer OIDC token, a verified TLS client
//     certificate) against the token and client_certificate rules. A caller
//     admitted here needs nothing else. A policy without signer rules
//     refuses everyone else at once (401 without credentials, 403 with
//     credentials that do not pass).
//  2. [Check.Signer], once per key or certificate the entry names, called
//     by the entry layer (rekorv1/rekorv2 Options.Authorize, CT) after it
//     decoded the entry and before it verifies any signature: every signer
//     must pass one of the certificates or keys rules. An entry that names
//     no signer is refused by [Check.Finish].
//
// Rules combine as any-of. A refusal is an error wrapping ErrUnauthenticated
// or ErrForbidden whose text names every rule tried and why it did not
// admit the write; it is counted in hallmark_log_write_refused_total{log,
// reason}. The identity a write is attributed to, [Writer], is what
// per-identity quotas key on.
package access

import (
	"context"
	"crypto"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/hallmark-dev/hallmark/oidc"
	"github.com/hallmark-dev/hallmark/tlog/format"
)

// Refusals. The API answers ErrUnauthenticated with 401 (gRPC
// UNAUTHENTICATED) and ErrForbidden with 403 (PERMISSION_DENIED).
var (
	ErrUnauthenticated = errors.New("this log accepts writes from authenticated callers only")
	ErrForbidden       = errors.New("write refused by the log's write policy")
)

// Reasons, the values of the reason label of
// hallmark_log_write_refused_total.
const (
	ReasonNoCredentials     = "no_credentials"     // no token or client certificate, and no signer rule
	ReasonToken             = "token"              // the bearer token failed verification or the issuer's policy
	ReasonClientCertificate = "client_certificate" // the client certificate's identity is not allowed
	ReasonCertificate       = "certificate"        // the signing certificate does not chain to the roots, or its identity is not allowed
	ReasonKey               = "key"                // the signing key is not in the allow-list
	ReasonNoSigner          = "no_signer"          // the entry names no key or certificate
)

// Metrics of the write policies of one process.
type Metrics struct {
	refused        *prometheus.CounterVec
	open           *prometheus.GaugeVec
	refreshFailure *prometheus.CounterVec
}

// NewMetrics registers the write policy metrics.
func NewMetrics(r prometheus.Registerer) *Metrics {
	m := &Metrics{
		refused: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "hallmark_log_write_refused_total",
			Help: "Writes refused by a log's write policy, by reason (no_credentials, token, client_certificate, certificate, key, no_signer).",
		}, []string{"log", "reason"}),
		open: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "hallmark_log_write_policy_open",
			Help: "1 for a log that accepts writes from anyone (write: open, or no write: block).",
		}, []string{"log"}),
		refreshFailure: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "hallmark_log_write_keys_refresh_failures_total",
			Help: "Failed refreshes of allowed keys published as a TUF target; the last good keys stay in force.",
		}, []string{"log"}),
	}
	r.MustRegister(m.refused, m.open, m.refreshFailure)
	return m
}

// Credentials are what a caller presented with its request.
type Credentials struct {
	// Authorization is the HTTP Authorization header (or the gRPC
	// "authorization" metadata), "" if absent.
	Authorization string
	// ClientChain is the caller's TLS client certificate chain as the TLS
	// layer verified it against listen.tls.client_ca_file, leaf first; nil
	// without a verified client certificate.
	ClientChain []*x509.Certificate
}

func (c Credentials) present() bool { return c.Authorization != "" || len(c.ClientChain) > 0 }

// Options complete a Config.
type Options struct {
	// Log is the log's name, for messages and metrics.
	Log string
	// Kind is the log's kind (tiles, rekor-v1, rekor-v2, ct).
	Kind string
	// Path resolves file names of the config (relative to its directory).
	Path func(string) string
	// Metrics may be nil.
	Metrics *Metrics
	// Logger; default slog.Default().
	Logger *slog.Logger
	// Limit, if set, is called once per write as soon as its writer is
	// known (see Check), before any signature is verified: a per-identity
	// quota. Its error refuses the write as it is.
	Limit func(context.Context, Writer) error
	// Now is the clock for certificate validity; default time.Now.
	Now func() time.Time
}

// Policy is a log's compiled write policy. It is safe for concurrent use.
type Policy struct {
	log     string
	open    bool
	callers []callerRule
	signers []signerRule
	m       *Metrics
	limit   func(context.Context, Writer) error
	now     func() time.Time
	closers []func()
}

// callerRule judges the caller's credentials.
type callerRule interface {
	name() string
	// admitCaller returns the writer, or why not (metric reason and
	// error; errBadCredentials for missing or unverifiable ones).
	admitCaller(ctx context.Context, c Credentials) (w Writer, reason string, err error)
}

// signerRule judges one signer of the entry.
type signerRule interface {
	name() string
	admitSigner(key crypto.PublicKey, chain []*x509.Certificate, now time.Time) (reason string, err error)
}

// New compiles a policy: it reads the roots and key files, builds the
// token verifier and fetches TUF keys once (failing if it cannot). A nil
// cfg is an open policy. Close stops the TUF refreshes.
func New(cfg *Config, o Options) (*Policy, error) {
	if o.Path == nil {
		o.Path = func(p string) string { return p }
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	p := &Policy{log: o.Log, m: o.Metrics, limit: o.Limit, now: o.Now}
	if cfg == nil || cfg.Open {
		p.open = true
		if p.m != nil {
			p.m.open.WithLabelValues(o.Log).Set(1)
		}
		return p, nil
	}
	if err := cfg.Validate(o.Kind); err != nil {
		return nil, err
	}
	if p.m != nil {
		p.m.open.WithLabelValues(o.Log).Set(0)
	}
	for _, r := range cfg.Allow {
		switch {
		case r.Certificates != nil:
			cr, err := newCertRule(r.Name, r.Certificates, o.Path)
			if err != nil {
				return nil, fmt.Errorf("write rule %q: %w", r.Name, err)
			}
			p.signers = append(p.signers, cr)
		case r.Keys != nil:
			kr, err := newKeyRule(r.Name, r.Keys, o, p.m)
			if err != nil {
				p.Close()
				return nil, fmt.Errorf("write rule %q: %w", r.Name, err)
			}
			p.closers = append(p.closers, kr.close)
			p.signers = append(p.signers, kr)
		case r.Token != nil:
			v, err := oidc.NewVerifier(r.Token.Issuers, oidc.Options{})
			if err != nil {
				p.Close()
				return nil, fmt.Errorf("write rule %q: token: %w", r.Name, err)
			}
			p.callers = append(p.callers, &tokenRule{rule: r.Name, v: v})
		case r.ClientCertificate != nil:
			p.callers = append(p.callers, &clientCertRule{rule: r.Name, policy: r.ClientCertificate.Identity})
		}
	}
	return p, nil
}

// Open reports whether the policy admits everyone.
func (p *Policy) Open() bool { return p.open }

// Close stops background refreshes.
func (p *Policy) Close() {
	for _, c := range p.closers {
		c()
	}
	p.closers = nil
}

// Check is the judgement of one write in progress. Its methods are safe for
// concurrent use (an entry layer may check signers in parallel).
type Check struct {
	p   *Policy
	ctx context.Context

	mu       sync.Mutex
	admitted bool          // a caller rule (or an open policy) admitted the write
	writer   *Writer       // set once known
	who      func() Writer // the first writer, not yet worked out (identified)
	refusals []string      // why caller rules did not admit, for the final message
	signed   bool          // Signer was called
	limited  bool          // Limit was called
}

// Begin judges the caller. It returns a refusal (wrapping
// ErrUnauthenticated or ErrForbidden, or Limit's error) when the write
// cannot be admitted whatever the entry is; otherwise a Check whose Signer
// method must be given every signer of the entry, and whose Finish must be
// called once the entry is decoded.
func (p *Policy) Begin(ctx context.Context, c Credentials) (*Check, error) {
	chk := &Check{p: p, ctx: ctx, admitted: p.open}
	if p.open {
		return chk, nil
	}
	firstReason := ""
	unauthenticated := !c.present()
	for _, r := range p.callers {
		w, reason, err := r.admitCaller(ctx, c)
		if err == nil {
			chk.admitted = true
			if lerr := chk.identified(func() Writer { return w }); lerr != nil {
				return nil, lerr
			}
			return chk, nil
		}
		if firstReason == "" {
			firstReason = reason
		}
		if errors.Is(err, errBadCredentials) {
			unauthenticated = true
		}
		chk.refusals = append(chk.refusals, fmt.Sprintf("rule %q: %v", r.name(), err))
	}
	if len(p.signers) > 0 {
		return chk, nil // the entry's signers may still pass
	}
	sentinel := ErrForbidden
	if unauthenticated {
		sentinel = ErrUnauthenticated
		if !c.present() {
			firstReason = ReasonNoCredentials
		}
	}
	return nil, chk.refuse(sentinel, firstReason)
}

// errBadCredentials marks credentials that are missing or fail
// verification (as opposed to valid ones that the policy denies): 401.
var errBadCredentials = errors.New("bad credentials")

// Signer judges one signer of the entry: its public key and, if the entry
// carries a certificate, the chain as submitted (leaf first). Call it after
// the entry is decoded and before its signatures are verified. Once a
// caller rule admitted the write, it only records the writer.
func (c *Check) Signer(key crypto.PublicKey, chain []*x509.Certificate) error {
	c.mu.Lock()
	c.signed = true
	admitted := c.admitted
	c.mu.Unlock()
	if !admitted {
		now := c.p.now()
		var why []string
		firstReason := ""
		ok := false
		for _, r := range c.p.signers {
			reason, err := r.admitSigner(key, chain, now)
			if err == nil {
				ok = true
				break
			}
			if firstReason == "" {
				firstReason = reason
			}
			why = append(why, fmt.Sprintf("rule %q: %v", r.name(), err))
		}
		if !ok {
			c.mu.Lock()
			c.refusals = append(c.refusals, why...)
			c.mu.Unlock()
			return c.refuse(ErrForbidden, firstReason)
		}
	}
	return c.identified(func() Writer { return SignerIdentity(key, chain) })
}

// Finish ends the check once the entry is decoded: an entry that named no
// signer is refused unless the caller was admitted. With a Limit and no
// writer identified yet (an open log's opaque entry), the write is
// attributed to Anonymous.
func (c *Check) Finish() error {
	c.mu.Lock()
	admitted, signed := c.admitted, c.signed
	c.mu.Unlock()
	if !admitted && !signed {
		c.mu.Lock()
		c.refusals = append(c.refusals, "the entry names no signing key or certificate")
		c.mu.Unlock()
		return c.refuse(ErrForbidden, ReasonNoSigner)
	}
	return c.identified(func() Writer { return Anonymous })
}

// Writer returns who the write is attributed to so far (Anonymous before
// any caller or signer is known).
func (c *Check) Writer() Writer {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.writerLocked()
}

// writerLocked is Writer with c.mu held: it works out the first writer
// when first asked (a signer's key fingerprint or certificate identity
// costs an encoding, which an open log without quotas never needs).
func (c *Check) writerLocked() Writer {
	if c.writer == nil && c.who != nil {
		w := c.who()
		c.writer, c.who = &w, nil
	}
	if c.writer == nil {
		return Anonymous
	}
	return *c.writer
}

// identified records the first writer and runs the Limit hook once.
func (c *Check) identified(who func() Writer) error {
	c.mu.Lock()
	if c.writer == nil && c.who == nil {
		c.who = who
	}
	run := c.p.limit != nil && !c.limited
	c.limited = true
	var w Writer
	if run {
		w = c.writerLocked()
	}
	c.mu.Unlock()
	if run {
		return c.p.limit(c.ctx, w)
	}
	return nil
}

// refuse builds the refusal error and counts it.
func (c *Check) refuse(sentinel error, reason string) error {
	if c.p.m != nil {
		c.p.m.refused.WithLabelValues(c.p.log, reason).Inc()
	}
	c.mu.Lock()
	why := strings.Join(c.refusals, "; ")
	c.mu.Unlock()
	if why == "" {
		why = "no rule admits it"
	}
	return &Refusal{Log: c.p.log, Reason: reason, err: sentinel, detail: why}
}

// Refusal is a refused write. It wraps ErrUnauthenticated or ErrForbidden.
type Refusal struct {
	Log    string // the log's name
	Reason string // the metric reason
	err    error
	detail string
}

func (r *Refusal) Error() string {
	return fmt.Sprintf("%v (log %s): %s", r.err, r.Log, r.detail)
}

func (r *Refusal) Unwrap() error { return r.err }

// readPEMCertificates reads every CERTIFICATE block of a PEM file.
func readPEMCertificates(path string) ([]*x509.Certificate, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("couldn't read %s: %w", path, err)
	}
	certs, err := format.ParseCertificatesPEM(raw)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if len(certs) == 0 {
		return nil, fmt.Errorf("%s holds no certificate", path)
	}
	return certs, nil
}

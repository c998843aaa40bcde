package oidc

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/go-jose/go-jose/v4"
	lru "github.com/hashicorp/golang-lru/v2"
)

// Errors returned by Verifier.Verify, wrapped with details. Each names one
// check, so that an API can tell the caller what to fix.
var (
	ErrMalformedToken    = errors.New("token is not a well-formed signed JWT")
	ErrAlgNotAllowed     = errors.New("token signature algorithm is not allowed")
	ErrUnknownIssuer     = errors.New("token issuer is not trusted by this CA")
	ErrIssuerUnavailable = errors.New("token issuer's discovery or key set could not be fetched")
	ErrUnknownKey        = errors.New("token is signed with a key the issuer does not publish")
	ErrBadSignature      = errors.New("token signature is invalid")
	ErrWrongAudience     = errors.New("token audience does not match")
	ErrExpired           = errors.New("token has expired")
	ErrNotYetValid       = errors.New("token is not valid yet")
	ErrMissingClaim      = errors.New("token lacks a required claim")
	ErrInvalidClaim      = errors.New("token claim has an invalid value")
	ErrPolicyDenied      = errors.New("identity is not allowed by the CA's policy")
)

// MaxTokenBytes bounds the size of a raw token.
const MaxTokenBytes = 64 << 10

// DefaultVerifiedTokens is the default bound of the verified-token cache:
// a CI job presents one token for each of its artifacts, and at 2,000
// certificates/s a token lives ten minutes or less.
const DefaultVerifiedTokens = 4096

// maxCachedTokenBytes bounds the tokens the cache keeps (with the claims
// they carry): an IdP's tokens are 1–2 KiB, larger ones are verified
// every time.
const maxCachedTokenBytes = 8 << 10

// Verifier verifies OIDC identity tokens from the configured issuers and
// maps them to certificate identities. It is safe for concurrent use.
//
// Verification order: syntax and alg allow-list, issuer lookup, signature
// (JWKS, discovered lazily on the first token of an issuer), then audience,
// expiry, not-before and issued-at, then the issuer type's claim mapping,
// then the identity policy. Only signed tokens reach the claim checks.
//
// A token that passed every check is remembered, by the SHA-256 of its
// bytes, with the identity it maps to and its exp, nbf and iat: presented
// again, it is only checked against the clock, with the same leeway, and
// forgotten once expired. Its signature, audience, mapping and policy
// depend on nothing else that can change while the process runs (a key
// that an issuer withdraws stays trusted until a token names an unknown
// key ID either way: see remoteIssuer). Options.VerifiedTokens bounds it.
type Verifier struct {
	static   map[string]*issuer // exact issuer URL -> issuer
	wildcard []*issuer
	opts     Options
	clients  map[*issuer]*http.Client
	verified *lru.Cache[[32]byte, *verifiedToken] // nil when disabled

	mu         sync.Mutex
	discovered map[string]*discovery          // static issuers, by URL
	wildcards  *lru.Cache[string, *discovery] // wildcard matches, by URL
}

// verifiedToken is a token that passed every check: its identity, shared
// read-only by every caller that presents it, and its time claims.
type verifiedToken struct {
	id *Identity
	tv timeValidity
}

type discovery struct {
	once  sync.Mutex
	ri    *remoteIssuer
	err   error
	errAt time.Time
}

// NewVerifier validates the issuer configuration. It does no network I/O:
// issuers are discovered when their first token arrives.
func NewVerifier(issuers []IssuerConfig, opts Options) (*Verifier, error) {
	if opts.Leeway == 0 {
		opts.Leeway = time.Minute
	}
	if opts.KeyRefreshInterval == 0 {
		opts.KeyRefreshInterval = 30 * time.Second
	}
	if opts.DiscoveryRetry == 0 {
		opts.DiscoveryRetry = 10 * time.Second
	}
	if opts.MaxWildcardIssuers == 0 {
		opts.MaxWildcardIssuers = 100
	}
	if opts.VerifiedTokens == 0 {
		opts.VerifiedTokens = DefaultVerifiedTokens
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	templates := map[string]*compiledTemplate{}
	for name, t := range BuiltinTemplates {
		ct, err := compileTemplate(name, t)
		if err != nil {
			return nil, err
		}
		templates[name] = ct
	}
	for name, t := range opts.CITemplates {
		ct, err := compileTemplate(name, t)
		if err != nil {
			return nil, err
		}
		templates[name] = ct
	}
	v := &Verifier{
		static:     map[string]*issuer{},
		opts:       opts,
		clients:    map[*issuer]*http.Client{},
		discovered: map[string]*discovery{},
	}
	var err error
	if v.wildcards, err = lru.New[string, *discovery](opts.MaxWildcardIssuers); err != nil {
		return nil, err
	}
	if opts.VerifiedTokens > 0 {
		if v.verified, err = lru.New[[32]byte, *verifiedToken](opts.VerifiedTokens); err != nil {
			return nil, err
		}
	}
	for _, cfg := range issuers {
		is, err := compileIssuer(cfg, templates)
		if err != nil {
			return nil, err
		}
		if is.pattern != nil {
			v.wildcard = append(v.wildcard, is)
		} else {
			if _, dup := v.static[cfg.URL]; dup {
				return nil, fmt.Errorf("issuer %q is configured twice", cfg.URL)
			}
			v.static[cfg.URL] = is
		}
		if v.clients[is], err = newHTTPClient(cfg.CACertFile); err != nil {
			return nil, fmt.Errorf("issuer %q: %w", cfg.URL, err)
		}
	}
	return v, nil
}

// Issuers returns the configured issuers, for the configuration endpoint.
func (v *Verifier) Issuers() []IssuerConfig {
	var out []IssuerConfig
	for _, is := range v.static {
		out = append(out, is.cfg)
	}
	for _, is := range v.wildcard {
		out = append(out, is.cfg)
	}
	slices.SortFunc(out, func(a, b IssuerConfig) int { return strings.Compare(a.URL, b.URL) })
	return out
}

// ConfiguredURL returns the url: of the configured issuer that accepts
// tokens whose iss is iss: iss itself, or the wildcard pattern it
// matches. hallmark-ca keys its per-issuer quotas by it.
func (v *Verifier) ConfiguredURL(iss string) (string, bool) {
	is, err := v.lookup(iss)
	if err != nil {
		return "", false
	}
	return is.cfg.URL, true
}

// Verify checks a raw compact JWT and returns the identity it proves. Every
// error wraps exactly one of the Err* sentinels of this package (or the
// context's error). The caller must not modify the identity.
func (v *Verifier) Verify(ctx context.Context, raw string) (*Identity, error) {
	if len(raw) > MaxTokenBytes {
		return nil, fmt.Errorf("%w: larger than %d bytes", ErrMalformedToken, MaxTokenBytes)
	}
	var key [32]byte
	cacheable := v.verified != nil && len(raw) <= maxCachedTokenBytes
	if cacheable {
		key = sha256.Sum256([]byte(raw))
		if vt, ok := v.verified.Get(key); ok {
			if err := vt.tv.check(v.opts.Now(), v.opts.Leeway); err != nil {
				v.verified.Remove(key)
				return nil, err
			}
			return vt.id, nil
		}
	}
	id, tv, err := v.verify(ctx, raw)
	if err != nil {
		return nil, err
	}
	if cacheable {
		v.verified.Add(key, &verifiedToken{id: id, tv: tv})
	}
	return id, nil
}

// verify runs every check of Verify on a token not in the cache and
// returns, with the identity, the time claims a later presentation of
// the token is checked against.
func (v *Verifier) verify(ctx context.Context, raw string) (*Identity, timeValidity, error) {
	var none timeValidity
	if strings.Count(raw, ".") != 2 {
		return nil, none, fmt.Errorf("%w: want three dot-separated parts", ErrMalformedToken)
	}
	alg, err := headerAlg(raw)
	if err != nil {
		return nil, none, err
	}
	var unverified struct {
		Issuer string `json:"iss"`
	}
	payload, err := base64.RawURLEncoding.DecodeString(strings.Split(raw, ".")[1])
	if err != nil || json.Unmarshal(payload, &unverified) != nil {
		return nil, none, fmt.Errorf("%w: payload is not base64url JSON", ErrMalformedToken)
	}
	is, err := v.lookup(unverified.Issuer)
	if err != nil {
		return nil, none, err
	}
	if !slices.Contains(is.algs, alg) {
		return nil, none, fmt.Errorf("%w: %q (issuer %s allows %s)", ErrAlgNotAllowed, alg, unverified.Issuer, strings.Join(is.algs, ", "))
	}
	jws, err := jose.ParseSignedCompact(raw, algs(is.algs))
	if err != nil {
		return nil, none, fmt.Errorf("%w: %w", ErrMalformedToken, err)
	}
	if len(jws.Signatures) != 1 {
		return nil, none, fmt.Errorf("%w: want exactly one signature", ErrMalformedToken)
	}
	ri, err := v.remote(ctx, is, unverified.Issuer)
	if err != nil {
		return nil, none, err
	}
	payload, err = ri.verify(ctx, jws)
	if err != nil {
		return nil, none, err
	}
	return v.checkClaims(is, payload)
}

// headerAlg returns the JWS header's alg, rejecting none and HMAC early
// with a message that says so.
func headerAlg(raw string) (string, error) {
	hb, err := base64.RawURLEncoding.DecodeString(raw[:strings.IndexByte(raw, '.')])
	if err != nil {
		return "", fmt.Errorf("%w: header is not base64url", ErrMalformedToken)
	}
	var hdr struct {
		Alg string `json:"alg"`
	}
	if err := json.Unmarshal(hb, &hdr); err != nil {
		return "", fmt.Errorf("%w: header is not JSON", ErrMalformedToken)
	}
	switch {
	case strings.EqualFold(hdr.Alg, "none"):
		return "", fmt.Errorf("%w: unsigned tokens (alg none) are never accepted", ErrAlgNotAllowed)
	case strings.HasPrefix(strings.ToUpper(hdr.Alg), "HS"):
		return "", fmt.Errorf("%w: symmetric (HMAC) algorithm %q is never accepted", ErrAlgNotAllowed, hdr.Alg)
	}
	return hdr.Alg, nil
}

func algs(names []string) []jose.SignatureAlgorithm {
	out := make([]jose.SignatureAlgorithm, len(names))
	for i, n := range names {
		out[i] = jose.SignatureAlgorithm(n)
	}
	return out
}

func (v *Verifier) lookup(iss string) (*issuer, error) {
	if iss == "" {
		return nil, fmt.Errorf("%w: %q", ErrMissingClaim, "iss")
	}
	if is, ok := v.static[iss]; ok {
		return is, nil
	}
	for _, is := range v.wildcard {
		if is.pattern.MatchString(iss) {
			return is, nil
		}
	}
	return nil, fmt.Errorf("%w: %q", ErrUnknownIssuer, iss)
}

// remote returns the discovered issuer for url, discovering it on first use.
// A failed discovery is remembered for DiscoveryRetry so that a down IdP
// costs one request per interval, not one per token.
func (v *Verifier) remote(ctx context.Context, is *issuer, url string) (*remoteIssuer, error) {
	v.mu.Lock()
	var d *discovery
	if is.pattern == nil {
		if d = v.discovered[url]; d == nil {
			d = &discovery{}
			v.discovered[url] = d
		}
	} else {
		var ok bool
		if d, ok = v.wildcards.Get(url); !ok {
			d = &discovery{}
			v.wildcards.Add(url, d)
		}
	}
	v.mu.Unlock()

	d.once.Lock()
	defer d.once.Unlock()
	if d.ri != nil {
		return d.ri, nil
	}
	if d.err != nil && v.opts.Now().Sub(d.errAt) < v.opts.DiscoveryRetry {
		return nil, d.err
	}
	// Discovery outlives the request that triggered it: a caller giving up
	// must not leave a remembered failure for everyone else.
	dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	ri, err := discover(dctx, url, v.clients[is], v.opts.KeyRefreshInterval, v.opts.Now)
	if err != nil {
		d.err, d.errAt = err, v.opts.Now()
		return nil, err
	}
	d.ri, d.err = ri, nil
	return ri, nil
}

// checkClaims validates the registered claims of a signature-verified
// payload, maps it to an identity and applies the policy.
func (v *Verifier) checkClaims(is *issuer, payload []byte) (*Identity, timeValidity, error) {
	var none timeValidity
	var all map[string]any
	dec := json.NewDecoder(bytes.NewReader(payload))
	dec.UseNumber()
	if err := dec.Decode(&all); err != nil {
		return nil, none, fmt.Errorf("%w: claims: %w", ErrMalformedToken, err)
	}
	iss, _ := all["iss"].(string)
	sub, _ := all["sub"].(string)
	aud, err := audience(all["aud"])
	if err != nil {
		return nil, none, err
	}
	var tv timeValidity
	hasExp := false
	if tv.exp, hasExp, err = numericDate(all, "exp"); err != nil {
		return nil, none, err
	}
	if tv.nbf, tv.hasNbf, err = numericDate(all, "nbf"); err != nil {
		return nil, none, err
	}
	if tv.iat, tv.hasIat, err = numericDate(all, "iat"); err != nil {
		return nil, none, err
	}
	switch {
	case !slices.Contains(aud, is.cfg.Audience):
		return nil, none, fmt.Errorf("%w: want %q, token has %q", ErrWrongAudience, is.cfg.Audience, aud)
	case !hasExp:
		return nil, none, fmt.Errorf("%w: %q", ErrMissingClaim, "exp")
	}
	if err := tv.check(v.opts.Now(), v.opts.Leeway); err != nil {
		return nil, none, err
	}
	claims := make(map[string]string, len(all))
	if err := flattenClaims("", all, claims); err != nil {
		return nil, none, fmt.Errorf("%w: %w", ErrMalformedToken, err)
	}
	id, err := mapIdentity(is, iss, sub, claims)
	if err != nil {
		return nil, none, err
	}
	if err := is.cfg.Policy.Evaluate(claims); err != nil {
		return nil, none, err
	}
	return id, tv, nil
}

// timeValidity holds a token's exp (required), nbf and iat.
type timeValidity struct {
	exp, nbf, iat  time.Time
	hasNbf, hasIat bool
}

// check tells whether the token is valid at now, give or take leeway: not
// expired, not before its nbf, not issued in the future.
func (tv timeValidity) check(now time.Time, leeway time.Duration) error {
	switch {
	case now.After(tv.exp.Add(leeway)):
		return fmt.Errorf("%w: expired at %s", ErrExpired, tv.exp.UTC().Format(time.RFC3339))
	case tv.hasNbf && now.Add(leeway).Before(tv.nbf):
		return fmt.Errorf("%w: nbf is %s", ErrNotYetValid, tv.nbf.UTC().Format(time.RFC3339))
	case tv.hasIat && now.Add(leeway).Before(tv.iat):
		return fmt.Errorf("%w: iat %s is in the future", ErrNotYetValid, tv.iat.UTC().Format(time.RFC3339))
	}
	return nil
}

// audience reads `aud`: a string or an array of strings (RFC 7519 §4.1.3).
func audience(v any) ([]string, error) {
	switch a := v.(type) {
	case nil:
		return nil, nil
	case string:
		return []string{a}, nil
	case []any:
		out := make([]string, 0, len(a))
		for _, x := range a {
			s, ok := x.(string)
			if !ok {
				return nil, fmt.Errorf("%w: aud holds a non-string", ErrMalformedToken)
			}
			out = append(out, s)
		}
		return out, nil
	}
	return nil, fmt.Errorf("%w: aud is neither a string nor an array", ErrMalformedToken)
}

// numericDate reads a NumericDate claim (seconds since the epoch, possibly
// fractional).
func numericDate(all map[string]any, name string) (time.Time, bool, error) {
	v, ok := all[name]
	if !ok || v == nil {
		return time.Time{}, false, nil
	}
	n, ok := v.(json.Number)
	if !ok {
		return time.Time{}, false, fmt.Errorf("%w: %s is not a number", ErrMalformedToken, name)
	}
	f, err := n.Float64()
	if err != nil || f < 0 || f > 1e11 {
		return time.Time{}, false, fmt.Errorf("%w: %s is out of range", ErrMalformedToken, name)
	}
	sec := int64(f)
	return time.Unix(sec, int64((f-float64(sec))*1e9)), true, nil
}

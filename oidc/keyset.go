package oidc

import (
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"sync"
	"time"

	gooidc "github.com/coreos/go-oidc/v3/oidc"
	"github.com/go-jose/go-jose/v4"
)

// maxJWKSBytes bounds a JWKS or discovery response.
const maxJWKSBytes = 1 << 20

// remoteIssuer is the discovered state of one concrete issuer URL: its JWKS
// endpoint and cached keys.
//
// Key cache contract: keys are fetched once at discovery and then only when
// a token names a key ID that is not cached, at most once per
// refreshInterval. A token whose key ID is cached but whose signature does
// not verify never causes a fetch, so forged tokens cannot make Hallmark
// hammer an IdP. Concurrent misses share one fetch.
type remoteIssuer struct {
	url             string
	jwksURL         string
	client          *http.Client
	refreshInterval time.Duration
	now             func() time.Time

	mu          sync.Mutex
	keys        []jose.JSONWebKey
	lastFetch   time.Time     // start of the last fetch attempt
	inflight    chan struct{} // closed when the running fetch ends
	inflightErr error
}

// discover runs OIDC discovery for url with go-oidc, which checks that the
// document's issuer equals url, and fetches the JWKS once.
func discover(ctx context.Context, url string, client *http.Client, refresh time.Duration, now func() time.Time) (*remoteIssuer, error) {
	p, err := gooidc.NewProvider(gooidc.ClientContext(ctx, client), url)
	if err != nil {
		return nil, fmt.Errorf("%w: discovery for %s: %w", ErrIssuerUnavailable, url, err)
	}
	var meta struct {
		JWKSURL string `json:"jwks_uri"`
	}
	if err := p.Claims(&meta); err != nil || meta.JWKSURL == "" {
		return nil, fmt.Errorf("%w: discovery for %s: no jwks_uri", ErrIssuerUnavailable, url)
	}
	ri := &remoteIssuer{url: url, jwksURL: meta.JWKSURL, client: client, refreshInterval: refresh, now: now}
	if _, err := ri.refresh(ctx); err != nil {
		return nil, err
	}
	return ri, nil
}

// verify checks the JWS signature with the issuer's key named by the
// token's kid (or, without a kid, any key usable with its alg) and returns
// the verified payload.
func (ri *remoteIssuer) verify(ctx context.Context, jws *jose.JSONWebSignature) ([]byte, error) {
	hdr := jws.Signatures[0].Header
	candidates := ri.candidates(hdr)
	if len(candidates) == 0 {
		keys, err := ri.refresh(ctx)
		if err != nil {
			return nil, err
		}
		if candidates = selectKeys(keys, hdr); len(candidates) == 0 {
			return nil, fmt.Errorf("%w: no key with kid %q and alg %s in %s", ErrUnknownKey, hdr.KeyID, hdr.Algorithm, ri.jwksURL)
		}
	}
	for _, k := range candidates {
		if payload, err := jws.Verify(k); err == nil {
			return payload, nil
		}
	}
	return nil, fmt.Errorf("%w: signature does not verify with the issuer's key %q", ErrBadSignature, hdr.KeyID)
}

func (ri *remoteIssuer) candidates(hdr jose.Header) []*jose.JSONWebKey {
	ri.mu.Lock()
	defer ri.mu.Unlock()
	return selectKeys(ri.keys, hdr)
}

func selectKeys(keys []jose.JSONWebKey, hdr jose.Header) []*jose.JSONWebKey {
	var out []*jose.JSONWebKey
	for i := range keys {
		k := &keys[i]
		if hdr.KeyID != "" && k.KeyID != hdr.KeyID {
			continue
		}
		if k.Algorithm != "" && k.Algorithm != hdr.Algorithm {
			continue
		}
		out = append(out, k)
	}
	return out
}

// refresh fetches the JWKS unless a fetch started less than refreshInterval
// ago, and returns the cached keys. Concurrent callers share one fetch.
func (ri *remoteIssuer) refresh(ctx context.Context) ([]jose.JSONWebKey, error) {
	ri.mu.Lock()
	if ri.inflight == nil {
		if !ri.lastFetch.IsZero() && ri.now().Sub(ri.lastFetch) < ri.refreshInterval {
			keys := ri.keys
			ri.mu.Unlock()
			return keys, nil
		}
		ri.lastFetch = ri.now()
		done := make(chan struct{})
		ri.inflight = done
		go func() {
			// Detached from the caller's context: one caller giving up must
			// not fail the fetch for the others.
			fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
			keys, err := fetchJWKS(fctx, ri.client, ri.jwksURL)
			cancel()
			ri.mu.Lock()
			if err == nil {
				ri.keys = keys
			}
			ri.inflightErr = err
			ri.inflight = nil
			ri.mu.Unlock()
			close(done)
		}()
	}
	done := ri.inflight
	ri.mu.Unlock()
	select {
	case <-done:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	ri.mu.Lock()
	defer ri.mu.Unlock()
	if ri.inflightErr != nil && len(ri.keys) == 0 {
		return nil, ri.inflightErr
	}
	return ri.keys, nil
}

// fetchJWKS downloads a key set and keeps the asymmetric signing keys it
// can parse; malformed or unsupported entries are skipped, not fatal.
func fetchJWKS(ctx context.Context, client *http.Client, url string) ([]jose.JSONWebKey, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, fmt.Errorf("%w: jwks %s: %w", ErrIssuerUnavailable, url, err)
	}
	resp, err := client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("%w: jwks %s: %w", ErrIssuerUnavailable, url, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxJWKSBytes))
	if err != nil {
		return nil, fmt.Errorf("%w: jwks %s: %w", ErrIssuerUnavailable, url, err)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("%w: jwks %s: HTTP %d", ErrIssuerUnavailable, url, resp.StatusCode)
	}
	var raw struct {
		Keys []json.RawMessage `json:"keys"`
	}
	if err := json.Unmarshal(body, &raw); err != nil {
		return nil, fmt.Errorf("%w: jwks %s: %w", ErrIssuerUnavailable, url, err)
	}
	var keys []jose.JSONWebKey
	for _, r := range raw.Keys {
		var k jose.JSONWebKey
		if err := k.UnmarshalJSON(r); err != nil {
			continue
		}
		if k.Use != "" && k.Use != "sig" {
			continue
		}
		switch k.Key.(type) {
		case *rsa.PublicKey, *ecdsa.PublicKey, ed25519.PublicKey:
			keys = append(keys, k)
		}
	}
	return keys, nil
}

// newHTTPClient returns the client used for discovery and JWKS: 10 s
// timeout, TLS roots extended with caFile, and no redirects to other hosts.
func newHTTPClient(caFile string) (*http.Client, error) {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	if caFile != "" {
		pem, err := os.ReadFile(caFile)
		if err != nil {
			return nil, fmt.Errorf("reading ca_cert_file: %w", err)
		}
		pool, err := x509.SystemCertPool()
		if err != nil {
			pool = x509.NewCertPool()
		}
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("ca_cert_file %s holds no PEM certificates", caFile)
		}
		tr.TLSClientConfig = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	}
	return &http.Client{
		Transport: tr,
		Timeout:   10 * time.Second,
		CheckRedirect: func(req *http.Request, via []*http.Request) error {
			if len(via) >= 5 {
				return errors.New("too many redirects")
			}
			if req.URL.Host != via[0].URL.Host {
				return fmt.Errorf("redirect to another host (%s) refused", req.URL.Host)
			}
			return nil
		},
	}, nil
}

// Package devissuer is a development OIDC issuer: it serves discovery and a
// JWKS on a loopback address and mints identity tokens with whatever claims
// a test or a local `hallmark dev` setup needs.
//
// It exists for tests and local development only. Nothing in Hallmark
// starts it unless explicitly configured to, and it refuses to listen on a
// non-loopback address.
package devissuer

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
)

// Issuer is a running development OIDC issuer.
type Issuer struct {
	url string
	srv *http.Server
	ln  net.Listener

	mu      sync.Mutex
	keys    []jose.JSONWebKey // private signing keys; keys[len-1] signs
	fetches int               // JWKS requests served
}

// IsLoopbackHost reports whether host, of a listen address, names loopback
// only: "localhost" or a loopback IP. An empty host, 0.0.0.0, :: and any
// other name may be reachable from elsewhere.
func IsLoopbackHost(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// Start listens on addr (e.g. "127.0.0.1:0"), which must be a loopback
// address, and serves discovery at /.well-known/openid-configuration and
// the key set at /jwks. The issuer URL is http://<listen address>.
func Start(addr string) (*Issuer, error) {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, fmt.Errorf("devissuer: address %q: %w", addr, err)
	}
	if !IsLoopbackHost(host) {
		return nil, fmt.Errorf("devissuer: refusing to listen on non-loopback address %q", addr)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("devissuer: %w", err)
	}
	is := &Issuer{url: "http://" + ln.Addr().String(), ln: ln}
	if err := is.RotateKey(); err != nil {
		ln.Close()
		return nil, err
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /.well-known/openid-configuration", is.serveDiscovery)
	mux.HandleFunc("GET /jwks", is.serveJWKS)
	is.srv = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go is.srv.Serve(ln)
	return is, nil
}

// URL is the issuer URL, the `iss` of every minted token.
func (is *Issuer) URL() string { return is.url }

// Close stops the server.
func (is *Issuer) Close() error {
	return is.srv.Shutdown(context.Background())
}

// RotateKey adds a new ECDSA P-256 signing key; older keys stay published.
func (is *Issuer) RotateKey() error {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	is.mu.Lock()
	defer is.mu.Unlock()
	jwk := jose.JSONWebKey{Key: k, Algorithm: string(jose.ES256), Use: "sig", KeyID: "dev-" + strconv.Itoa(len(is.keys)+1)}
	is.keys = append(is.keys, jwk)
	return nil
}

// PublicKey returns the current signing key's public key.
func (is *Issuer) PublicKey() crypto.PublicKey {
	is.mu.Lock()
	defer is.mu.Unlock()
	return is.keys[len(is.keys)-1].Public().Key
}

func (is *Issuer) serveDiscovery(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(map[string]any{
		"issuer":                                is.url,
		"jwks_uri":                              is.url + "/jwks",
		"authorization_endpoint":                is.url + "/authorize",
		"token_endpoint":                        is.url + "/token",
		"response_types_supported":              []string{"id_token"},
		"subject_types_supported":               []string{"public"},
		"id_token_signing_alg_values_supported": []string{"ES256"},
		"claims_supported":                      []string{"sub", "aud", "exp", "iat", "iss", "nbf"},
	})
}

// JWKSFetches reports how many times the key set has been served.
func (is *Issuer) JWKSFetches() int {
	is.mu.Lock()
	defer is.mu.Unlock()
	return is.fetches
}

func (is *Issuer) serveJWKS(w http.ResponseWriter, r *http.Request) {
	is.mu.Lock()
	is.fetches++
	set := jose.JSONWebKeySet{}
	for _, k := range is.keys {
		set.Keys = append(set.Keys, k.Public())
	}
	is.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(set)
}

// Claims are a token's claims. Mint fills iss, iat, nbf and exp unless set.
type Claims map[string]any

// Mint signs a token with the current key. Unless claims say otherwise, iss
// is the issuer URL, aud "sigstore", iat and nbf now, exp now+10 minutes.
func (is *Issuer) Mint(claims Claims) (string, error) {
	is.mu.Lock()
	key := is.keys[len(is.keys)-1]
	is.mu.Unlock()
	if _, ok := claims["sub"]; !ok {
		return "", errors.New("devissuer: sub claim is required")
	}
	c := Claims{"iss": is.url, "aud": "sigstore"}
	now := time.Now()
	c["iat"], c["nbf"], c["exp"] = now.Unix(), now.Unix(), now.Add(10*time.Minute).Unix()
	maps.Copy(c, claims)
	for k, v := range c {
		if v == nil { // a nil value removes a default claim
			delete(c, k)
		}
	}
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: key},
		(&jose.SignerOptions{}).WithType("JWT").WithHeader("kid", key.KeyID))
	if err != nil {
		return "", fmt.Errorf("devissuer: %w", err)
	}
	return jwt.Signed(signer).Claims(map[string]any(c)).Serialize()
}

// GitHubClaims returns claims shaped like a GitHub Actions token for a
// workflow run of repo ("owner/name") on ref.
func GitHubClaims(repo, ref string) Claims {
	owner := repo
	for i := range repo {
		if repo[i] == '/' {
			owner = repo[:i]
			break
		}
	}
	wf := repo + "/.github/workflows/release.yml@" + ref
	return Claims{
		"sub":                   "repo:" + repo + ":ref:" + ref,
		"job_workflow_ref":      wf,
		"job_workflow_sha":      "2f1c5b4e6d7a8b9c0d1e2f3a4b5c6d7e8f9a0b1c",
		"sha":                   "a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4",
		"event_name":            "push",
		"repository":            repo,
		"workflow":              "release",
		"ref":                   ref,
		"ref_type":              "branch",
		"runner_environment":    "github-hosted",
		"repository_id":         "123456",
		"repository_owner":      owner,
		"repository_owner_id":   "654321",
		"repository_visibility": "private",
		"workflow_ref":          wf,
		"workflow_sha":          "2f1c5b4e6d7a8b9c0d1e2f3a4b5c6d7e8f9a0b1c",
		"run_id":                "9876543210",
		"run_attempt":           "1",
		"actor":                 "octocat",
	}
}

// GitLabClaims returns claims shaped like a GitLab CI id_token for project
// ("group/project") on branch.
func GitLabClaims(host, project, branch string) Claims {
	ns := project
	for i := range project {
		if project[i] == '/' {
			ns = project[:i]
			break
		}
	}
	cfg := host + "/" + project + "//.gitlab-ci.yml@refs/heads/" + branch
	return Claims{
		"sub":                "project_path:" + project + ":ref_type:branch:ref:" + branch,
		"namespace_id":       "42",
		"namespace_path":     ns,
		"project_id":         "4242",
		"project_path":       project,
		"user_login":         "alice",
		"pipeline_id":        "1001",
		"pipeline_source":    "push",
		"job_id":             "2002",
		"ref":                branch,
		"ref_type":           "branch",
		"ref_protected":      "true",
		"runner_environment": "gitlab-hosted",
		"sha":                "0123456789abcdef0123456789abcdef01234567",
		"project_visibility": "internal",
		"ci_config_ref_uri":  cfg,
		"ci_config_sha":      "89abcdef0123456789abcdef0123456789abcdef",
	}
}

// KubernetesClaims returns claims shaped like a projected Kubernetes
// service account token.
func KubernetesClaims(namespace, serviceAccount string) Claims {
	return Claims{
		"sub": "system:serviceaccount:" + namespace + ":" + serviceAccount,
		"kubernetes.io": map[string]any{
			"namespace":      namespace,
			"serviceaccount": map[string]any{"name": serviceAccount, "uid": "9d3f7a1e-0000-4000-8000-000000000001"},
			"pod":            map[string]any{"name": "builder-0", "uid": "9d3f7a1e-0000-4000-8000-000000000002"},
		},
	}
}

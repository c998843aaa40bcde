package oidc_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/hallmark-dev/hallmark/oidc"
	"github.com/hallmark-dev/hallmark/oidc/devissuer"
)

func startIssuer(t *testing.T) *devissuer.Issuer {
	t.Helper()
	is, err := devissuer.Start("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { is.Close() })
	return is
}

func mint(t *testing.T, is *devissuer.Issuer, c devissuer.Claims) string {
	t.Helper()
	tok, err := is.Mint(c)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func b64(v any) string {
	b, _ := json.Marshal(v)
	return base64.RawURLEncoding.EncodeToString(b)
}

func TestVerifyRejects(t *testing.T) {
	is := startIssuer(t)
	other := startIssuer(t) // trusted by nobody
	v, err := oidc.NewVerifier([]oidc.IssuerConfig{
		{URL: is.URL(), Type: oidc.TypeGitHubWorkflow, Policy: oidc.Policy{
			Allow: map[string][]string{"repository_owner": {"acme"}},
		}},
	}, oidc.Options{})
	if err != nil {
		t.Fatal(err)
	}
	good := devissuer.GitHubClaims("acme/app", "refs/heads/main")
	with := func(kv ...any) devissuer.Claims {
		c := devissuer.Claims{}
		for k, v := range good {
			c[k] = v
		}
		for i := 0; i < len(kv); i += 2 {
			c[kv[i].(string)] = kv[i+1]
		}
		return c
	}
	now := time.Now()
	valid := mint(t, is, good)
	parts := strings.Split(valid, ".")

	// HS256 signed with the issuer's public key (DER SPKI) as the HMAC
	// secret: the classic key-confusion attack.
	spki, _ := x509.MarshalPKIXPublicKey(is.PublicKey())
	hsInput := b64(map[string]string{"alg": "HS256", "kid": "dev-1", "typ": "JWT"}) + "." + parts[1]
	mac := hmac.New(sha256.New, spki)
	mac.Write([]byte(hsInput))
	hs256 := hsInput + "." + base64.RawURLEncoding.EncodeToString(mac.Sum(nil))

	// A token signed by a stranger's key under the issuer's key ID.
	strangerKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	signer, _ := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: strangerKey},
		(&jose.SignerOptions{}).WithType("JWT").WithHeader("kid", "dev-1"))
	var claims map[string]any
	p, _ := base64.RawURLEncoding.DecodeString(parts[1])
	json.Unmarshal(p, &claims)
	forged, _ := jwt.Signed(signer).Claims(claims).Serialize()

	// Tamper with the decoded signature and encode it again: the result is
	// always well-formed base64url of the right length, and always wrong.
	rawSig, err := base64.RawURLEncoding.DecodeString(parts[2])
	if err != nil {
		t.Fatal(err)
	}
	rawSig[3] ^= 1
	tamperedSig := base64.RawURLEncoding.EncodeToString(rawSig)

	tests := []struct {
		name  string
		token string
		want  error
		msg   string // substring of the error
	}{
		{"wrong audience", mint(t, is, with("aud", "not-sigstore")), oidc.ErrWrongAudience, `want "sigstore"`},
		{"expired", mint(t, is, with("exp", now.Add(-2*time.Hour).Unix(), "iat", now.Add(-3*time.Hour).Unix(), "nbf", now.Add(-3*time.Hour).Unix())), oidc.ErrExpired, "expired at"},
		{"not yet valid", mint(t, is, with("nbf", now.Add(time.Hour).Unix(), "exp", now.Add(2*time.Hour).Unix())), oidc.ErrNotYetValid, "nbf"},
		{"issued in the future", mint(t, is, with("iat", now.Add(time.Hour).Unix(), "nbf", nil)), oidc.ErrNotYetValid, "iat"},
		{"unknown issuer", mint(t, other, good), oidc.ErrUnknownIssuer, other.URL()},
		{"bad signature (tampered)", parts[0] + "." + parts[1] + "." + string(tamperedSig), oidc.ErrBadSignature, "dev-1"},
		{"bad signature (foreign key)", forged, oidc.ErrBadSignature, ""},
		{"payload swapped", parts[0] + "." + b64(with("iss", is.URL(), "aud", "sigstore", "exp", now.Add(time.Hour).Unix(), "sub", "x")) + "." + parts[2], oidc.ErrBadSignature, ""},
		{"alg none", b64(map[string]string{"alg": "none", "typ": "JWT"}) + "." + parts[1] + ".", oidc.ErrAlgNotAllowed, "alg none"},
		{"alg None (case)", b64(map[string]string{"alg": "None"}) + "." + parts[1] + ".", oidc.ErrAlgNotAllowed, "alg none"},
		{"HS256 with public key as secret", hs256, oidc.ErrAlgNotAllowed, "HMAC"},
		{"alg not in allow-list", b64(map[string]string{"alg": "ES256K", "kid": "dev-1"}) + "." + parts[1] + "." + parts[2], oidc.ErrAlgNotAllowed, "ES256K"},
		{"unknown kid", b64(map[string]string{"alg": "ES256", "kid": "nope"}) + "." + parts[1] + "." + parts[2], oidc.ErrUnknownKey, `"nope"`},
		{"missing exp", mint(t, is, with("exp", nil)), oidc.ErrMissingClaim, `"exp"`},
		{"missing sub", mint(t, is, with("sub", "")), oidc.ErrMissingClaim, `"sub"`},
		{"missing workflow claim", mint(t, is, with("job_workflow_ref", nil)), oidc.ErrMissingClaim, `"job_workflow_ref"`},
		{"missing iss", mint(t, is, with("iss", nil)), oidc.ErrMissingClaim, `"iss"`},
		{"policy denial", mint(t, is, with("repository_owner", "evil", "repository", "evil/app")), oidc.ErrPolicyDenied, `"repository_owner" value "evil"`},
		{"not a JWT", "hello", oidc.ErrMalformedToken, "three"},
		{"JSON serialization", `{"payload":"e30","signatures":[]}`, oidc.ErrMalformedToken, ""},
		{"garbage header", "%%%." + parts[1] + "." + parts[2], oidc.ErrMalformedToken, "header"},
		{"oversized", strings.Repeat("a", oidc.MaxTokenBytes+1), oidc.ErrMalformedToken, "larger"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			id, err := v.Verify(context.Background(), tc.token)
			if id != nil {
				t.Fatalf("got identity %+v, want error", id)
			}
			if !errors.Is(err, tc.want) {
				t.Fatalf("got error %v, want %v", err, tc.want)
			}
			if !strings.Contains(err.Error(), tc.msg) {
				t.Fatalf("error %q does not mention %q", err, tc.msg)
			}
		})
	}

	// The sanity check that the fixture is right: the untampered token passes.
	if _, err := v.Verify(context.Background(), valid); err != nil {
		t.Fatalf("valid token rejected: %v", err)
	}
}

func TestVerifyIdentities(t *testing.T) {
	is := startIssuer(t)
	gl := startIssuer(t)
	k8s := startIssuer(t)
	mail := startIssuer(t)
	v, err := oidc.NewVerifier([]oidc.IssuerConfig{
		{URL: is.URL(), Type: oidc.TypeGitHubWorkflow},
		{URL: gl.URL(), Type: oidc.TypeGitLabPipeline},
		// A wildcard issuer: the port of the k8s issuer is the wildcard part.
		{URL: "http://127.0.0.1:*", Type: oidc.TypeKubernetes},
		{URL: mail.URL(), Type: oidc.TypeEmail, Audience: "corp"},
	}, oidc.Options{})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()

	id, err := v.Verify(ctx, mint(t, is, devissuer.GitHubClaims("acme/app", "refs/heads/main")))
	if err != nil {
		t.Fatal(err)
	}
	if want := "https://github.com/acme/app/.github/workflows/release.yml@refs/heads/main"; id.SAN != want || id.SANKind != oidc.SANURI {
		t.Errorf("SAN = %q, want %q", id.SAN, want)
	}
	e := id.Extensions
	for got, want := range map[string]string{
		e.Issuer: is.URL(), e.GithubWorkflowRepository: "acme/app", e.SourceRepositoryURI: "https://github.com/acme/app",
		e.RunInvocationURI:  "https://github.com/acme/app/actions/runs/9876543210/attempts/1",
		e.RunnerEnvironment: "github-hosted", e.SourceRepositoryOwnerIdentifier: "654321",
		e.Subject: "repo:acme/app:ref:refs/heads/main",
	} {
		if got != want {
			t.Errorf("extension = %q, want %q", got, want)
		}
	}
	if e.DeploymentEnvironment != "" {
		t.Errorf("deployment environment = %q, want empty", e.DeploymentEnvironment)
	}
	if len(id.Challenges) != 1 || id.Challenges[0] != "repo:acme/app:ref:refs/heads/main" {
		t.Errorf("challenges = %q", id.Challenges)
	}

	id, err = v.Verify(ctx, mint(t, gl, devissuer.GitLabClaims("gitlab.example.com", "group/proj", "main")))
	if err != nil {
		t.Fatal(err)
	}
	if want := "https://gitlab.example.com/group/proj//.gitlab-ci.yml@refs/heads/main"; id.SAN != want {
		t.Errorf("gitlab SAN = %q, want %q", id.SAN, want)
	}
	if id.Extensions.SourceRepositoryRef != "refs/heads/main" || id.Extensions.SourceRepositoryURI != gl.URL()+"/group/proj" {
		t.Errorf("gitlab extensions = %+v", id.Extensions)
	}

	id, err = v.Verify(ctx, mint(t, k8s, devissuer.KubernetesClaims("build", "signer")))
	if err != nil {
		t.Fatal(err)
	}
	if want := "https://kubernetes.io/namespaces/build/serviceaccounts/signer"; id.SAN != want || id.Issuer != k8s.URL() {
		t.Errorf("k8s SAN = %q issuer %q", id.SAN, id.Issuer)
	}

	id, err = v.Verify(ctx, mint(t, mail, devissuer.Claims{"sub": "u1", "aud": "corp", "email": "a@corp.example", "email_verified": true}))
	if err != nil {
		t.Fatal(err)
	}
	if id.SANKind != oidc.SANEmail || id.SAN != "a@corp.example" || id.Challenges[0] != "a@corp.example" {
		t.Errorf("email identity = %+v", id)
	}
	_, err = v.Verify(ctx, mint(t, mail, devissuer.Claims{"sub": "u1", "aud": "corp", "email": "a@corp.example", "email_verified": false}))
	if !errors.Is(err, oidc.ErrInvalidClaim) {
		t.Errorf("unverified email: got %v", err)
	}
}

// TestKeyRefreshBounded checks the JWKS cache contract: a rotated key is
// picked up, unknown key IDs and forged signatures do not cause a fetch per
// token.
func TestKeyRefreshBounded(t *testing.T) {
	is := startIssuer(t)
	clock := time.Now()
	v, err := oidc.NewVerifier([]oidc.IssuerConfig{{URL: is.URL(), Type: oidc.TypeKubernetes}},
		oidc.Options{KeyRefreshInterval: time.Minute, Now: func() time.Time { return clock }})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	claims := devissuer.KubernetesClaims("ns", "sa")
	for range 5 {
		if _, err := v.Verify(ctx, mint(t, is, claims)); err != nil {
			t.Fatal(err)
		}
	}
	if n := is.JWKSFetches(); n != 1 {
		t.Fatalf("JWKS fetched %d times for 5 tokens, want 1", n)
	}
	good := mint(t, is, claims)
	parts := strings.Split(good, ".")
	for range 20 {
		v.Verify(ctx, b64(map[string]string{"alg": "ES256", "kid": "random"})+"."+parts[1]+"."+parts[2])
		v.Verify(ctx, parts[0]+"."+parts[1]+".AAAA"+parts[2][4:])
	}
	if n := is.JWKSFetches(); n != 1 {
		t.Fatalf("JWKS fetched %d times after bogus tokens within the refresh interval, want 1", n)
	}
	// A rotated key within the interval is not yet known...
	if err := is.RotateKey(); err != nil {
		t.Fatal(err)
	}
	rotated := mint(t, is, claims)
	if _, err := v.Verify(ctx, rotated); !errors.Is(err, oidc.ErrUnknownKey) {
		t.Fatalf("rotated key inside refresh interval: got %v, want ErrUnknownKey", err)
	}
	// ...and is fetched once the interval has passed.
	clock = clock.Add(2 * time.Minute)
	if _, err := v.Verify(ctx, rotated); err != nil {
		t.Fatalf("rotated key after refresh interval: %v", err)
	}
	if n := is.JWKSFetches(); n != 2 {
		t.Fatalf("JWKS fetched %d times, want 2", n)
	}
}

func TestConfigErrors(t *testing.T) {
	for _, tc := range []struct {
		cfg  oidc.IssuerConfig
		want string
	}{
		{oidc.IssuerConfig{URL: "http://idp.example.com", Type: "email"}, "https"},
		{oidc.IssuerConfig{URL: "https://idp.example.com", Type: "nope"}, "unknown type"},
		{oidc.IssuerConfig{URL: "https://idp.example.com"}, "type is required"},
		{oidc.IssuerConfig{URL: "https://idp.example.com", Type: "ci-provider"}, "needs ci_provider"},
		{oidc.IssuerConfig{URL: "https://idp.example.com", Type: "spiffe"}, "spiffe_trust_domain"},
		{oidc.IssuerConfig{URL: "https://idp.example.com", Type: "username"}, "subject_domain"},
		{oidc.IssuerConfig{URL: "https://idp.example.com", Type: "email", Algorithms: []string{"HS256"}}, "not allowed"},
		{oidc.IssuerConfig{URL: "https://idp.example.com", Type: "email", Policy: oidc.Policy{Allow: map[string][]string{"x": {"["}}}}, "bad pattern"},
	} {
		if _, err := oidc.NewVerifier([]oidc.IssuerConfig{tc.cfg}, oidc.Options{}); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: got %v, want error containing %q", tc.cfg, err, tc.want)
		}
	}
}

func TestIssuerUnavailable(t *testing.T) {
	is := startIssuer(t)
	v, err := oidc.NewVerifier([]oidc.IssuerConfig{{URL: is.URL(), Type: oidc.TypeKubernetes}}, oidc.Options{})
	if err != nil {
		t.Fatal(err)
	}
	tok := mint(t, is, devissuer.KubernetesClaims("ns", "sa"))
	is.Close()
	for range 2 { // the second answer comes from the remembered failure
		if _, err := v.Verify(context.Background(), tok); !errors.Is(err, oidc.ErrIssuerUnavailable) {
			t.Fatalf("got %v, want ErrIssuerUnavailable", err)
		}
	}
}

// TestVerifiedTokenCache checks the cache of verified tokens: a token
// presented again is served from it (the same identity), checked against
// the clock each time and never accepted after its expiry, a token of
// other bytes is verified on its own, and VerifiedTokens < 0 turns it off.
func TestVerifiedTokenCache(t *testing.T) {
	is := startIssuer(t)
	clock := time.Now()
	now := func() time.Time { return clock }
	v, err := oidc.NewVerifier([]oidc.IssuerConfig{{URL: is.URL(), Type: oidc.TypeGitHubWorkflow}}, oidc.Options{Now: now})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	tok := mint(t, is, devissuer.GitHubClaims("acme/app", "refs/heads/main"))
	first, err := v.Verify(ctx, tok)
	if err != nil {
		t.Fatal(err)
	}
	again, err := v.Verify(ctx, tok)
	if err != nil {
		t.Fatal(err)
	}
	if again != first {
		t.Error("a token presented twice was verified twice: not cached")
	}

	// Same header and claims, another signature: not the cached token.
	parts := strings.Split(tok, ".")
	forged := parts[0] + "." + parts[1] + ".AAAA" + parts[2][4:]
	if _, err := v.Verify(ctx, forged); !errors.Is(err, oidc.ErrBadSignature) {
		t.Errorf("forged signature beside a cached token: got %v, want ErrBadSignature", err)
	}

	// Inside the leeway after exp the cached token still passes, as an
	// uncached one would; after it, never.
	clock = clock.Add(10*time.Minute + 30*time.Second)
	if _, err := v.Verify(ctx, tok); err != nil {
		t.Fatalf("within leeway: %v", err)
	}
	clock = clock.Add(time.Minute)
	for range 2 {
		if _, err := v.Verify(ctx, tok); !errors.Is(err, oidc.ErrExpired) {
			t.Fatalf("cached token after its expiry: got %v, want ErrExpired", err)
		}
	}

	off, err := oidc.NewVerifier([]oidc.IssuerConfig{{URL: is.URL(), Type: oidc.TypeGitHubWorkflow}}, oidc.Options{VerifiedTokens: -1})
	if err != nil {
		t.Fatal(err)
	}
	tok = mint(t, is, devissuer.GitHubClaims("acme/app", "refs/heads/main"))
	a, err := off.Verify(ctx, tok)
	if err != nil {
		t.Fatal(err)
	}
	if b, err := off.Verify(ctx, tok); err != nil || b == a {
		t.Errorf("with the cache off: %v, same identity %v", err, b == a)
	}
}

package oidc_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/hallmark-dev/hallmark/oidc"
	"github.com/hallmark-dev/hallmark/oidc/devissuer"
)

// TestCatalogue runs one token per issuer type through a verifier and
// checks the identity it maps to.
func TestCatalogue(t *testing.T) {
	type want struct {
		kind oidc.SANKind
		san  string
		err  error
	}
	for _, tc := range []struct {
		name   string
		cfg    oidc.IssuerConfig
		claims devissuer.Claims
		want   want
	}{
		{"forgejo", oidc.IssuerConfig{Type: oidc.TypeGiteaActions}, devissuer.Claims{
			"sub": "repo:acme/app:ref:refs/heads/main", "workflow_ref": "acme/app/.forgejo/workflows/ci.yml@refs/heads/main",
			"event_name": "push", "sha": "abc", "workflow": "ci", "repository": "acme/app", "ref": "refs/heads/main",
			"repository_owner": "acme", "run_id": "7",
		}, want{oidc.SANURI, "{iss}/acme/app/.forgejo/workflows/ci.yml@refs/heads/main", nil}},
		{"buildkite", oidc.IssuerConfig{Type: oidc.TypeBuildkiteJob}, devissuer.Claims{
			"sub": "organization:acme:pipeline:app", "organization_slug": "acme", "pipeline_slug": "app", "build_commit": "abc", "build_number": 3,
		}, want{oidc.SANURI, "https://buildkite.com/acme/app", nil}},
		{"spiffe", oidc.IssuerConfig{Type: oidc.TypeSPIFFE, SPIFFETrustDomain: "example.org"}, devissuer.Claims{"sub": "spiffe://example.org/ns/build/sa/signer"},
			want{oidc.SANURI, "spiffe://example.org/ns/build/sa/signer", nil}},
		{"spiffe other domain", oidc.IssuerConfig{Type: oidc.TypeSPIFFE, SPIFFETrustDomain: "example.org"}, devissuer.Claims{"sub": "spiffe://evil.org/x"},
			want{err: oidc.ErrInvalidClaim}},
		{"uri", oidc.IssuerConfig{Type: oidc.TypeURI, SubjectDomain: "https://ci.example.com"}, devissuer.Claims{"sub": "https://ci.example.com/jobs/1"},
			want{oidc.SANURI, "https://ci.example.com/jobs/1", nil}},
		{"uri other host", oidc.IssuerConfig{Type: oidc.TypeURI, SubjectDomain: "https://ci.example.com"}, devissuer.Claims{"sub": "https://evil.example.com/jobs/1"},
			want{err: oidc.ErrInvalidClaim}},
		{"username", oidc.IssuerConfig{Type: oidc.TypeUsername, SubjectDomain: "example.com"}, devissuer.Claims{"sub": "alice"},
			want{oidc.SANOtherName, "alice!example.com", nil}},
		{"username with bang", oidc.IssuerConfig{Type: oidc.TypeUsername, SubjectDomain: "example.com"}, devissuer.Claims{"sub": "alice!evil.com"},
			want{err: oidc.ErrInvalidClaim}},
		{"ci-provider", oidc.IssuerConfig{Type: oidc.TypeCIProvider, CIProvider: "jenkins"}, devissuer.Claims{"sub": "job/x", "job_name": "x", "build_number": 12},
			want{oidc.SANURI, "https://jenkins.example.com/job/x", nil}},
		{"ci-provider missing claim", oidc.IssuerConfig{Type: oidc.TypeCIProvider, CIProvider: "jenkins"}, devissuer.Claims{"sub": "job/x"},
			want{err: oidc.ErrMissingClaim}},
		{"kubernetes missing sa", oidc.IssuerConfig{Type: oidc.TypeKubernetes}, devissuer.Claims{"sub": "x", "kubernetes.io": map[string]any{"namespace": "n"}},
			want{err: oidc.ErrMissingClaim}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			is := startIssuer(t)
			tc.cfg.URL = is.URL()
			v, err := oidc.NewVerifier([]oidc.IssuerConfig{tc.cfg}, oidc.Options{CITemplates: map[string]oidc.CITemplate{
				"jenkins": {SAN: "{{ .url }}/job/{{ .job_name }}", Defaults: map[string]string{"url": "https://jenkins.example.com"},
					Extensions: map[string]string{"run-invocation-uri": "{{ .url }}/job/{{ .job_name }}/{{ .build_number }}"}},
			}})
			if err != nil {
				t.Fatal(err)
			}
			id, err := v.Verify(context.Background(), mint(t, is, tc.claims))
			if tc.want.err != nil {
				if !errors.Is(err, tc.want.err) {
					t.Fatalf("got %v, want %v", err, tc.want.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			san := strings.ReplaceAll(tc.want.san, "{iss}", is.URL())
			if id.SANKind != tc.want.kind || id.SAN != san {
				t.Errorf("SAN = %d %q, want %d %q", id.SANKind, id.SAN, tc.want.kind, san)
			}
			if id.Extensions.Issuer != is.URL() || id.Extensions.Subject != tc.claims["sub"] {
				t.Errorf("issuer/subject extensions %+v", id.Extensions)
			}
		})
	}
}

func TestPolicyEvaluate(t *testing.T) {
	p := oidc.Policy{
		Allow: map[string][]string{"ref": {"refs/heads/main", "refs/tags/v*"}, "repository_owner": {"acme"}},
		Deny:  map[string][]string{"event_name": {"pull_request*"}},
	}
	for _, tc := range []struct {
		claims map[string]string
		ok     bool
	}{
		{map[string]string{"ref": "refs/heads/main", "repository_owner": "acme", "event_name": "push"}, true},
		{map[string]string{"ref": "refs/tags/v1.2.3", "repository_owner": "acme"}, true},
		{map[string]string{"ref": "refs/tags/v1/evil", "repository_owner": "acme"}, false}, // * does not cross /
		{map[string]string{"ref": "refs/heads/dev", "repository_owner": "acme"}, false},
		{map[string]string{"ref": "refs/heads/main"}, false},
		{map[string]string{"ref": "refs/heads/main", "repository_owner": "acme", "event_name": "pull_request_target"}, false},
	} {
		err := p.Evaluate(tc.claims)
		if (err == nil) != tc.ok || (err != nil && !errors.Is(err, oidc.ErrPolicyDenied)) {
			t.Errorf("%v: got %v, want ok=%v", tc.claims, err, tc.ok)
		}
	}
}

func TestDevIssuerLoopbackOnly(t *testing.T) {
	if is, err := devissuer.Start("0.0.0.0:0"); err == nil {
		is.Close()
		t.Fatal("dev issuer listened on a non-loopback address")
	}
}

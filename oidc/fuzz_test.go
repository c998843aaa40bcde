package oidc_test

import (
	"context"
	"errors"
	"testing"

	"github.com/hallmark-dev/hallmark/oidc"
	"github.com/hallmark-dev/hallmark/oidc/devissuer"
)

var sentinels = []error{
	oidc.ErrMalformedToken, oidc.ErrAlgNotAllowed, oidc.ErrUnknownIssuer, oidc.ErrIssuerUnavailable,
	oidc.ErrUnknownKey, oidc.ErrBadSignature, oidc.ErrWrongAudience, oidc.ErrExpired,
	oidc.ErrNotYetValid, oidc.ErrMissingClaim, oidc.ErrInvalidClaim, oidc.ErrPolicyDenied,
}

// FuzzVerify feeds arbitrary strings to the token verifier: it must not
// panic, and every rejection must wrap one of the documented sentinels.
func FuzzVerify(f *testing.F) {
	is, err := devissuer.Start("127.0.0.1:0")
	if err != nil {
		f.Fatal(err)
	}
	defer is.Close()
	v, err := oidc.NewVerifier([]oidc.IssuerConfig{{URL: is.URL(), Type: oidc.TypeGitHubWorkflow}}, oidc.Options{})
	if err != nil {
		f.Fatal(err)
	}
	tok, err := is.Mint(devissuer.GitHubClaims("acme/app", "refs/heads/main"))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(tok)
	f.Add("")
	f.Add("a.b.c")
	f.Add("eyJhbGciOiJub25lIn0.e30.")
	f.Fuzz(func(t *testing.T, raw string) {
		id, err := v.Verify(context.Background(), raw)
		if err == nil {
			if id == nil || id.SAN == "" {
				t.Fatalf("accepted token without identity: %q", raw)
			}
			return
		}
		for _, s := range sentinels {
			if errors.Is(err, s) {
				return
			}
		}
		t.Fatalf("error wraps no sentinel: %v", err)
	})
}

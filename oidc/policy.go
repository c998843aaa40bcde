package oidc

import (
	"fmt"
	"path"
	"sort"
)

// Policy is an issuer's identity policy: which of its valid tokens may
// obtain a certificate. It is evaluated after the token is verified and
// mapped, before any key or proof is looked at, so a denied caller learns
// nothing about the CA beyond the denial.
type Policy struct {
	// Allow maps a claim name (nested claims flattened with dots, e.g.
	// kubernetes.io.namespace) to the patterns its value may take. A token
	// is accepted only when every listed claim is present and matches at
	// least one of its patterns. Patterns use path.Match syntax: `*`
	// matches any run of characters except `/`, `?` one character, and
	// `[a-z]` a class; a pattern without metacharacters must match exactly.
	//
	//	allow:
	//	  repository_owner: [acme]
	//	  ref: [refs/heads/main, "refs/tags/v*"]
	Allow map[string][]string `yaml:"allow"`

	// Deny maps claim names to patterns that reject a token when any of
	// them matches, even if Allow accepts it.
	Deny map[string][]string `yaml:"deny"`
}

// Validate reports claims without patterns and malformed patterns. Other
// policies in the same language (hallmark-log's write identities) call it.
func (p Policy) Validate() error { return p.validate() }

func (p Policy) validate() error {
	for _, m := range []map[string][]string{p.Allow, p.Deny} {
		for claim, pats := range m {
			if len(pats) == 0 {
				return fmt.Errorf("policy: claim %q has no patterns", claim)
			}
			for _, pat := range pats {
				if _, err := path.Match(pat, ""); err != nil {
					return fmt.Errorf("policy: claim %q: bad pattern %q: %w", claim, pat, err)
				}
			}
		}
	}
	return nil
}

// Evaluate returns nil when the claims satisfy the policy, or an error
// wrapping ErrPolicyDenied that names the first failing claim.
func (p Policy) Evaluate(claims map[string]string) error {
	for _, claim := range sortedKeys(p.Deny) {
		v, ok := claims[claim]
		if ok && matchAny(p.Deny[claim], v) {
			return fmt.Errorf("%w: claim %q value %q is denied", ErrPolicyDenied, claim, v)
		}
	}
	for _, claim := range sortedKeys(p.Allow) {
		v, ok := claims[claim]
		if !ok {
			return fmt.Errorf("%w: claim %q is required by policy but absent from the token", ErrPolicyDenied, claim)
		}
		if !matchAny(p.Allow[claim], v) {
			return fmt.Errorf("%w: claim %q value %q is not in the allow-list", ErrPolicyDenied, claim, v)
		}
	}
	return nil
}

func matchAny(patterns []string, v string) bool {
	for _, pat := range patterns {
		if ok, _ := path.Match(pat, v); ok {
			return true
		}
	}
	return false
}

func sortedKeys(m map[string][]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

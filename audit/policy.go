package audit

import (
	"fmt"
	"regexp"
)

// IdentityRule matches certificates by identity. Both fields are regular
// expressions (Go syntax) that must match the whole value; an empty field
// matches anything, but a rule needs at least one.
type IdentityRule struct {
	// Subject matches any one subject alternative name of the certificate
	// (e-mail, URI, DNS name, Fulcio user name).
	Subject string `yaml:"subject" json:"subject,omitempty"`
	// Issuer matches the certificate's OIDC issuer.
	Issuer string `yaml:"issuer" json:"issuer,omitempty"`
}

// IdentityPolicy says which certificate identities raise alerts.
type IdentityPolicy struct {
	// Watch rules: a certificate matching any of them raises a
	// watched_identity alert (e.g. your release identity, to see every
	// signature made with it).
	Watch []IdentityRule `yaml:"watch"`
	// Allow rules: if there are any, a certificate matching none of them
	// raises an unexpected_identity alert (e.g. everything signed in your
	// private log must come from your CI issuer).
	Allow []IdentityRule `yaml:"allow"`
}

type compiledRule struct {
	rule             IdentityRule
	subject, issuer  *regexp.Regexp
	matchAnySubjects bool
}

// Matcher applies an IdentityPolicy. It is safe for concurrent use.
type Matcher struct {
	watch, allow []compiledRule
}

// Compile checks and compiles a policy.
func (p IdentityPolicy) Compile() (*Matcher, error) {
	m := &Matcher{}
	var err error
	if m.watch, err = compileRules("watch", p.Watch); err != nil {
		return nil, err
	}
	if m.allow, err = compileRules("allow", p.Allow); err != nil {
		return nil, err
	}
	return m, nil
}

func compileRules(what string, rules []IdentityRule) ([]compiledRule, error) {
	var out []compiledRule
	for i, r := range rules {
		if r.Subject == "" && r.Issuer == "" {
			return nil, fmt.Errorf("identities.%s[%d]: a rule needs a subject or an issuer", what, i)
		}
		c := compiledRule{rule: r, matchAnySubjects: r.Subject == ""}
		var err error
		if r.Subject != "" {
			if c.subject, err = regexp.Compile(`^(?:` + r.Subject + `)$`); err != nil {
				return nil, fmt.Errorf("identities.%s[%d].subject: %w", what, i, err)
			}
		}
		if r.Issuer != "" {
			if c.issuer, err = regexp.Compile(`^(?:` + r.Issuer + `)$`); err != nil {
				return nil, fmt.Errorf("identities.%s[%d].issuer: %w", what, i, err)
			}
		}
		out = append(out, c)
	}
	return out, nil
}

func (c *compiledRule) matches(id Identity) bool {
	if c.issuer != nil && !c.issuer.MatchString(id.Issuer) {
		return false
	}
	if c.matchAnySubjects {
		return true
	}
	for _, s := range id.Subjects {
		if c.subject.MatchString(s) {
			return true
		}
	}
	return false
}

// Finding is why a certificate raised an alert.
type Finding struct {
	Type string // AlertWatchedIdentity or AlertUnexpectedIdentity
	Rule *IdentityRule
}

// Check returns what the policy says of a certificate identity: a
// watched_identity finding for the first watch rule it matches, and an
// unexpected_identity finding if allow rules exist and none matches.
func (m *Matcher) Check(id Identity) []Finding {
	var out []Finding
	for i := range m.watch {
		if m.watch[i].matches(id) {
			out = append(out, Finding{Type: AlertWatchedIdentity, Rule: &m.watch[i].rule})
			break
		}
	}
	if len(m.allow) > 0 {
		allowed := false
		for i := range m.allow {
			if m.allow[i].matches(id) {
				allowed = true
				break
			}
		}
		if !allowed {
			out = append(out, Finding{Type: AlertUnexpectedIdentity})
		}
	}
	return out
}

// Empty reports whether the policy checks nothing.
func (m *Matcher) Empty() bool { return m == nil || (len(m.watch) == 0 && len(m.allow) == 0) }

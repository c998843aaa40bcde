package oidc

import (
	"fmt"
	"net"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"text/template"
	"time"
)

// IssuerConfig configures one trusted OIDC issuer. It is decoded from the
// `issuers:` list of a service's YAML config; the field comments are the
// reference manual for that list (see docs/ca.md).
type IssuerConfig struct {
	// URL is the issuer URL exactly as it appears in the tokens' `iss` claim,
	// e.g. https://token.actions.githubusercontent.com. It may contain `*`
	// wildcards, each matching one run of [-_a-zA-Z0-9] (so a `*` never spans
	// a `.` or a `/`), for per-cluster issuers such as
	// https://oidc.eks.*.amazonaws.com/id/*. The URL must be https unless its
	// host is a loopback address.
	URL string `yaml:"url"`

	// Type selects how a token is turned into a certificate identity: email,
	// github-workflow, gitlab-pipeline, forgejo-actions (alias gitea-actions),
	// buildkite-job, kubernetes, spiffe, uri, username, or ci-provider (then
	// CIProvider names a template from the config's `ci_templates`).
	Type string `yaml:"type"`

	// Audience is the value the token's `aud` claim must contain.
	// Default: sigstore.
	Audience string `yaml:"audience"`

	// CIProvider names the claim template used by type ci-provider. It may
	// also override the built-in template of github-workflow,
	// gitlab-pipeline, forgejo-actions and buildkite-job.
	CIProvider string `yaml:"ci_provider"`

	// TemplateValues are default values for claim templates, e.g.
	// `url: https://github.example.com` for GitHub Enterprise Server. Claims
	// in the token win over these defaults.
	TemplateValues map[string]string `yaml:"template_values"`

	// SubjectDomain is required by types uri (scheme://host that every `sub`
	// must start with) and username (the domain appended as sub!domain).
	SubjectDomain string `yaml:"subject_domain"`

	// SPIFFETrustDomain is required by type spiffe: the trust domain every
	// `sub` (a SPIFFE ID) must belong to.
	SPIFFETrustDomain string `yaml:"spiffe_trust_domain"`

	// SkipEmailVerification accepts email tokens whose `email_verified`
	// claim is not true. Leave false unless the IdP never sets it.
	SkipEmailVerification bool `yaml:"skip_email_verification"`

	// CACertFile is a PEM file of CA certificates trusted for TLS to this
	// issuer (discovery and JWKS), in addition to the system roots.
	CACertFile string `yaml:"ca_cert_file"`

	// Algorithms is the allow-list of JWS `alg` values. Default: RS256,
	// RS384, RS512, PS256, PS384, PS512, ES256, ES384, ES512, EdDSA. `none`
	// and the HMAC algorithms (HS*) are always rejected.
	Algorithms []string `yaml:"algorithms"`

	// Policy restricts which identities of this issuer may obtain a
	// certificate. Empty means every valid token is accepted.
	Policy Policy `yaml:"policy"`

	// Description is shown in logs only.
	Description string `yaml:"description"`
}

// CITemplate maps token claims to a certificate's SAN and Fulcio extensions,
// like Fulcio's ci-provider metadata. Each value is either a claim name whose
// value is copied, or, when it contains `{{`, a Go text/template executed
// over the claims (missing keys are an error). Nested claims are flattened
// with dots (`kubernetes.io.namespace`); reach them with
// `{{ index . "kubernetes.io.namespace" }}`.
type CITemplate struct {
	// SAN renders the certificate's URI subject alternative name. Required.
	SAN string `yaml:"san"`
	// Defaults are template values used when the token lacks the claim,
	// e.g. url: https://github.com.
	Defaults map[string]string `yaml:"defaults"`
	// Extensions maps Fulcio extension names (github-workflow-trigger,
	// build-signer-uri, ..., deployment-environment; see docs/ca.md) to a
	// claim name or template. Issuer (.1.1/.1.8) and token subject (.1.24)
	// are always set from `iss` and `sub` and cannot be templated.
	Extensions map[string]string `yaml:"extensions"`
}

// Issuer types.
const (
	TypeEmail          = "email"
	TypeGitHubWorkflow = "github-workflow"
	TypeGitLabPipeline = "gitlab-pipeline"
	TypeForgejoActions = "forgejo-actions"
	TypeGiteaActions   = "gitea-actions"
	TypeBuildkiteJob   = "buildkite-job"
	TypeKubernetes     = "kubernetes"
	TypeSPIFFE         = "spiffe"
	TypeURI            = "uri"
	TypeUsername       = "username"
	TypeCIProvider     = "ci-provider"
)

// DefaultAudience is the `aud` Sigstore clients request by default.
const DefaultAudience = "sigstore"

var defaultAlgorithms = []string{"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"}

// Options tune a Verifier. The zero value is usable.
type Options struct {
	// CITemplates are named claim templates for ci-provider issuers; they
	// extend and may replace the built-in ones.
	CITemplates map[string]CITemplate
	// Leeway tolerated on exp, nbf and iat. Default 1 minute.
	Leeway time.Duration
	// KeyRefreshInterval is the minimum time between two JWKS fetches for
	// one issuer caused by tokens with an unknown key ID. Default 30s.
	KeyRefreshInterval time.Duration
	// DiscoveryRetry is how long a failed discovery is remembered before
	// it is retried. Default 10s.
	DiscoveryRetry time.Duration
	// MaxWildcardIssuers bounds the cache of issuers matched through
	// wildcard URLs. Default 100.
	MaxWildcardIssuers int
	// VerifiedTokens bounds the cache of tokens whose signature, claim
	// mapping and policy have been checked (see Verifier). Default
	// DefaultVerifiedTokens; negative disables the cache.
	VerifiedTokens int
	// Now is the clock; default time.Now.
	Now func() time.Time
}

// issuer is a validated IssuerConfig.
type issuer struct {
	cfg      IssuerConfig
	pattern  *regexp.Regexp // non-nil for wildcard URLs
	algs     []string
	template *compiledTemplate // for template-driven types
}

func compileIssuer(cfg IssuerConfig, templates map[string]*compiledTemplate) (*issuer, error) {
	if cfg.Audience == "" {
		cfg.Audience = DefaultAudience
	}
	if cfg.Type == TypeGiteaActions {
		cfg.Type = TypeForgejoActions
	}
	u, err := url.Parse(strings.ReplaceAll(cfg.URL, "*", "1"))
	if err != nil || u.Host == "" {
		return nil, fmt.Errorf("issuer %q: url must be absolute", cfg.URL)
	}
	if u.Scheme != "https" && !(u.Scheme == "http" && isLoopback(u.Hostname())) {
		return nil, fmt.Errorf("issuer %q: url must be https (http is allowed only on loopback)", cfg.URL)
	}
	is := &issuer{cfg: cfg}
	if strings.Contains(cfg.URL, "*") {
		if cfg.Type == TypeSPIFFE {
			return nil, fmt.Errorf("issuer %q: spiffe issuers cannot use wildcards", cfg.URL)
		}
		quoted := regexp.QuoteMeta(cfg.URL)
		is.pattern = regexp.MustCompile("^" + strings.ReplaceAll(quoted, `\*`, `[-_a-zA-Z0-9]+`) + "$")
	}
	is.algs = cfg.Algorithms
	if len(is.algs) == 0 {
		is.algs = defaultAlgorithms
	}
	for _, a := range is.algs {
		if !slices.Contains(defaultAlgorithms, a) {
			return nil, fmt.Errorf("issuer %q: algorithm %q is not allowed (only asymmetric JWS algorithms: %s)", cfg.URL, a, strings.Join(defaultAlgorithms, ", "))
		}
	}
	switch cfg.Type {
	case TypeEmail, TypeKubernetes:
	case TypeSPIFFE:
		if cfg.SPIFFETrustDomain == "" || strings.ContainsAny(cfg.SPIFFETrustDomain, "/:") {
			return nil, fmt.Errorf("issuer %q: type spiffe needs spiffe_trust_domain (a bare domain such as example.org)", cfg.URL)
		}
	case TypeURI:
		sd, err := url.Parse(cfg.SubjectDomain)
		if err != nil || sd.Scheme == "" || sd.Host == "" {
			return nil, fmt.Errorf("issuer %q: type uri needs subject_domain as scheme://host", cfg.URL)
		}
	case TypeUsername:
		if cfg.SubjectDomain == "" || strings.Contains(cfg.SubjectDomain, "://") {
			return nil, fmt.Errorf("issuer %q: type username needs subject_domain without a scheme", cfg.URL)
		}
	case TypeGitHubWorkflow, TypeGitLabPipeline, TypeForgejoActions, TypeBuildkiteJob, TypeCIProvider:
		name := cfg.CIProvider
		if name == "" {
			if cfg.Type == TypeCIProvider {
				return nil, fmt.Errorf("issuer %q: type ci-provider needs ci_provider (a template name)", cfg.URL)
			}
			name = cfg.Type
		}
		t, ok := templates[name]
		if !ok {
			return nil, fmt.Errorf("issuer %q: unknown ci_provider template %q", cfg.URL, name)
		}
		is.template = t
	case "":
		return nil, fmt.Errorf("issuer %q: type is required", cfg.URL)
	default:
		return nil, fmt.Errorf("issuer %q: unknown type %q", cfg.URL, cfg.Type)
	}
	if err := cfg.Policy.validate(); err != nil {
		return nil, fmt.Errorf("issuer %q: %w", cfg.URL, err)
	}
	return is, nil
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// compiledTemplate is a parsed CITemplate.
type compiledTemplate struct {
	name     string
	san      *template.Template
	defaults map[string]string
	exts     []compiledExt
}

type compiledExt struct {
	name  string
	claim string             // copy this claim, or
	tmpl  *template.Template // execute this
}

func compileTemplate(name string, t CITemplate) (*compiledTemplate, error) {
	if t.SAN == "" {
		return nil, fmt.Errorf("ci template %q: san is required", name)
	}
	san, err := template.New("san").Option("missingkey=error").Parse(t.SAN)
	if err != nil {
		return nil, fmt.Errorf("ci template %q: san: %w", name, err)
	}
	ct := &compiledTemplate{name: name, san: san, defaults: t.Defaults}
	for _, f := range extensionFields {
		v, ok := t.Extensions[f.name]
		if !ok || v == "" {
			continue
		}
		ext := compiledExt{name: f.name}
		if strings.Contains(v, "{{") {
			ext.tmpl, err = template.New(f.name).Option("missingkey=error").Parse(v)
			if err != nil {
				return nil, fmt.Errorf("ci template %q: extension %s: %w", name, f.name, err)
			}
		} else {
			ext.claim = v
		}
		ct.exts = append(ct.exts, ext)
	}
	for k := range t.Extensions {
		if !slices.ContainsFunc(extensionFields, func(f extensionField) bool { return f.name == k }) {
			return nil, fmt.Errorf("ci template %q: unknown extension %q", name, k)
		}
	}
	return ct, nil
}

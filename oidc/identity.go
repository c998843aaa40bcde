package oidc

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/mail"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"text/template"
)

// SANKind is the type of a certificate's single subject alternative name.
type SANKind int

const (
	SANEmail     SANKind = iota + 1 // rfc822Name
	SANURI                          // uniformResourceIdentifier
	SANOtherName                    // otherName 1.3.6.1.4.1.57264.1.7, UTF8String
)

// Identity is a verified token turned into what a certificate says. It is
// produced only by Verifier.Verify and is never partially filled.
type Identity struct {
	// Issuer is the token's `iss`, the issuer the certificate names.
	Issuer string
	// Subject is the token's `sub`.
	Subject string
	// Type is the issuer type that mapped the token (see IssuerConfig.Type).
	Type string
	// SANKind and SAN are the certificate's one subject alternative name.
	SANKind SANKind
	SAN     string
	// Challenges are the strings a proof of possession may sign: the email
	// for email issuers, otherwise `sub`, plus the `email` claim when the
	// token carries one (cosign and sigstore-go sign the email whenever a
	// token has it).
	Challenges []string
	// Extensions are the Fulcio certificate extensions to emit.
	Extensions Extensions
	// Claims are the token's claims, flattened with dots, as the policy and
	// templates saw them.
	Claims map[string]string
}

// Extensions holds the values of Fulcio's certificate extensions
// (OID 1.3.6.1.4.1.57264.1.x). Empty values are not emitted. Package ca
// renders them.
type Extensions struct {
	Issuer string // .1.1 (raw) and .1.8 (UTF8String)

	GithubWorkflowTrigger    string // .1.2, raw
	GithubWorkflowSHA        string // .1.3, raw
	GithubWorkflowName       string // .1.4, raw
	GithubWorkflowRepository string // .1.5, raw
	GithubWorkflowRef        string // .1.6, raw

	BuildSignerURI                      string // .1.9
	BuildSignerDigest                   string // .1.10
	RunnerEnvironment                   string // .1.11
	SourceRepositoryURI                 string // .1.12
	SourceRepositoryDigest              string // .1.13
	SourceRepositoryRef                 string // .1.14
	SourceRepositoryIdentifier          string // .1.15
	SourceRepositoryOwnerURI            string // .1.16
	SourceRepositoryOwnerIdentifier     string // .1.17
	BuildConfigURI                      string // .1.18
	BuildConfigDigest                   string // .1.19
	BuildTrigger                        string // .1.20
	RunInvocationURI                    string // .1.21
	SourceRepositoryVisibilityAtSigning string // .1.22
	DeploymentEnvironment               string // .1.23
	Subject                             string // .1.24
}

type extensionField struct {
	name  string
	field func(*Extensions) *string
}

// extensionFields are the template-settable extensions, by config name.
var extensionFields = []extensionField{
	{"github-workflow-trigger", func(e *Extensions) *string { return &e.GithubWorkflowTrigger }},
	{"github-workflow-sha", func(e *Extensions) *string { return &e.GithubWorkflowSHA }},
	{"github-workflow-name", func(e *Extensions) *string { return &e.GithubWorkflowName }},
	{"github-workflow-repository", func(e *Extensions) *string { return &e.GithubWorkflowRepository }},
	{"github-workflow-ref", func(e *Extensions) *string { return &e.GithubWorkflowRef }},
	{"build-signer-uri", func(e *Extensions) *string { return &e.BuildSignerURI }},
	{"build-signer-digest", func(e *Extensions) *string { return &e.BuildSignerDigest }},
	{"runner-environment", func(e *Extensions) *string { return &e.RunnerEnvironment }},
	{"source-repository-uri", func(e *Extensions) *string { return &e.SourceRepositoryURI }},
	{"source-repository-digest", func(e *Extensions) *string { return &e.SourceRepositoryDigest }},
	{"source-repository-ref", func(e *Extensions) *string { return &e.SourceRepositoryRef }},
	{"source-repository-identifier", func(e *Extensions) *string { return &e.SourceRepositoryIdentifier }},
	{"source-repository-owner-uri", func(e *Extensions) *string { return &e.SourceRepositoryOwnerURI }},
	{"source-repository-owner-identifier", func(e *Extensions) *string { return &e.SourceRepositoryOwnerIdentifier }},
	{"build-config-uri", func(e *Extensions) *string { return &e.BuildConfigURI }},
	{"build-config-digest", func(e *Extensions) *string { return &e.BuildConfigDigest }},
	{"build-trigger", func(e *Extensions) *string { return &e.BuildTrigger }},
	{"run-invocation-uri", func(e *Extensions) *string { return &e.RunInvocationURI }},
	{"source-repository-visibility-at-signing", func(e *Extensions) *string { return &e.SourceRepositoryVisibilityAtSigning }},
	{"deployment-environment", func(e *Extensions) *string { return &e.DeploymentEnvironment }},
}

// BuiltinTemplates are the claim templates of the built-in CI issuer types,
// following the ones the public Fulcio instance configures.
var BuiltinTemplates = map[string]CITemplate{
	TypeGitHubWorkflow: {
		SAN:      "{{ .url }}/{{ .job_workflow_ref }}",
		Defaults: map[string]string{"url": "https://github.com"},
		Extensions: map[string]string{
			"github-workflow-trigger":                 "event_name",
			"github-workflow-sha":                     "sha",
			"github-workflow-name":                    "workflow",
			"github-workflow-repository":              "repository",
			"github-workflow-ref":                     "ref",
			"build-signer-uri":                        "{{ .url }}/{{ .job_workflow_ref }}",
			"build-signer-digest":                     "job_workflow_sha",
			"runner-environment":                      "runner_environment",
			"source-repository-uri":                   "{{ .url }}/{{ .repository }}",
			"source-repository-digest":                "sha",
			"source-repository-ref":                   "ref",
			"source-repository-identifier":            "repository_id",
			"source-repository-owner-uri":             "{{ .url }}/{{ .repository_owner }}",
			"source-repository-owner-identifier":      "repository_owner_id",
			"build-config-uri":                        "{{ .url }}/{{ .workflow_ref }}",
			"build-config-digest":                     "workflow_sha",
			"build-trigger":                           "event_name",
			"run-invocation-uri":                      "{{ .url }}/{{ .repository }}/actions/runs/{{ .run_id }}/attempts/{{ .run_attempt }}",
			"source-repository-visibility-at-signing": "repository_visibility",
			"deployment-environment":                  "{{ .environment }}",
		},
	},
	TypeGitLabPipeline: {
		// url defaults to the token's issuer (the GitLab instance).
		SAN: "https://{{ .ci_config_ref_uri }}",
		Extensions: map[string]string{
			"build-signer-uri":                        "https://{{ .ci_config_ref_uri }}",
			"build-signer-digest":                     "ci_config_sha",
			"runner-environment":                      "runner_environment",
			"source-repository-uri":                   "{{ .url }}/{{ .project_path }}",
			"source-repository-digest":                "sha",
			"source-repository-ref":                   `refs/{{ if eq .ref_type "branch" }}heads{{ else }}tags{{ end }}/{{ .ref }}`,
			"source-repository-identifier":            "project_id",
			"source-repository-owner-uri":             "{{ .url }}/{{ .namespace_path }}",
			"source-repository-owner-identifier":      "namespace_id",
			"build-config-uri":                        "https://{{ .ci_config_ref_uri }}",
			"build-config-digest":                     "ci_config_sha",
			"build-trigger":                           "pipeline_source",
			"run-invocation-uri":                      "{{ .url }}/{{ .project_path }}/-/jobs/{{ .job_id }}",
			"source-repository-visibility-at-signing": "project_visibility",
			"deployment-environment":                  "{{ .environment }}",
		},
	},
	// Forgejo (and Gitea) Actions tokens follow GitHub's claim names; the
	// instance URL defaults to the issuer minus its /api/actions suffix.
	TypeForgejoActions: {
		SAN: "{{ .url }}/{{ .workflow_ref }}",
		Extensions: map[string]string{
			"github-workflow-trigger":      "event_name",
			"github-workflow-sha":          "sha",
			"github-workflow-name":         "workflow",
			"github-workflow-repository":   "repository",
			"github-workflow-ref":          "ref",
			"build-signer-uri":             "{{ .url }}/{{ .workflow_ref }}",
			"source-repository-uri":        "{{ .url }}/{{ .repository }}",
			"source-repository-digest":     "sha",
			"source-repository-ref":        "ref",
			"source-repository-owner-uri":  "{{ .url }}/{{ .repository_owner }}",
			"build-config-uri":             "{{ .url }}/{{ .workflow_ref }}",
			"build-trigger":                "event_name",
			"run-invocation-uri":           "{{ .url }}/{{ .repository }}/actions/runs/{{ .run_id }}",
			"source-repository-identifier": "{{ .repository_id }}",
			"deployment-environment":       "{{ .environment }}",
		},
	},
	TypeBuildkiteJob: {
		SAN: "https://buildkite.com/{{ .organization_slug }}/{{ .pipeline_slug }}",
		Extensions: map[string]string{
			"source-repository-digest": "build_commit",
			"run-invocation-uri":       "https://buildkite.com/{{ .organization_slug }}/{{ .pipeline_slug }}/builds/{{ .build_number }}",
		},
	},
}

// Templates that default optional claims to "" so that their absence is
// not an error: `environment` is set only for jobs with a deployment
// environment, `repository_id` only by newer Forgejo versions.
var optionalClaims = map[string][]string{
	TypeGitHubWorkflow: {"environment"},
	TypeGitLabPipeline: {"environment"},
	TypeForgejoActions: {"environment", "repository_id"},
}

// errMissingClaim reports a claim a mapping needs.
func errMissingClaim(name string) error {
	return fmt.Errorf("%w: %q", ErrMissingClaim, name)
}

// mapIdentity turns verified claims into an Identity according to the
// issuer's type. The caller has checked iss, aud, exp and the signature.
func mapIdentity(is *issuer, iss, sub string, claims map[string]string) (*Identity, error) {
	id := &Identity{Issuer: iss, Subject: sub, Type: is.cfg.Type, Claims: claims}
	id.Extensions.Issuer = iss
	id.Extensions.Subject = sub
	if sub == "" && is.cfg.Type != TypeEmail {
		return nil, errMissingClaim("sub")
	}
	switch is.cfg.Type {
	case TypeEmail:
		email := claims["email"]
		if email == "" {
			return nil, errMissingClaim("email")
		}
		if !is.cfg.SkipEmailVerification && claims["email_verified"] != "true" {
			return nil, fmt.Errorf("%w: email_verified is not true", ErrInvalidClaim)
		}
		if a, err := mail.ParseAddress(email); err != nil || a.Address != email {
			return nil, fmt.Errorf("%w: email %q is not an email address", ErrInvalidClaim, email)
		}
		id.SANKind, id.SAN = SANEmail, email
		id.Challenges = []string{email}
		return id, nil
	case TypeKubernetes:
		ns, sa := claims["kubernetes.io.namespace"], claims["kubernetes.io.serviceaccount.name"]
		if ns == "" {
			return nil, errMissingClaim("kubernetes.io.namespace")
		}
		if sa == "" {
			return nil, errMissingClaim("kubernetes.io.serviceaccount.name")
		}
		id.SANKind = SANURI
		id.SAN = (&url.URL{Scheme: "https", Host: "kubernetes.io", Path: "/namespaces/" + ns + "/serviceaccounts/" + sa}).String()
	case TypeSPIFFE:
		u, err := url.Parse(sub)
		if err != nil || u.Scheme != "spiffe" || u.Host != is.cfg.SPIFFETrustDomain || u.RawQuery != "" || u.Fragment != "" || u.User != nil {
			return nil, fmt.Errorf("%w: sub %q is not a SPIFFE ID in trust domain %q", ErrInvalidClaim, sub, is.cfg.SPIFFETrustDomain)
		}
		id.SANKind, id.SAN = SANURI, sub
	case TypeURI:
		u, err := url.Parse(sub)
		sd, _ := url.Parse(is.cfg.SubjectDomain)
		if err != nil || u.Scheme != sd.Scheme || u.Host != sd.Host {
			return nil, fmt.Errorf("%w: sub %q is not a URI under %q", ErrInvalidClaim, sub, is.cfg.SubjectDomain)
		}
		id.SANKind, id.SAN = SANURI, sub
	case TypeUsername:
		if strings.Contains(sub, "!") || strings.Contains(sub, "@") {
			return nil, fmt.Errorf("%w: sub %q must not contain '!' or '@'", ErrInvalidClaim, sub)
		}
		id.SANKind, id.SAN = SANOtherName, sub+"!"+is.cfg.SubjectDomain
	default: // template-driven CI types
		if err := applyTemplate(is, id); err != nil {
			return nil, err
		}
	}
	id.Challenges = []string{sub}
	if e := claims["email"]; e != "" && e != sub {
		id.Challenges = append(id.Challenges, e)
	}
	return id, nil
}

func applyTemplate(is *issuer, id *Identity) error {
	data := map[string]string{}
	for k, v := range is.template.defaults {
		data[k] = v
	}
	if _, ok := data["url"]; !ok {
		switch is.cfg.Type {
		case TypeGitLabPipeline:
			data["url"] = strings.TrimSuffix(id.Issuer, "/")
		case TypeForgejoActions:
			data["url"] = strings.TrimSuffix(strings.TrimSuffix(id.Issuer, "/"), "/api/actions")
		}
	}
	for _, k := range optionalClaims[is.cfg.Type] {
		if _, ok := data[k]; !ok {
			data[k] = ""
		}
	}
	for k, v := range is.cfg.TemplateValues {
		data[k] = v
	}
	for k, v := range id.Claims {
		data[k] = v
	}
	san, err := execTemplate(is.template.san, data)
	if err != nil {
		return err
	}
	u, err := url.Parse(san)
	if err != nil || !u.IsAbs() {
		return fmt.Errorf("%w: rendered SAN %q is not an absolute URI", ErrInvalidClaim, san)
	}
	id.SANKind, id.SAN = SANURI, san
	for _, ext := range is.template.exts {
		var v string
		if ext.tmpl != nil {
			if v, err = execTemplate(ext.tmpl, data); err != nil {
				return err
			}
		} else {
			var ok bool
			if v, ok = data[ext.claim]; !ok {
				return errMissingClaim(ext.claim)
			}
		}
		for _, f := range extensionFields {
			if f.name == ext.name {
				*f.field(&id.Extensions) = v
			}
		}
	}
	return nil
}

var missingKeyErr = "map has no entry for key "

func execTemplate(t *template.Template, data map[string]string) (string, error) {
	var b strings.Builder
	if err := t.Execute(&b, data); err != nil {
		// text/template reports a missing key as `... map has no entry for key "x"`.
		if i := strings.Index(err.Error(), missingKeyErr); i >= 0 {
			name, _ := strconv.Unquote(err.Error()[i+len(missingKeyErr):])
			return "", errMissingClaim(name)
		}
		return "", fmt.Errorf("%w: template %s: %w", ErrInvalidClaim, t.Name(), err)
	}
	return b.String(), nil
}

// flattenClaims turns JSON claims (decoded with UseNumber) into strings:
// nested objects are joined with dots, numbers are printed as they appear in
// the token, booleans as true/false. Arrays and nulls are left out.
func flattenClaims(prefix string, in map[string]any, out map[string]string) error {
	keys := make([]string, 0, len(in))
	for k := range in {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		name := k
		if prefix != "" {
			name = prefix + "." + k
		}
		switch v := in[k].(type) {
		case string:
			out[name] = v
		case bool:
			out[name] = strconv.FormatBool(v)
		case json.Number:
			out[name] = v.String()
		case map[string]any:
			if err := flattenClaims(name, v, out); err != nil {
				return err
			}
		case []any, nil:
		default:
			return errors.New("unexpected claim type")
		}
	}
	return nil
}

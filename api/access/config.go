package access

import (
	"errors"
	"fmt"
	"net/url"
	"time"

	"github.com/hallmark-dev/hallmark/oidc"
)

// Config is a log's write policy: the `write:` block of a log in
// hallmark-log's configuration. Exactly one of Open or Allow is set.
//
//	write:
//	  allow:
//	    - name: our-ci
//	      certificates:
//	        roots_file: hallmark-ca-chain.pem
//	        identity:
//	          allow:
//	            issuer: [https://token.actions.githubusercontent.com]
//	            subject: ["https://github.com/acme/*"]
//	    - name: release-key
//	      keys:
//	        files: [release.pub]
type Config struct {
	// Open accepts every well-formed entry from anyone: the behaviour of a
	// log without write policy. A log without a write: block is open too,
	// and says so in a warning at every start.
	Open bool `yaml:"open"`
	// Allow lists the rules of the policy; a write is accepted when any
	// one of them admits it, tried in order.
	Allow []Rule `yaml:"allow"`
}

// Rule is one way to be allowed to write. Exactly one of its kinds is set.
// Certificates and Keys judge the entry's signers (every key or
// certificate the entry names must pass); Token and ClientCertificate
// judge the caller, before the entry is read.
type Rule struct {
	// Name names the rule in refusals and logs. Default: rule <n>
	// (<kind>).
	Name string `yaml:"name"`

	Certificates      *CertificatesRule      `yaml:"certificates"`
	Keys              *KeysRule              `yaml:"keys"`
	Token             *TokenRule             `yaml:"token"`
	ClientCertificate *ClientCertificateRule `yaml:"client_certificate"`
}

// CertificatesRule admits entries signed with a certificate that chains
// to one of the roots, and whose identity the policy allows.
type CertificatesRule struct {
	// RootsFile is a PEM file of certificates: self-signed ones are the
	// roots, the others intermediates (a hallmark-ca chain file works as
	// it is). Intermediates must be listed here: those an entry carries
	// are not used. Required.
	RootsFile string `yaml:"roots_file"`
	// Identity restricts the certificates' identities, in the language of
	// the CA's identity policy (docs/ca.md), over two claims: `issuer`
	// (the OIDC issuer of Fulcio's extension 1.3.6.1.4.1.57264.1.8, or
	// the legacy .1.1) and `subject` (the certificate's subject
	// alternative name: e-mail, URI or Fulcio user name). Empty: any
	// certificate of the roots.
	Identity oidc.Policy `yaml:"identity"`
}

// KeysRule admits entries signed with a listed public key (cosign --key,
// a KMS key), whatever certificate may carry it.
type KeysRule struct {
	// Files are PEM files of public keys (PUBLIC KEY blocks; several per
	// file allowed).
	Files []string `yaml:"files"`
	// TUF reads more keys from a TUF repository target, refreshed
	// periodically.
	TUF *TUFKeys `yaml:"tuf"`
}

// TUFKeys names a PEM file of public keys published as a TUF target.
type TUFKeys struct {
	// URL is the repository's metadata URL (http or https), or a local
	// directory holding the repository (e.g. one `hallmark tuf` writes).
	URL string `yaml:"url"`
	// RootFile is a trusted root.json of the repository (the first
	// version, or any later one). Required.
	RootFile string `yaml:"root_file"`
	// Target is the name of the target file of PEM public keys. Required.
	Target string `yaml:"target"`
	// CacheDir holds the client's verified metadata. Default: a temporary
	// directory.
	CacheDir string `yaml:"cache_dir"`
	// Refresh is how often the target is fetched again; a failed refresh
	// keeps the keys of the last good one (metric
	// hallmark_log_write_keys_refresh_failures_total). Default 10m.
	Refresh time.Duration `yaml:"refresh"`
}

// TokenRule admits callers that send `Authorization: Bearer <OIDC token>`
// (HTTP header or gRPC metadata) from one of the issuers, checked exactly
// as hallmark-ca checks tokens, identity policy included.
type TokenRule struct {
	// Issuers is the issuer catalogue, in the format of hallmark-ca's
	// issuers: list (oidc.IssuerConfig; each issuer's policy applies).
	// Set audience: to what your writers request (default sigstore).
	Issuers []oidc.IssuerConfig `yaml:"issuers"`
}

// ClientCertificateRule admits callers that present a TLS client
// certificate verified against listen.tls.client_ca_file.
type ClientCertificateRule struct {
	// Identity restricts the certificate's identity, as in
	// CertificatesRule, over the claims `subject` (each of the subject
	// common name and the subject alternative names is tried) and
	// `issuer` (the issuing CA's common name). Empty: any verified client.
	Identity oidc.Policy `yaml:"identity"`
}

// kind names the rule's kind, as in the config.
func (r *Rule) kind() string {
	switch {
	case r.Certificates != nil:
		return "certificates"
	case r.Keys != nil:
		return "keys"
	case r.Token != nil:
		return "token"
	case r.ClientCertificate != nil:
		return "client_certificate"
	}
	return ""
}

// Validate checks the policy's shape (files are read by New). Kind is the
// log's kind: tiles entries carry no signer, so only caller rules apply to
// them.
func (c *Config) Validate(kind string) error {
	if c.Open && len(c.Allow) > 0 {
		return errors.New("write: set either open: true or allow:, not both")
	}
	if !c.Open && len(c.Allow) == 0 {
		return errors.New("write: set open: true, or list at least one rule under allow: (docs/access.md)")
	}
	names := map[string]bool{}
	for i := range c.Allow {
		r := &c.Allow[i]
		n := 0
		for _, set := range []bool{r.Certificates != nil, r.Keys != nil, r.Token != nil, r.ClientCertificate != nil} {
			if set {
				n++
			}
		}
		if n != 1 {
			return fmt.Errorf("write.allow[%d]: set exactly one of certificates, keys, token, client_certificate", i)
		}
		if r.Name == "" {
			r.Name = fmt.Sprintf("rule %d (%s)", i+1, r.kind())
		}
		if names[r.Name] {
			return fmt.Errorf("write.allow[%d]: duplicate rule name %q", i, r.Name)
		}
		names[r.Name] = true
		if err := r.validate(kind); err != nil {
			return fmt.Errorf("write.allow[%d] (%s): %w", i, r.Name, err)
		}
	}
	return nil
}

func (r *Rule) validate(kind string) error {
	if (r.Certificates != nil || r.Keys != nil) && kind == "tiles" {
		return fmt.Errorf("%s rules judge an entry's signer, and tiles entries are opaque: use token or client_certificate", r.kind())
	}
	switch {
	case r.Certificates != nil:
		if r.Certificates.RootsFile == "" {
			return errors.New("certificates.roots_file is required")
		}
		return checkPolicy(r.Certificates.Identity, "issuer", "subject")
	case r.Keys != nil:
		k := r.Keys
		if len(k.Files) == 0 && k.TUF == nil {
			return errors.New("keys: list files, or a tuf target, or both")
		}
		if t := k.TUF; t != nil {
			if t.URL == "" || t.RootFile == "" || t.Target == "" {
				return errors.New("keys.tuf: url, root_file and target are required")
			}
			if u, err := url.Parse(t.URL); err == nil && u.Scheme != "" && u.Scheme != "http" && u.Scheme != "https" {
				return fmt.Errorf("keys.tuf.url %q: want an http(s) URL or a directory", t.URL)
			}
			if t.Refresh < 0 {
				return errors.New("keys.tuf.refresh must not be negative")
			}
		}
	case r.Token != nil:
		if len(r.Token.Issuers) == 0 {
			return errors.New("token.issuers: list at least one issuer")
		}
	case r.ClientCertificate != nil:
		return checkPolicy(r.ClientCertificate.Identity, "issuer", "subject")
	}
	return nil
}

// checkPolicy refuses identity policies over claims a certificate does not
// have (a typo would otherwise refuse everything, or nothing), and bad
// patterns.
func checkPolicy(p oidc.Policy, claims ...string) error {
	for _, m := range []map[string][]string{p.Allow, p.Deny} {
		for c := range m {
			ok := false
			for _, want := range claims {
				ok = ok || c == want
			}
			if !ok {
				return fmt.Errorf("identity: unknown claim %q (a certificate identity has %v)", c, claims)
			}
		}
	}
	return p.Validate()
}

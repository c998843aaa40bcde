package main

import (
	"crypto"
	"flag"
	"fmt"
	"os"
	"time"

	"github.com/hallmark-dev/hallmark/tlog/rekorv2"
	"github.com/hallmark-dev/hallmark/trust/clientconfig"
)

// specsFlag collects repeated key=value,key=value flags.
type specsFlag []clientconfig.Spec

func (l *specsFlag) String() string { return fmt.Sprint(*l) }
func (l *specsFlag) Set(s string) error {
	m, err := clientconfig.ParseSpec(s)
	if err != nil {
		return err
	}
	*l = append(*l, m)
	return nil
}

// runTrustRoot writes trusted_root.json for a real deployment from the
// services' URLs, public keys and certificate chains.
func runTrustRoot(args []string) error {
	fs := flag.NewFlagSet("trust-root", flag.ExitOnError)
	var rekor, ct, cas, tsas specsFlag
	fs.Var(&rekor, "rekor", "a Rekor log: url=URL,public-key=PEM[,api-version=1|2][,start=RFC3339] (repeatable)")
	fs.Var(&ct, "ct", "a CT log: url=URL,public-key=PEM[,start=RFC3339] (repeatable)")
	fs.Var(&cas, "ca", "a certificate authority: uri=URL,chain=PEM (issuer first, root last)[,start=RFC3339][,end=RFC3339] (repeatable: after hallmark-ca rotate-intermediate, the old chain with end= and the new one)")
	fs.Var(&tsas, "tsa", "a timestamp authority: uri=URL,chain=PEM[,start=RFC3339][,end=RFC3339] (repeatable, as --ca)")
	out := fs.String("out", "trusted_root.json", "output file")
	startFlag := fs.String("start", "", "default validity start (RFC 3339); default now")
	fs.Parse(args)
	start, err := startTime(*startFlag)
	if err != nil {
		return err
	}
	p, err := clientconfig.TrustedRootFromSpecs(clientconfig.TrustedRootSpecs{Rekor: rekor, CT: ct, CAs: cas, TSAs: tsas, Start: start, RekorV2KeyID: rekorV2KeyID})
	if err != nil {
		return err
	}
	raw, err := clientconfig.TrustedRoot(p)
	if err != nil {
		return err
	}
	return os.WriteFile(*out, raw, 0o644)
}

// startTime parses --start, now (to the second) if empty.
func startTime(s string) (time.Time, error) {
	if s == "" {
		return time.Now().UTC().Truncate(time.Second), nil
	}
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return t, fmt.Errorf("--start: %w", err)
	}
	return t, nil
}

// runSigningConfig writes signing_config.json (v0.2) naming the services
// clients sign with.
func runSigningConfig(args []string) error {
	fs := flag.NewFlagSet("signing-config", flag.ExitOnError)
	var rekor specsFlag
	caURL := fs.String("ca", "", "hallmark-ca (Fulcio API) URL")
	oidc := fs.String("oidc", "", "OIDC issuer URL for interactive sign-in (optional)")
	tsa := fs.String("tsa", "", "timestamp authority URL, e.g. https://ca.example.com/api/v1/timestamp (needed for keyless signing with Rekor v2)")
	fs.Var(&rekor, "rekor", "a Rekor log: url=URL[,api-version=1|2] (repeatable)")
	operator := fs.String("operator", "", "operator name (clients pick one log per operator)")
	out := fs.String("out", "signing_config.json", "output file")
	startFlag := fs.String("start", "", "validity start (RFC 3339); default now")
	fs.Parse(args)
	start, err := startTime(*startFlag)
	if err != nil {
		return err
	}
	p := clientconfig.SigningConfigParams{CAURL: *caURL, Operator: *operator, Start: start}
	if *oidc != "" {
		p.OIDCURLs = []string{*oidc}
	}
	if *tsa != "" {
		p.TSAURLs = []string{*tsa}
	}
	for _, m := range rekor {
		s, err := m.Service()
		if err != nil {
			return fmt.Errorf("--rekor: %w", err)
		}
		p.RekorURLs = append(p.RekorURLs, s)
	}
	raw, err := clientconfig.SigningConfig(p)
	if err != nil {
		return err
	}
	return os.WriteFile(*out, raw, 0o644)
}

// rekorV2KeyID identifies a Rekor v2 log as hallmark-log does.
func rekorV2KeyID(origin string, pub crypto.PublicKey) ([]byte, error) {
	id, err := rekorv2.KeyHash(origin, pub)
	if err != nil {
		return nil, err
	}
	return id[:], nil
}

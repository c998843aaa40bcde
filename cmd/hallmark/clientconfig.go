package main

import (
	"crypto/x509"
	"encoding/pem"
	"errors"
	"flag"
	"fmt"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/hallmark-dev/hallmark/api/clientconfig"
	"github.com/hallmark-dev/hallmark/ca"
	"github.com/hallmark-dev/hallmark/tlog/rekorv2"
)

// listFlag collects repeated key=value,key=value flags.
type listFlag []map[string]string

func (l *listFlag) String() string { return fmt.Sprint(*l) }
func (l *listFlag) Set(s string) error {
	m := map[string]string{}
	for _, kv := range strings.Split(s, ",") {
		k, v, ok := strings.Cut(kv, "=")
		if !ok {
			return fmt.Errorf("%q: want key=value pairs separated by commas", s)
		}
		m[k] = v
	}
	*l = append(*l, m)
	return nil
}

func readPublicKey(path string) (any, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	b, _ := pem.Decode(raw)
	if b == nil {
		return nil, fmt.Errorf("%s: no PEM block", path)
	}
	return x509.ParsePKIXPublicKey(b.Bytes)
}

func parseStart(m map[string]string, def time.Time) (time.Time, error) {
	if s := m["start"]; s != "" {
		return time.Parse(time.RFC3339, s)
	}
	return def, nil
}

// runTrustRoot writes trusted_root.json for a real deployment from the
// services' URLs, public keys and certificate chains.
func runTrustRoot(args []string) error {
	fs := flag.NewFlagSet("trust-root", flag.ExitOnError)
	var rekor, ct, cas, tsas listFlag
	fs.Var(&rekor, "rekor", "a Rekor log: url=URL,public-key=PEM[,api-version=1|2][,start=RFC3339] (repeatable)")
	fs.Var(&ct, "ct", "a CT log: url=URL,public-key=PEM[,start=RFC3339] (repeatable)")
	fs.Var(&cas, "ca", "a certificate authority: uri=URL,chain=PEM (issuer first, root last)[,start=RFC3339][,end=RFC3339] (repeatable: after hallmark-ca rotate-intermediate, the old chain with end= and the new one)")
	fs.Var(&tsas, "tsa", "a timestamp authority: uri=URL,chain=PEM[,start=RFC3339][,end=RFC3339] (repeatable, as --ca)")
	out := fs.String("out", "trusted_root.json", "output file")
	startFlag := fs.String("start", "", "default validity start (RFC 3339); default now")
	fs.Parse(args)
	start := time.Now().UTC().Truncate(time.Second)
	if *startFlag != "" {
		var err error
		if start, err = time.Parse(time.RFC3339, *startFlag); err != nil {
			return fmt.Errorf("--start: %w", err)
		}
	}
	var p clientconfig.TrustedRootParams
	addLog := func(m map[string]string, v2 bool) (clientconfig.Log, error) {
		if m["url"] == "" || m["public-key"] == "" {
			return clientconfig.Log{}, errors.New("a log needs url= and public-key=")
		}
		pub, err := readPublicKey(m["public-key"])
		if err != nil {
			return clientconfig.Log{}, err
		}
		l := clientconfig.Log{BaseURL: m["url"], PublicKey: pub}
		if l.Start, err = parseStart(m, start); err != nil {
			return l, err
		}
		if v2 {
			u, err := url.Parse(m["url"])
			if err != nil {
				return l, err
			}
			id, err := rekorv2.KeyHash(u.Hostname(), pub)
			if err != nil {
				return l, err
			}
			l.KeyID = id[:]
		}
		return l, nil
	}
	for _, m := range rekor {
		v, err := apiVersion(m)
		if err != nil {
			return err
		}
		l, err := addLog(m, v == 2)
		if err != nil {
			return fmt.Errorf("--rekor: %w", err)
		}
		p.Tlogs = append(p.Tlogs, l)
	}
	for _, m := range ct {
		l, err := addLog(m, false)
		if err != nil {
			return fmt.Errorf("--ct: %w", err)
		}
		p.CTLogs = append(p.CTLogs, l)
	}
	addAuthority := func(m map[string]string) (clientconfig.Authority, error) {
		if m["uri"] == "" || m["chain"] == "" {
			return clientconfig.Authority{}, errors.New("an authority needs uri= and chain=")
		}
		chain, err := ca.LoadChain(m["chain"])
		if err != nil {
			return clientconfig.Authority{}, err
		}
		s, err := parseStart(m, start)
		if err != nil {
			return clientconfig.Authority{}, err
		}
		a := clientconfig.Authority{URI: m["uri"], Chain: chain, Start: s}
		if e := m["end"]; e != "" {
			if a.End, err = time.Parse(time.RFC3339, e); err != nil {
				return a, fmt.Errorf("end=%q: %w", e, err)
			}
		}
		return a, nil
	}
	for _, m := range cas {
		a, err := addAuthority(m)
		if err != nil {
			return fmt.Errorf("--ca: %w", err)
		}
		p.CertificateAuthorities = append(p.CertificateAuthorities, a)
	}
	for _, m := range tsas {
		a, err := addAuthority(m)
		if err != nil {
			return fmt.Errorf("--tsa: %w", err)
		}
		p.TimestampAuthorities = append(p.TimestampAuthorities, a)
	}
	raw, err := clientconfig.TrustedRoot(p)
	if err != nil {
		return err
	}
	return os.WriteFile(*out, raw, 0o644)
}

func apiVersion(m map[string]string) (uint32, error) {
	v := m["api-version"]
	if v == "" {
		return 1, nil
	}
	n, err := strconv.ParseUint(v, 10, 32)
	if err != nil || (n != 1 && n != 2) {
		return 0, fmt.Errorf("api-version=%q: want 1 or 2", v)
	}
	return uint32(n), nil
}

// runSigningConfig writes signing_config.json (v0.2) naming the services
// clients sign with.
func runSigningConfig(args []string) error {
	fs := flag.NewFlagSet("signing-config", flag.ExitOnError)
	var rekor listFlag
	caURL := fs.String("ca", "", "hallmark-ca (Fulcio API) URL")
	oidc := fs.String("oidc", "", "OIDC issuer URL for interactive sign-in (optional)")
	tsa := fs.String("tsa", "", "timestamp authority URL, e.g. https://ca.example.com/api/v1/timestamp (needed for keyless signing with Rekor v2)")
	fs.Var(&rekor, "rekor", "a Rekor log: url=URL[,api-version=1|2] (repeatable)")
	operator := fs.String("operator", "", "operator name (clients pick one log per operator)")
	out := fs.String("out", "signing_config.json", "output file")
	startFlag := fs.String("start", "", "validity start (RFC 3339); default now")
	fs.Parse(args)
	p := clientconfig.SigningConfigParams{CAURL: *caURL, Operator: *operator, Start: time.Now().UTC().Truncate(time.Second)}
	if *startFlag != "" {
		var err error
		if p.Start, err = time.Parse(time.RFC3339, *startFlag); err != nil {
			return fmt.Errorf("--start: %w", err)
		}
	}
	if *oidc != "" {
		p.OIDCURLs = []string{*oidc}
	}
	if *tsa != "" {
		p.TSAURLs = []string{*tsa}
	}
	for _, m := range rekor {
		v, err := apiVersion(m)
		if err != nil {
			return err
		}
		if m["url"] == "" {
			return errors.New("--rekor needs url=")
		}
		p.RekorURLs = append(p.RekorURLs, clientconfig.Service{URL: m["url"], APIVersion: v})
	}
	raw, err := clientconfig.SigningConfig(p)
	if err != nil {
		return err
	}
	return os.WriteFile(*out, raw, 0o644)
}

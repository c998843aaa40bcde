package main

import (
	"bytes"
	"crypto"
	"errors"
	"flag"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/hallmark-dev/hallmark/ca"
	"github.com/hallmark-dev/hallmark/internal/fileutil"
	"github.com/hallmark-dev/hallmark/tlog/format"
	"github.com/hallmark-dev/hallmark/trust/tufrepo"
)

const tufUsage = `usage:
  hallmark tuf init    --repo DIR --keys DIR --trusted-root FILE [--signing-config FILE] [expiry flags]
                       [--root-key PUB ... --root-threshold N] [--targets-key PUB ... --targets-threshold N] [--out PROPOSAL]
  hallmark tuf update  --repo DIR --keys DIR [--trusted-root FILE] [--signing-config FILE]
  hallmark tuf refresh --repo DIR --keys DIR [--force] [--metrics-file FILE]

  hallmark tuf keygen  --out NAME                      a key holder's key: NAME.pem (private), NAME.pub
  hallmark tuf propose --repo DIR --keys DIR --out PROPOSAL [--trusted-root FILE] [--signing-config FILE]
                       [--root-key PUB ... --root-threshold N] [--targets-key PUB ... --targets-threshold N]
                       [--refresh root,targets] [--rotate snapshot,timestamp]
  hallmark tuf sign    --key KEY PROPOSAL              append the key holder's signature
  hallmark tuf check   PROPOSAL                        are the thresholds met?
  hallmark tuf publish --repo DIR --keys DIR PROPOSAL  publish a proposal that meets them

A TUF repository distributing trusted_root.json and signing_config.v0.2.json (and the
legacy per-key targets of cosign v2) to clients that run
  cosign initialize --mirror https://tuf.example.com --root 1.root.json
Publish --repo with any static file server; keep --keys (the online keys) off it.

  init     creates the repository. Without --root-key/--targets-key, one online Ed25519
           key per role in --keys, and publishes. With them, those roles are held offline
           by their key holders (threshold: --root-threshold, --targets-threshold), the
           online snapshot and timestamp keys go to --keys, and root v1 + targets v1 are
           written to --out as a proposal to sign, check and publish.
  update   publishes a new trusted root and/or signing config when targets are online.
  refresh  re-signs online metadata with less than half its validity left; run it daily.
           It names offline roles that are due, for a ceremony (propose --refresh).
  propose  prepares new root and/or targets metadata, unsigned: new content, new keys or
           thresholds for root or targets, a refresh of an offline role's expiry, or new
           online keys (--rotate: written to --keys as ROLE.pem.next, current once published).
  sign     signs every part of a proposal the key may sign; needs only the key and the
           proposal (run it on the key holder's machine). KEY is a PEM private key file;
           an encrypted one ("ENCRYPTED PRIVATE KEY") takes its password from
           $HALLMARK_TUF_KEY_PASSWORD.
  check    counts valid signatures: a new root against the previous root's threshold
           and its own; targets against the root in force. Exit status 1 when short.
  publish  refuses a proposal short of a threshold or made against an older version.

Expiry flags (init; update, refresh and propose accept them to change the periods):
  --root-expires, --targets-expires, --snapshot-expires, --timestamp-expires
  as Go durations or days: 365d, 180d, 30d, 7d (the defaults).`

// listFlag is a repeatable flag.
type listFlag []string

func (l *listFlag) String() string     { return strings.Join(*l, ",") }
func (l *listFlag) Set(s string) error { *l = append(*l, s); return nil }

// tufFlags are the flags the repository subcommands share.
type tufFlags struct {
	fs                              *flag.FlagSet
	repo, keys                      *string
	trustedRoot, signingConfig      *string
	rootKeys, targetsKeys           listFlag
	rootThreshold, targetsThreshold *int
	out, metricsFile                *string
	exp                             map[string]*string
}

func newTUFFlags(sub string) *tufFlags {
	f := &tufFlags{fs: flag.NewFlagSet("tuf "+sub, flag.ExitOnError), exp: map[string]*string{}}
	f.fs.Usage = func() { fmt.Fprintln(os.Stderr, tufUsage); f.fs.PrintDefaults() }
	f.repo = f.fs.String("repo", "", "repository directory: what the file server publishes")
	f.keys = f.fs.String("keys", "", "online keys directory (0700), outside --repo")
	f.trustedRoot = f.fs.String("trusted-root", "", "trusted_root.json to publish")
	f.signingConfig = f.fs.String("signing-config", "", "signing_config.json (v0.2) to publish as signing_config.v0.2.json")
	f.fs.Var(&f.rootKeys, "root-key", "public key (PEM) of a root key holder; repeat for each")
	f.fs.Var(&f.targetsKeys, "targets-key", "public key (PEM) of a targets key holder; repeat for each")
	f.rootThreshold = f.fs.Int("root-threshold", 0, "signatures root needs (default: a majority of --root-key)")
	f.targetsThreshold = f.fs.Int("targets-threshold", 0, "signatures targets needs (default: a majority of --targets-key)")
	f.out = f.fs.String("out", "", "proposal file to write")
	f.metricsFile = f.fs.String("metrics-file", "", "write each role's expiry and version as Prometheus text (node_exporter's textfile collector)")
	def := tufrepo.DefaultExpiries()
	for _, e := range []struct {
		name string
		d    time.Duration
	}{{"root", def.Root}, {"targets", def.Targets}, {"snapshot", def.Snapshot}, {"timestamp", def.Timestamp}} {
		f.exp[e.name] = f.fs.String(e.name+"-expires", tufrepo.FormatDays(e.d), e.name+" metadata validity")
	}
	return f
}

// expiries returns the expiry flags given (all of them for init).
func (f *tufFlags) expiries(all bool) (map[string]time.Duration, error) {
	set := map[string]bool{}
	f.fs.Visit(func(fl *flag.Flag) { set[fl.Name] = true })
	given := map[string]time.Duration{}
	for role, v := range f.exp {
		if !all && !set[role+"-expires"] {
			continue
		}
		d, err := tufrepo.ParseDays(*v)
		if err != nil {
			return nil, fmt.Errorf("--%s-expires: %w", role, err)
		}
		given[role] = d
	}
	return given, nil
}

func (f *tufFlags) content() (tufrepo.Content, error) {
	var c tufrepo.Content
	var err error
	if *f.trustedRoot != "" {
		if c.TrustedRoot, err = os.ReadFile(*f.trustedRoot); err != nil {
			return c, err
		}
	}
	if *f.signingConfig != "" {
		if c.SigningConfig, err = os.ReadFile(*f.signingConfig); err != nil {
			return c, err
		}
	}
	return c, nil
}

// roleKeys reads the key holders of an offline role; nil when none given.
func roleKeys(role string, files []string, threshold int) (*tufrepo.RoleKeys, error) {
	if len(files) == 0 {
		if threshold != 0 {
			return nil, fmt.Errorf("--%s-threshold without --%s-key", role, role)
		}
		return nil, nil
	}
	rk := &tufrepo.RoleKeys{Threshold: threshold}
	if threshold == 0 {
		rk.Threshold = len(files)/2 + 1
	}
	for _, path := range files {
		b, err := os.ReadFile(path)
		if err != nil {
			return nil, err
		}
		pub, err := tufrepo.ParsePublicKey(b)
		if err != nil {
			return nil, fmt.Errorf("--%s-key %s: %w", role, path, err)
		}
		rk.Keys = append(rk.Keys, pub)
	}
	return rk, nil
}

// runTUF dispatches `hallmark tuf` subcommands.
func runTUF(args []string) error {
	if len(args) < 1 {
		fmt.Fprintln(os.Stderr, tufUsage)
		return errors.New("expected a subcommand: tuf init, update, refresh, keygen, propose, sign, check or publish")
	}
	sub, args := args[0], args[1:]
	switch sub {
	case "init", "update", "refresh", "propose", "publish":
		return runTUFRepo(sub, args)
	case "keygen":
		return runTUFKeygen(args)
	case "sign":
		return runTUFSign(args)
	case "check":
		return runTUFCheck(args)
	}
	fmt.Fprintln(os.Stderr, tufUsage)
	return fmt.Errorf("unknown subcommand %q: want init, update, refresh, keygen, propose, sign, check or publish", sub)
}

func runTUFRepo(sub string, args []string) error {
	f := newTUFFlags(sub)
	force := f.fs.Bool("force", false, "refresh: re-sign every online role")
	refresh := f.fs.String("refresh", "", "propose: re-sign these offline roles with a new expiry (root, targets or root,targets)")
	rotate := f.fs.String("rotate", "", "propose: replace the keys of these online roles (snapshot, timestamp or snapshot,timestamp) with new ones")
	f.fs.Parse(args)
	if *f.repo == "" || *f.keys == "" {
		return errors.New("--repo and --keys are required")
	}
	var proposalFile string
	if sub == "publish" {
		if f.fs.NArg() != 1 {
			return errors.New("publish: name the proposal file")
		}
		proposalFile = f.fs.Arg(0)
	} else if f.fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q", f.fs.Args())
	}
	given, err := f.expiries(sub == "init")
	if err != nil {
		return err
	}
	c, err := f.content()
	if err != nil {
		return err
	}
	rootKeys, err := roleKeys("root", f.rootKeys, *f.rootThreshold)
	if err != nil {
		return err
	}
	targetsKeys, err := roleKeys("targets", f.targetsKeys, *f.targetsThreshold)
	if err != nil {
		return err
	}
	if (rootKeys != nil || targetsKeys != nil) && sub != "init" && sub != "propose" {
		return fmt.Errorf("%s: key holders are set by init and propose", sub)
	}
	now := time.Now()

	if sub == "init" {
		if c.TrustedRoot == nil {
			return errors.New("init: --trusted-root is required")
		}
		e, _, err := tufrepo.DefaultExpiries().Override(given)
		if err != nil {
			return err
		}
		if rootKeys != nil || targetsKeys != nil {
			if *f.out == "" {
				return errors.New("init with offline keys: --out names the proposal of root v1 to sign")
			}
			p, err := tufrepo.ProposeInit(*f.repo, *f.keys, c, tufrepo.InitOptions{Expiries: e, Root: rootKeys, Targets: targetsKeys}, now)
			if err != nil {
				return err
			}
			if err := writeProposal(*f.out, p); err != nil {
				return err
			}
			fmt.Printf("online keys in %s; proposal of a new repository in %s:\n%s", *f.keys, *f.out, p.Summary())
			fmt.Printf("next: each key holder runs `hallmark tuf sign --key KEY %s`; then `hallmark tuf publish`\n", *f.out)
			return nil
		}
		r, err := tufrepo.Init(*f.repo, *f.keys, c, e, now)
		if err != nil {
			return err
		}
		defer r.Close()
		fmt.Printf("created TUF repository %s (role keys in %s)\nclients: cosign initialize --mirror <URL of %s> --root %s/1.root.json\n",
			*f.repo, *f.keys, *f.repo, *f.repo)
		return writeTUFMetrics(r, *f.metricsFile)
	}

	if sub == "publish" {
		raw, err := os.ReadFile(proposalFile)
		if err != nil {
			return err
		}
		p, err := tufrepo.ParseProposal(raw)
		if err != nil {
			return fmt.Errorf("%s: %w", proposalFile, err)
		}
		r, err := tufrepo.Publish(*f.repo, *f.keys, p, now)
		if err != nil {
			return err
		}
		defer r.Close()
		printVersions(r)
		for _, k := range r.UnusedKeys() {
			fmt.Printf("warning: %s is no longer named by the published root: destroy it (a client still trusting an older root would accept a root it signs)\n", k)
		}
		return writeTUFMetrics(r, *f.metricsFile)
	}

	if sub == "refresh" && (c.TrustedRoot != nil || c.SigningConfig != nil) {
		return errors.New("refresh re-signs what is published; use update or propose to publish new files")
	}
	r, err := tufrepo.Open(*f.repo, *f.keys, now)
	if err != nil {
		return err
	}
	defer r.Close()
	if e, changed, err := r.Expiries.Override(given); err != nil {
		return err
	} else if changed {
		if err := r.SetExpiries(e); err != nil {
			return err
		}
	}
	switch sub {
	case "update":
		if c.TrustedRoot == nil && c.SigningConfig == nil {
			return errors.New("update: give --trusted-root and/or --signing-config")
		}
		changed, err := r.Update(c)
		if err != nil {
			return err
		}
		if !changed {
			fmt.Println("targets unchanged; nothing published")
			return nil
		}
	case "refresh":
		done, err := r.Refresh(*force)
		if err != nil {
			return err
		}
		exp := r.Expires()
		for _, role := range r.DueOffline() {
			fmt.Printf("%s expires %s (in %s) and is signed offline: its key holders must re-sign it (hallmark tuf propose --refresh %s)\n",
				role, exp[role].Format(time.RFC3339), time.Until(exp[role]).Round(time.Hour), role)
		}
		if len(done) == 0 {
			fmt.Println("nothing due online; nothing published")
			return writeTUFMetrics(r, *f.metricsFile)
		}
		fmt.Printf("re-signed %s\n", strings.Join(done, ", "))
	case "propose":
		if *f.out == "" {
			return errors.New("propose: --out names the proposal file to write")
		}
		o := tufrepo.ProposeOptions{Root: rootKeys, Targets: targetsKeys}
		if c.TrustedRoot != nil || c.SigningConfig != nil {
			o.Content = &c
		}
		for _, role := range strings.FieldsFunc(*refresh, func(r rune) bool { return r == ',' }) {
			switch role {
			case "root":
				o.RefreshRoot = true
			case "targets":
				o.RefreshTargets = true
			default:
				return fmt.Errorf("--refresh %q: want root and/or targets (online roles refresh with `hallmark tuf refresh`)", role)
			}
		}
		o.RotateOnline = strings.FieldsFunc(*rotate, func(r rune) bool { return r == ',' })
		p, err := r.Propose(o)
		if err != nil {
			return err
		}
		if err := writeProposal(*f.out, p); err != nil {
			return err
		}
		fmt.Printf("proposal in %s:\n%s", *f.out, p.Summary())
		st, err := p.Check(now)
		for _, s := range st {
			fmt.Println(s)
		}
		if err == nil {
			fmt.Printf("the thresholds are met already: `hallmark tuf publish` publishes it\n")
		}
		return nil
	}
	printVersions(r)
	return writeTUFMetrics(r, *f.metricsFile)
}

func printVersions(r *tufrepo.Repo) {
	v := r.Versions()
	fmt.Printf("published root v%d, targets v%d, snapshot v%d, timestamp v%d\n", v["root"], v["targets"], v["snapshot"], v["timestamp"])
}

func writeTUFMetrics(r *tufrepo.Repo, path string) error {
	if path == "" {
		return nil
	}
	return r.WriteMetrics(path)
}

func writeProposal(path string, p *tufrepo.Proposal) error {
	b, err := p.Marshal()
	if err != nil {
		return err
	}
	return fileutil.WriteFileAtomic(path, b, 0o644)
}

func readProposal(path string) (*tufrepo.Proposal, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	p, err := tufrepo.ParseProposal(raw)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return p, nil
}

func runTUFKeygen(args []string) error {
	fs := flag.NewFlagSet("tuf keygen", flag.ExitOnError)
	out := fs.String("out", "", "NAME: writes NAME.pem (private key, 0600; encrypted with $HALLMARK_TUF_KEY_PASSWORD if set) and NAME.pub")
	fs.Parse(args)
	if *out == "" || fs.NArg() > 0 {
		return errors.New("usage: hallmark tuf keygen --out NAME")
	}
	priv, pub, err := tufrepo.GenerateKey()
	if err != nil {
		return err
	}
	if pw := os.Getenv("HALLMARK_TUF_KEY_PASSWORD"); pw != "" {
		k, err := format.ParsePrivateKeyPEM(priv)
		if err != nil {
			return err
		}
		if priv, err = ca.EncryptKeyPEM(k, []byte(pw)); err != nil {
			return err
		}
	}
	for _, f := range []struct {
		path string
		data []byte
		mode os.FileMode
	}{{*out + ".pem", priv, 0o600}, {*out + ".pub", pub, 0o644}} {
		fh, err := os.OpenFile(f.path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, f.mode)
		if err != nil {
			return err
		}
		if _, err := fh.Write(f.data); err != nil {
			fh.Close()
			return err
		}
		if err := fh.Close(); err != nil {
			return err
		}
	}
	k, _ := tufrepo.ParsePublicKey(pub)
	id, _ := tufrepo.KeyID(k)
	fmt.Printf("key %s: private %s.pem (keep it offline), public %s.pub (give it to whoever runs init or propose)\n", id, *out, *out)
	return nil
}

// loadSigningKey reads a key holder's PEM private key file.
func loadSigningKey(path string) (crypto.Signer, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	if bytes.Contains(raw, []byte("ENCRYPTED PRIVATE KEY")) {
		pw := os.Getenv("HALLMARK_TUF_KEY_PASSWORD")
		if pw == "" {
			return nil, fmt.Errorf("%s is encrypted: set HALLMARK_TUF_KEY_PASSWORD", path)
		}
		return ca.DecryptKeyPEM(raw, []byte(pw))
	}
	return format.ParsePrivateKeyPEM(raw)
}

func runTUFSign(args []string) error {
	fs := flag.NewFlagSet("tuf sign", flag.ExitOnError)
	key := fs.String("key", "", "the key holder's private key (PEM)")
	out := fs.String("out", "", "write the signed proposal here (default: replace PROPOSAL)")
	fs.Parse(args)
	if *key == "" || fs.NArg() != 1 {
		return errors.New("usage: hallmark tuf sign --key KEY PROPOSAL")
	}
	p, err := readProposal(fs.Arg(0))
	if err != nil {
		return err
	}
	k, err := loadSigningKey(*key)
	if err != nil {
		return fmt.Errorf("--key: %w", err)
	}
	fmt.Print(p.Summary())
	done, err := p.Sign(k)
	if err != nil {
		return err
	}
	dst := *out
	if dst == "" {
		dst = fs.Arg(0)
	}
	if err := writeProposal(dst, p); err != nil {
		return err
	}
	fmt.Printf("signed %s; written to %s\n", strings.Join(done, " and "), dst)
	return nil
}

func runTUFCheck(args []string) error {
	fs := flag.NewFlagSet("tuf check", flag.ExitOnError)
	fs.Parse(args)
	if fs.NArg() != 1 {
		return errors.New("usage: hallmark tuf check PROPOSAL")
	}
	p, err := readProposal(fs.Arg(0))
	if err != nil {
		return err
	}
	fmt.Print(p.Summary())
	st, err := p.Check(time.Now())
	for _, s := range st {
		fmt.Println(s)
	}
	if err != nil {
		return err
	}
	fmt.Println("every threshold is met: ready to publish")
	return nil
}

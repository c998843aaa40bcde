package main

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/hallmark-dev/hallmark/trust/tufrepo"
)

const tufUsage = `usage:
  hallmark tuf init    --repo DIR --keys DIR --trusted-root FILE [--signing-config FILE] [expiry flags]
  hallmark tuf update  --repo DIR --keys DIR [--trusted-root FILE] [--signing-config FILE]
  hallmark tuf refresh --repo DIR --keys DIR [--force]

A TUF repository distributing trusted_root.json and signing_config.v0.2.json (and the
legacy per-key targets of cosign v2) to clients that run
  cosign initialize --mirror https://tuf.example.com --root 1.root.json
Publish --repo with any static file server; keep --keys (the role keys) off it.

  init     creates the repository and one Ed25519 key per role (root, targets,
           snapshot, timestamp) in --keys. Give clients 1.root.json out of band.
  update   publishes a new trusted root and/or signing config (after a log rotation
           or a CA change); omitted files keep their published content.
  refresh  re-signs metadata with less than half its validity left; run it daily
           from cron so the timestamp (default 7 days) never expires.

Expiry flags (init; update and refresh accept them to change the periods):
  --root-expires, --targets-expires, --snapshot-expires, --timestamp-expires
  as Go durations or days: 365d, 180d, 30d, 7d (the defaults).`

// runTUF dispatches `hallmark tuf` subcommands.
func runTUF(args []string) error {
	if len(args) < 1 || (args[0] != "init" && args[0] != "update" && args[0] != "refresh") {
		fmt.Fprint(os.Stderr, tufUsage)
		return errors.New("expected a subcommand: tuf init, update or refresh")
	}
	sub := args[0]
	fs := flag.NewFlagSet("tuf "+sub, flag.ExitOnError)
	fs.Usage = func() { fmt.Fprintln(os.Stderr, tufUsage); fs.PrintDefaults() }
	repoDir := fs.String("repo", "", "repository directory: what the file server publishes")
	keysDir := fs.String("keys", "", "role keys directory (0700), outside --repo")
	trustedRoot := fs.String("trusted-root", "", "trusted_root.json to publish")
	signingConfig := fs.String("signing-config", "", "signing_config.json (v0.2) to publish as signing_config.v0.2.json")
	force := fs.Bool("force", false, "refresh: re-sign every role")
	def := tufrepo.DefaultExpiries()
	exp := map[string]*string{}
	for _, f := range []struct {
		name string
		d    time.Duration
	}{{"root", def.Root}, {"targets", def.Targets}, {"snapshot", def.Snapshot}, {"timestamp", def.Timestamp}} {
		exp[f.name] = fs.String(f.name+"-expires", tufrepo.FormatDays(f.d), f.name+" metadata validity")
	}
	fs.Parse(args[1:])
	if *repoDir == "" || *keysDir == "" {
		return errors.New("--repo and --keys are required")
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	// Expiries: the flags at init; afterwards the remembered ones, with
	// any flag given overriding.
	given := map[string]time.Duration{}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	for role, v := range exp {
		if sub != "init" && !set[role+"-expires"] {
			continue
		}
		d, err := tufrepo.ParseDays(*v)
		if err != nil {
			return fmt.Errorf("--%s-expires: %w", role, err)
		}
		given[role] = d
	}
	readOpt := func(path string) ([]byte, error) {
		if path == "" {
			return nil, nil
		}
		return os.ReadFile(path)
	}
	var c tufrepo.Content
	var err error
	if c.TrustedRoot, err = readOpt(*trustedRoot); err != nil {
		return err
	}
	if c.SigningConfig, err = readOpt(*signingConfig); err != nil {
		return err
	}
	now := time.Now()

	if sub == "init" {
		if c.TrustedRoot == nil {
			return errors.New("init: --trusted-root is required")
		}
		e, _, err := def.Override(given)
		if err != nil {
			return err
		}
		r, err := tufrepo.Init(*repoDir, *keysDir, c, e, now)
		if err != nil {
			return err
		}
		defer r.Close()
		fmt.Printf("created TUF repository %s (role keys in %s)\nclients: cosign initialize --mirror <URL of %s> --root %s/1.root.json\n",
			*repoDir, *keysDir, *repoDir, *repoDir)
		return nil
	}
	if sub == "refresh" && (c.TrustedRoot != nil || c.SigningConfig != nil) {
		return errors.New("refresh re-signs what is published; use update to publish new files")
	}
	r, err := tufrepo.Open(*repoDir, *keysDir, now)
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
		if len(done) == 0 {
			fmt.Println("nothing due; nothing published")
			return nil
		}
		fmt.Printf("re-signed %s\n", strings.Join(done, ", "))
	}
	v := r.Versions()
	fmt.Printf("published root v%d, targets v%d, snapshot v%d, timestamp v%d\n", v["root"], v["targets"], v["snapshot"], v["timestamp"])
	return nil
}

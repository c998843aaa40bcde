package main

import (
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/hallmark-dev/hallmark/api/tufrepo"
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
		exp[f.name] = fs.String(f.name+"-expires", formatDays(f.d), f.name+" metadata validity")
	}
	fs.Parse(args[1:])
	if *repoDir == "" || *keysDir == "" {
		return errors.New("--repo and --keys are required")
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	// Expiries: the flags at init; afterwards the remembered ones, with
	// any flag given overriding.
	expiries := func(base tufrepo.Expiries) (tufrepo.Expiries, bool, error) {
		changed := false
		for _, f := range []struct {
			name string
			d    *time.Duration
		}{{"root", &base.Root}, {"targets", &base.Targets}, {"snapshot", &base.Snapshot}, {"timestamp", &base.Timestamp}} {
			if sub != "init" && !set[f.name+"-expires"] {
				continue
			}
			d, err := parseDays(*exp[f.name])
			if err != nil {
				return base, false, fmt.Errorf("--%s-expires: %w", f.name, err)
			}
			*f.d, changed = d, true
		}
		return base, changed, nil
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
		e, _, err := expiries(def)
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
	if e, changed, err := expiries(r.Expiries); err != nil {
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

// parseDays reads a Go duration or a whole number of days ("30d").
func parseDays(s string) (time.Duration, error) {
	if n, ok := strings.CutSuffix(s, "d"); ok {
		d, err := strconv.Atoi(n)
		if err != nil || d <= 0 {
			return 0, fmt.Errorf("%q: want a positive number of days, e.g. 30d", s)
		}
		return time.Duration(d) * 24 * time.Hour, nil
	}
	return time.ParseDuration(s)
}

func formatDays(d time.Duration) string {
	if d%(24*time.Hour) == 0 {
		return strconv.Itoa(int(d/(24*time.Hour))) + "d"
	}
	return d.String()
}

// devTUF keeps the TUF repository of `hallmark dev` in <dir>/tuf: it
// creates it on first use, and on every start publishes the client
// configuration just written (a no-op when unchanged) and re-signs
// metadata due for it, so a state directory reused after weeks still
// serves unexpired metadata. It returns the directory to publish.
func devTUF(dir string) (string, error) {
	repoDir, keysDir := filepath.Join(dir, "tuf", "repository"), filepath.Join(dir, "tuf", "keys")
	var c tufrepo.Content
	var err error
	if c.TrustedRoot, err = os.ReadFile(filepath.Join(dir, "trusted_root.json")); err != nil {
		return "", err
	}
	if c.SigningConfig, err = os.ReadFile(filepath.Join(dir, "signing_config.json")); err != nil {
		return "", err
	}
	now := time.Now()
	if _, err := os.Stat(filepath.Join(repoDir, "timestamp.json")); errors.Is(err, fs.ErrNotExist) {
		r, err := tufrepo.Init(repoDir, keysDir, c, tufrepo.DefaultExpiries(), now)
		if err != nil {
			return "", fmt.Errorf("creating the TUF repository: %w", err)
		}
		return repoDir, r.Close()
	}
	r, err := tufrepo.Open(repoDir, keysDir, now)
	if err != nil {
		return "", err
	}
	defer r.Close()
	if _, err := r.Update(c); err != nil {
		return "", fmt.Errorf("updating the TUF repository: %w", err)
	}
	if _, err := r.Refresh(false); err != nil {
		return "", fmt.Errorf("refreshing the TUF repository: %w", err)
	}
	return repoDir, nil
}

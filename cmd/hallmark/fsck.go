package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"

	"github.com/hallmark-dev/hallmark/api"
	"github.com/hallmark-dev/hallmark/tlog"
	"github.com/hallmark-dev/hallmark/tlog/format"
	"github.com/hallmark-dev/hallmark/tlog/fsck"
)

// runFsck verifies the databases of the logs a hallmark-log configuration
// names. It writes nothing: PostgreSQL sessions are read-only, so it may
// run against a live primary, a standby or a restored backup.
func runFsck(args []string) error {
	fs := flag.NewFlagSet("fsck", flag.ExitOnError)
	config := fs.String("config", "hallmark-log.yaml", "hallmark-log configuration naming the database, the logs and their keys")
	only := fs.String("log", "", "check only this log (default: every configured log)")
	skipKeys := fs.Bool("skip-keys", false, "don't check each entry's deduplication row (one database read per entry)")
	quiet := fs.Bool("quiet", false, "no progress output")
	lookups := fs.Int("lookup-concurrency", 8, "deduplication lookups in flight (1 is fastest when PostgreSQL is on the same machine)")
	fs.Parse(args)
	cfg, err := tlog.LoadServiceConfig(*config)
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	store, err := api.OpenStoreReadOnly(ctx, cfg)
	if err != nil {
		return err
	}
	defer store.Close()

	checked, failed := 0, 0
	for _, lc := range cfg.Logs {
		if *only != "" && lc.Name != *only {
			continue
		}
		checked++
		opts, err := fsckOptions(cfg, lc)
		if err != nil {
			return err
		}
		opts.SkipKeys, opts.LookupConcurrency = *skipKeys, *lookups
		if !*quiet {
			opts.Progress = func(p fsck.Progress) {
				pct := 100.0
				if p.Size > 0 {
					pct = 100 * float64(p.Entries) / float64(p.Size)
				}
				fmt.Fprintf(os.Stderr, "fsck %s: %d/%d entries (%.1f%%), %d checkpoints, %d problems, %s\n",
					lc.Name, p.Entries, p.Size, pct, p.Checkpoints, p.Problems, p.Elapsed.Round(1e6))
			}
		}
		rep, err := fsck.Check(ctx, store, opts)
		if err != nil {
			return fmt.Errorf("log %s: %w", lc.Name, err)
		}
		if rep.OK() {
			fmt.Printf("log %s: OK: size %d, root %x, %d tiles and %d checkpoints verified in %s\n",
				lc.Name, rep.Size, rep.Root, rep.Tiles, rep.Checkpoints, rep.Elapsed.Round(1e6))
			continue
		}
		failed++
		fmt.Printf("log %s: %d PROBLEMS (size %d):\n", lc.Name, len(rep.Problems)+rep.MoreProblems, rep.Size)
		for _, p := range rep.Problems {
			fmt.Printf("  %s\n", p)
		}
		if rep.MoreProblems > 0 {
			fmt.Printf("  ... and %d more\n", rep.MoreProblems)
		}
	}
	if checked == 0 {
		return fmt.Errorf("no log named %q in %s", *only, *config)
	}
	if failed > 0 {
		return fmt.Errorf("%d of %d logs have problems", failed, checked)
	}
	return nil
}

// fsckOptions derives a log's origin and checkpoint verifier from its
// configuration, as hallmark-log does.
func fsckOptions(cfg *tlog.ServiceConfig, lc tlog.LogConfig) (fsck.Options, error) {
	key, err := cfg.OpenKey(&lc) // a file, a PKCS#11 token or a KMS: only its public key is used
	if err != nil {
		return fsck.Options{}, err
	}
	key.Close()
	signerName := lc.CheckpointOrigin()
	if lc.Kind == "rekor-v1" {
		signerName = lc.RekorHostname()
	}
	v, err := format.NewNoteVerifier(signerName, key.Public())
	if err != nil {
		return fsck.Options{}, fmt.Errorf("log %s: %w", lc.Name, err)
	}
	return fsck.Options{Name: lc.Name, Origin: lc.CheckpointOrigin(), Verifier: v}, nil
}

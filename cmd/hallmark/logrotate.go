package main

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"time"

	"github.com/hallmark-dev/hallmark/trust/rotate"
)

const rotateUsage = `usage:
  hallmark log rotate open   --config FILE --log OLD --name NEW --url URL [--origin O] [--tree-id N]
                             [--key-out FILE] [--trusted-root FILE] [--signing-config FILE]
  hallmark log rotate freeze --config FILE --log OLD [--trusted-root FILE] [--signing-config FILE]
  hallmark log rotate rekor-v1 --config FILE --log OLD --name NEW --tree-id N
                             [--key-out FILE] [--trusted-root FILE]

A rotation without a write outage has two phases:
  open    adds the new shard (new name, URL, origin and key) next to OLD, both writable;
          adds it to the trusted root (valid from now) and, first, to the signing config.
          Roll the hallmark-log replicas, then publish the trusted root and signing config.
  freeze  once clients use the new signing config: freezes OLD in the database (replicas
          still writing to it answer 503 from then on), marks it read_only (still served,
          its entries keep verifying), ends its validity in the trusted root and the
          signing config. Publish the signing config, then roll the replicas.

A Rekor v1 log rotates as Rekor does, behind its one URL, in one step:
  rekor-v1  adds NEW (new tree ID and key) at OLD's URL as the active shard, marks OLD
          read_only and lists it in NEW's rekor.inactive_shards (entries keep Rekor's
          virtual log index), and in the trusted root closes OLD's key and adds NEW's.
          Roll the replicas one at a time: the first to start with the rotated
          configuration freezes OLD in the database and takes the writes; replicas
          not restarted yet refuse writes with 503, so clients retry on another one.`

// runLog dispatches `hallmark log` subcommands; trust/rotate does the work.
func runLog(args []string) error {
	if len(args) < 2 || args[0] != "rotate" || (args[1] != "open" && args[1] != "freeze" && args[1] != "rekor-v1") {
		fmt.Fprint(os.Stderr, rotateUsage)
		return errors.New("expected a subcommand: log rotate open, freeze or rekor-v1")
	}
	fs := flag.NewFlagSet("log rotate "+args[1], flag.ExitOnError)
	fs.Usage = func() { fmt.Fprintln(os.Stderr, rotateUsage); fs.PrintDefaults() }
	config := fs.String("config", "hallmark-log.yaml", "hallmark-log configuration to edit")
	old := fs.String("log", "", "name of the active shard")
	var o rotate.OpenOptions
	fs.StringVar(&o.Name, "name", "", "open: name of the new shard")
	fs.StringVar(&o.URL, "url", "", "open: public base URL of the new shard")
	fs.StringVar(&o.Origin, "origin", "", "open: checkpoint origin of the new shard (default: derived from the URL)")
	fs.Int64Var(&o.TreeID, "tree-id", 0, "open: Rekor v1 tree ID of the new shard (rekor-v1 logs)")
	fs.StringVar(&o.KeyOut, "key-out", "", "open: file for the new shard's key, written as its key_file (relative paths are relative to the configuration's directory; default <name>.pem)")
	fs.StringVar(&o.TrustedRoot, "trusted-root", "", "trusted_root.json to update (optional)")
	fs.StringVar(&o.SigningConfig, "signing-config", "", "signing_config.json to update (optional)")
	database := fs.Bool("database", true, "freeze: also freeze OLD in the database the configuration names (needs write access)")
	fs.Parse(args[2:])
	if *old == "" {
		return errors.New("--log is required")
	}
	r, err := rotate.LoadLog(*config, *old, time.Now().UTC().Truncate(time.Second))
	if err != nil {
		return err
	}
	switch args[1] {
	case "rekor-v1":
		s, err := r.RekorV1(o)
		if err != nil {
			return err
		}
		fmt.Printf("rotated %s: shard %s (tree %d) is active, %s is frozen behind it; roll the replicas (the first to restart freezes %s in the database), then publish the trusted root\n",
			s.URL, s.Name, s.TreeID, *old, *old)
	case "open":
		s, err := r.Open(o)
		if err != nil {
			return err
		}
		fmt.Printf("opened shard %s (%s, origin %s) next to %s; roll the replicas, then publish the trusted root and signing config\n",
			s.Name, s.URL, s.Origin, *old)
	default:
		f, err := r.Freeze(rotate.FreezeOptions{TrustedRoot: o.TrustedRoot, SigningConfig: o.SigningConfig, Database: *database})
		if err != nil {
			return err
		}
		if f.Size >= 0 {
			fmt.Printf("froze %s in the database at %d entries\n", f.Name, f.Size)
		}
		fmt.Printf("froze shard %s (read-only, still served); publish the signing config, then roll the replicas\n", f.Name)
	}
	return nil
}

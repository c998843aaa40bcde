package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/hallmark-dev/hallmark/api"
	"github.com/hallmark-dev/hallmark/tlog"
	"github.com/hallmark-dev/hallmark/tlog/adopt"
	"github.com/hallmark-dev/hallmark/tlog/format"
	"github.com/hallmark-dev/hallmark/tlog/rekorv1"
)

const adoptUsage = `usage: hallmark adopt trillian --trillian HOST:PORT --config hallmark-log.yaml [flags]

Copies a Rekor v1 log's Trillian tree into a rekor-v1 log of hallmark-log,
leaf for leaf, with Rekor's integration times and search keys. The log in
the config must carry Rekor's signing key (rekor_server.signer), tree ID
(rekor.tree_id) and host name (rekor.hostname = rekor_server.hostname).
Runs are resumable: a new run continues where the last one stopped, so run
it again to catch up with the tail before switching over.
See docs/adopting-rekor.md.

flags:`

func runAdopt(args []string) error {
	if len(args) < 1 || args[0] != "trillian" {
		return errors.New(adoptUsage[:strings.Index(adoptUsage, "\n")])
	}
	fs := flag.NewFlagSet("adopt trillian", flag.ExitOnError)
	fs.Usage = func() { fmt.Fprintln(fs.Output(), adoptUsage); fs.PrintDefaults() }
	addr := fs.String("trillian", "", "Trillian log server gRPC address, host:port (required)")
	treeID := fs.Int64("tree-id", 0, "Trillian tree ID of Rekor's active tree (default: the log's rekor.tree_id; they must be equal)")
	plaintext := fs.Bool("insecure", false, "connect to Trillian without TLS")
	caFile := fs.String("tls-ca-file", "", "PEM CA certificates that verify Trillian's TLS certificate (default: system roots)")
	serverName := fs.String("tls-server-name", "", "name expected in Trillian's TLS certificate (default: the host of --trillian)")
	config := fs.String("config", "hallmark-log.yaml", "hallmark-log configuration holding the target log and the database")
	logName := fs.String("log", "", "name of the target rekor-v1 log in the config (default: the only rekor-v1 log)")
	readSize := fs.Int("batch-size", 1000, "leaves read from Trillian per GetLeavesByRange call")
	commitSize := fs.Int("commit-size", adopt.DefaultCommitSize, "leaves committed per database transaction, at least (a transaction ends with an integration second)")
	rekorURL := fs.String("rekor-url", "", "the running Rekor's URL: if set, check that its public key, tree ID and checkpoint origin are the log's")
	progress := fs.Duration("progress", 5*time.Second, "interval between progress lines")
	timeout := fs.Duration("rpc-timeout", time.Minute, "timeout of each Trillian RPC")
	fs.Parse(args[1:])
	if *addr == "" {
		fs.Usage()
		return errors.New("--trillian is required")
	}

	cfg, err := tlog.LoadServiceConfig(*config)
	if err != nil {
		return err
	}
	lc, err := adopt.Target(cfg, *logName)
	if err != nil {
		return err
	}
	if *treeID == 0 {
		*treeID = lc.Rekor.TreeID
	}
	if *treeID != lc.Rekor.TreeID {
		return fmt.Errorf("log %s has rekor.tree_id %d, the Trillian tree is %d: they must be equal, or every entry ID (UUID) changes", lc.Name, lc.Rekor.TreeID, *treeID)
	}
	key, err := tlog.LoadPrivateKey(cfg.Path(lc.KeyFile))
	if err != nil {
		return fmt.Errorf("log %s: %w", lc.Name, err)
	}
	ecKey, ok := key.(*ecdsa.PrivateKey)
	if !ok || ecKey.Curve != elliptic.P256() {
		return fmt.Errorf("log %s: key_file must be Rekor's ECDSA P-256 signing key", lc.Name)
	}
	signer, err := format.NewNoteSigner(lc.RekorHostname(), key)
	if err != nil {
		return err
	}
	verifier, err := format.NewNoteVerifier(lc.RekorHostname(), key.Public())
	if err != nil {
		return err
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if *rekorURL != "" {
		if err := adopt.CheckRekor(ctx, *rekorURL, lc, &ecKey.PublicKey, verifier); err != nil {
			return err
		}
		slog.Info("adopt: the running Rekor has the log's key, tree ID and origin", "rekor", *rekorURL)
	}

	store, err := api.OpenStore(ctx, cfg)
	if err != nil {
		return err
	}
	defer store.Close()
	l, err := tlog.Open(ctx, store, tlog.Config{
		Name: lc.Name, Origin: lc.CheckpointOrigin(), Signer: signer, Verifier: verifier,
		Index: store, History: store, Importer: store,
	})
	if err != nil {
		return err
	}
	defer l.Close()

	src, err := adopt.DialTrillian(ctx, adopt.TrillianOptions{
		Address: *addr, TreeID: *treeID, Insecure: *plaintext, CAFile: *caFile, ServerName: *serverName, Timeout: *timeout,
	})
	if err != nil {
		return err
	}
	defer src.Close()
	if src.Tree != nil {
		slog.Info("adopt: Trillian tree", "tree_id", *treeID, "state", src.Tree.TreeState.String(), "display_name", src.Tree.DisplayName)
	}

	im := &adopt.Importer{
		Log: l, Store: store, Source: src, ReadSize: *readSize, CommitSize: *commitSize,
		IndexKeys: rekorv1.IndexKeysFromCanonical, ProgressEvery: *progress,
	}
	res, err := im.Run(ctx)
	if res != nil && res.Imported() > 0 {
		res.WriteSummary(os.Stdout)
	}
	if err != nil {
		var me *adopt.MismatchError
		switch {
		case errors.As(err, &me):
			return fmt.Errorf("stopped: Trillian and Hallmark disagree at index %d: %w", me.Index, err)
		case ctx.Err() != nil:
			return fmt.Errorf("interrupted; run the same command again to continue: %w", err)
		}
		return err
	}
	fmt.Printf("log %s: size %d, root %x, equal to Trillian's root at size %d\n", lc.Name, res.To, res.Root, res.SourceRoot.Size)
	return nil
}

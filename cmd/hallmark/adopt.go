package main

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/mod/sumdb/note"

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
	lc, err := adoptTarget(cfg, *logName)
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
		if err := checkRekor(ctx, *rekorURL, lc, &ecKey.PublicKey, verifier); err != nil {
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

// adoptTarget picks the rekor-v1 log to import into.
func adoptTarget(cfg *tlog.ServiceConfig, name string) (*tlog.LogConfig, error) {
	var found []*tlog.LogConfig
	for i := range cfg.Logs {
		lc := &cfg.Logs[i]
		if (name == "" && lc.Kind == "rekor-v1") || lc.Name == name {
			found = append(found, lc)
		}
	}
	switch {
	case len(found) == 0 && name != "":
		return nil, fmt.Errorf("no log named %q in the config", name)
	case len(found) == 0:
		return nil, errors.New("the config has no rekor-v1 log")
	case len(found) > 1:
		return nil, errors.New("the config has several rekor-v1 logs: choose one with --log")
	case found[0].Kind != "rekor-v1":
		return nil, fmt.Errorf("log %s is a %s log; adopting a Rekor log needs a rekor-v1 log", found[0].Name, found[0].Kind)
	}
	return found[0], nil
}

// checkRekor compares the running Rekor with the target log: the same
// public key, tree ID and checkpoint origin, and a checkpoint of Rekor's
// that verifies under the log's signer name and key.
func checkRekor(ctx context.Context, base string, lc *tlog.LogConfig, pub *ecdsa.PublicKey, verifier note.Verifier) error {
	get := func(path string) ([]byte, error) {
		u, err := url.JoinPath(base, path)
		if err != nil {
			return nil, err
		}
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
		resp, err := (&http.Client{Timeout: 30 * time.Second}).Do(req)
		if err != nil {
			return nil, fmt.Errorf("rekor: %w", err)
		}
		defer resp.Body.Close()
		body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		if err == nil && resp.StatusCode != http.StatusOK {
			err = fmt.Errorf("rekor: GET %s: HTTP %d", u, resp.StatusCode)
		}
		return body, err
	}
	keyPEM, err := get("/api/v1/log/publicKey")
	if err != nil {
		return err
	}
	block, _ := pem.Decode(keyPEM)
	if block == nil {
		return errors.New("rekor: the public key is not PEM")
	}
	want, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return err
	}
	if !bytes.Equal(block.Bytes, want) {
		return fmt.Errorf("log %s: key_file is not Rekor's signing key (Rekor's public key differs)", lc.Name)
	}
	raw, err := get("/api/v1/log")
	if err != nil {
		return err
	}
	var info struct {
		TreeID         string `json:"treeID"`
		SignedTreeHead string `json:"signedTreeHead"`
		InactiveShards []any  `json:"inactiveShards"`
	}
	if err := json.Unmarshal(raw, &info); err != nil {
		return fmt.Errorf("rekor: GET /api/v1/log: %w", err)
	}
	if info.TreeID != strconv.FormatInt(lc.Rekor.TreeID, 10) {
		return fmt.Errorf("log %s: rekor.tree_id is %d, Rekor's active tree is %s", lc.Name, lc.Rekor.TreeID, info.TreeID)
	}
	if len(info.InactiveShards) > 0 {
		return fmt.Errorf("rekor has %d inactive shards: adopting a sharded Rekor is not supported (entry indices would change)", len(info.InactiveShards))
	}
	origin, _, _ := strings.Cut(info.SignedTreeHead, "\n")
	if origin != lc.CheckpointOrigin() {
		return fmt.Errorf("log %s: checkpoint origin would be %q, Rekor's is %q (set rekor.hostname to Rekor's --rekor_server.hostname)", lc.Name, lc.CheckpointOrigin(), origin)
	}
	if _, err := note.Open([]byte(info.SignedTreeHead), note.VerifierList(verifier)); err != nil {
		return fmt.Errorf("log %s: Rekor's checkpoint does not verify as signed by %q with the log's key: %w", lc.Name, lc.RekorHostname(), err)
	}
	return nil
}

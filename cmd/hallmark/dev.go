package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/hallmark-dev/hallmark/api"
	"github.com/hallmark-dev/hallmark/api/clientconfig"
	"github.com/hallmark-dev/hallmark/tlog/rekorv2"
	"github.com/hallmark-dev/hallmark/tlog"
)

// devKey returns the path of a key in the state directory, creating it on
// first use, so a restarted `hallmark dev` keeps its keys and logs.
func devKey(dir, name, typ string) (string, error) {
	path := filepath.Join(dir, "keys", name+".pem")
	if _, err := os.Stat(path); err == nil {
		return path, nil
	} else if !errors.Is(err, fs.ErrNotExist) {
		return "", err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return "", err
	}
	pemKey, err := tlog.GenerateKey(typ)
	if err != nil {
		return "", err
	}
	return path, os.WriteFile(path, pemKey, 0o600)
}

func runDev(args []string) error {
	fset := flag.NewFlagSet("dev", flag.ExitOnError)
	dir := fset.String("dir", ".hallmark", "state directory (database, keys, client configuration); reused on restart")
	addr := fset.String("http", "127.0.0.1:3000", "log service HTTP address")
	grpcAddr := fset.String("grpc", "127.0.0.1:3001", "log service gRPC address")
	fset.Parse(args)
	if err := os.MkdirAll(*dir, 0o700); err != nil {
		return err
	}
	abs, err := filepath.Abs(*dir)
	if err != nil {
		return err
	}
	tilesKey, err := devKey(abs, "tiles", "ed25519")
	if err != nil {
		return err
	}
	v2Key, err := devKey(abs, "rekor-v2", "ed25519")
	if err != nil {
		return err
	}
	base := "http://" + *addr
	cfg, err := tlog.ParseServiceConfig(fmt.Appendf(nil, `
listen: {http: %q, grpc: %q}
database: {sqlite: %q}
logs:
  - name: tiles
    kind: tiles
    url: %s/tiles
    key_file: %q
  - name: rekor-v2
    kind: rekor-v2
    url: %s/rekor-v2
    key_file: %q
`, *addr, *grpcAddr, filepath.Join(abs, "hallmark.db"), base, tilesKey, base, v2Key))
	if err != nil {
		return err
	}
	if err := writeDevClientConfig(abs, cfg); err != nil {
		return err
	}
	logger := slog.Default()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	svc, err := api.NewLogService(ctx, cfg, logger)
	if err != nil {
		return err
	}
	defer svc.Close()
	ls, err := api.Listen(cfg.Listen.HTTP, cfg.Listen.GRPC)
	if err != nil {
		return err
	}
	fmt.Printf(`Hallmark is running (state in %[1]s).

  Rekor v2 log:  %[2]s/rekor-v2        (checkpoint: %[2]s/rekor-v2/checkpoint)
  tiles log:     %[2]s/tiles           (append: curl --data-binary 'hello' %[2]s/tiles/entries)
  proofs:        curl '%[2]s/tiles/proof/inclusion?index=0'
  health:        %[2]s/healthz   metrics: %[2]s/metrics

Client configuration:
  %[1]s/trusted_root.json
  %[1]s/signing_config.v2.json

Try it with cosign v3 and a key pair:
  cosign generate-key-pair
  echo hello > artifact.txt
  cosign sign-blob --key cosign.key --signing-config %[1]s/signing_config.v2.json \
      --bundle artifact.sigstore.json artifact.txt
  cosign verify-blob --key cosign.pub --trusted-root %[1]s/trusted_root.json \
      --bundle artifact.sigstore.json artifact.txt

Press Ctrl-C to stop.
`, abs, base)
	return api.Serve(ctx, ls, svc.Handler(), svc.GRPCServer(), logger)
}

// writeDevClientConfig writes trusted_root.json and the signing configs
// for the development services into dir.
func writeDevClientConfig(dir string, cfg *tlog.ServiceConfig) error {
	start := time.Now().Add(-time.Hour)
	if fi, err := os.Stat(filepath.Join(dir, "hallmark.db")); err == nil {
		start = fi.ModTime().Add(-24 * time.Hour) // keep old bundles verifiable
	}
	var tlogs []clientconfig.Log
	var rekor []clientconfig.Service
	for _, lc := range cfg.Logs {
		if lc.Kind != "rekor-v2" {
			continue
		}
		key, err := tlog.LoadPrivateKey(cfg.Path(lc.KeyFile))
		if err != nil {
			return err
		}
		id, err := rekorv2.KeyHash(lc.CheckpointOrigin(), key.Public())
		if err != nil {
			return err
		}
		tlogs = append(tlogs, clientconfig.Log{BaseURL: lc.URL, PublicKey: key.Public(), KeyID: id[:], Start: start})
		rekor = append(rekor, clientconfig.Service{URL: lc.URL, APIVersion: 2})
	}
	tr, err := clientconfig.TrustedRoot(clientconfig.TrustedRootParams{Tlogs: tlogs})
	if err != nil {
		return err
	}
	sc, err := clientconfig.SigningConfig(clientconfig.SigningConfigParams{RekorURLs: rekor, Start: start, Operator: "hallmark-dev"})
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "trusted_root.json"), tr, 0o644); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, "signing_config.v2.json"), sc, 0o644)
}

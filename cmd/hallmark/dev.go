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

	"github.com/hallmark-dev/hallmark/api"
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
	base := "http://" + *addr
	cfg, err := tlog.ParseServiceConfig(fmt.Appendf(nil, `
listen: {http: %q, grpc: %q}
database: {sqlite: %q}
logs:
  - name: tiles
    kind: tiles
    url: %s/tiles
    key_file: %q
`, *addr, *grpcAddr, filepath.Join(abs, "hallmark.db"), base, tilesKey))
	if err != nil {
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
	fmt.Printf(`Hallmark is running (state in %s).

  tiles log:   %s/tiles/checkpoint
  append:      curl --data-binary 'hello' %s/tiles/entries
  proofs:      curl '%s/tiles/proof/inclusion?index=0'
  health:      %s/healthz    metrics: %s/metrics

Press Ctrl-C to stop.
`, abs, base, base, base, base, base)
	return api.Serve(ctx, ls, svc.Handler(), svc.GRPCServer(), logger)
}

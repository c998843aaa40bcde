// Command hallmark-log serves Hallmark's transparency logs: Rekor v1 and v2
// compatible APIs, C2SP tlog-tiles, checkpoints and proofs, from one
// PostgreSQL (or embedded SQLite) database.
//
//	hallmark-log --config hallmark-log.yaml
//
// The configuration reference is the documentation of tlog.ServiceConfig
// (docs/log.md walks through it).
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/hallmark-dev/hallmark/api"
	_ "github.com/hallmark-dev/hallmark/internal/signer/kms" // log keys of signer type kms: AWS, GCP, Azure, Vault
	"github.com/hallmark-dev/hallmark/tlog"
)

func main() {
	configPath := flag.String("config", "hallmark-log.yaml", "configuration file")
	flag.Parse()
	logger := slog.New(slog.NewJSONHandler(os.Stderr, nil))
	slog.SetDefault(logger)
	if err := run(*configPath, logger); err != nil {
		logger.Error("hallmark-log failed", "err", err)
		os.Exit(1)
	}
}

func run(configPath string, logger *slog.Logger) error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	cfg, err := tlog.LoadServiceConfig(configPath)
	if err != nil {
		return err
	}
	svc, err := api.NewLogService(ctx, cfg, logger)
	if err != nil {
		return err
	}
	defer svc.Close()
	ls, err := api.ListenConfig(cfg.Listen)
	if err != nil {
		return err
	}
	for _, l := range cfg.Logs {
		logger.Info("log ready", "name", l.Name, "kind", l.Kind, "url", l.URL, "origin", l.CheckpointOrigin())
	}
	if err := svc.Serve(ctx, ls, svc.Handler()); err != nil {
		return fmt.Errorf("server: %w", err)
	}
	return nil
}

package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"

	"github.com/jackc/pgx/v5"

	"github.com/hallmark-dev/hallmark/api"
	"github.com/hallmark-dev/hallmark/tlog"
)

func runMigrate(args []string) error {
	fs := flag.NewFlagSet("migrate", flag.ExitOnError)
	config := fs.String("config", "hallmark-log.yaml", "hallmark-log configuration naming the database")
	fs.Parse(args)
	cfg, err := tlog.LoadServiceConfig(*config)
	if err != nil {
		return err
	}
	ctx := context.Background()
	if err := checkMigratable(ctx, cfg, *config); err != nil {
		return err
	}
	// Opening a store applies pending migrations.
	store, err := api.OpenStore(ctx, cfg)
	if err != nil {
		return err
	}
	defer store.Close()
	fmt.Println("database schema is up to date")
	return nil
}

// checkMigratable refuses to migrate a database this configuration only
// reads: a read-only replica's, or a PostgreSQL standby. It changes nothing.
func checkMigratable(ctx context.Context, cfg *tlog.ServiceConfig, path string) error {
	if cfg.ReadOnly {
		return fmt.Errorf("%s is a read-only replica's configuration (read_only: true): it never writes to its database; run hallmark migrate with the primary's configuration", path)
	}
	url, err := cfg.DatabaseURL()
	if err != nil || url == "" {
		return err // SQLite: no standby
	}
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		return fmt.Errorf("couldn't connect to PostgreSQL: %w", err)
	}
	defer conn.Close(ctx)
	var standby bool
	if err := conn.QueryRow(ctx, "SELECT pg_is_in_recovery()").Scan(&standby); err != nil {
		return fmt.Errorf("couldn't ask PostgreSQL whether it is a standby: %w", err)
	}
	if standby {
		return fmt.Errorf("the database of %s is a PostgreSQL standby (in recovery): migrations run on the primary and reach the standby by replication", path)
	}
	return nil
}

func runKeys(args []string) error {
	if len(args) < 1 || args[0] != "generate" {
		return errors.New("usage: hallmark keys generate --type ed25519|ecdsa-p256|ml-dsa-44 --out FILE")
	}
	fs := flag.NewFlagSet("keys generate", flag.ExitOnError)
	typ := fs.String("type", "ed25519", "key type: "+tlog.KeyTypes+" (Rekor v1 and CT logs need ecdsa-p256; ml-dsa-44 is for rekor-v2 and tiles logs, verified by rekor-tiles v2.4 clients, see docs/clients.md)")
	out := fs.String("out", "", "output file (PKCS#8 PEM, mode 0600); must not exist")
	fs.Parse(args[1:])
	if *out == "" {
		return errors.New("--out is required")
	}
	pemKey, err := tlog.GenerateKey(*typ)
	if err != nil {
		return err
	}
	f, err := os.OpenFile(*out, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	if _, err := f.Write(pemKey); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

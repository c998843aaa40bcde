package tlog

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5/pgxpool"
)

// OpenPGReadOnly connects to PostgreSQL for reading only: it applies no
// migrations and every session it opens is read-only
// (default_transaction_read_only), so it can point at a streaming standby
// and cannot change the database whatever it is asked. The schema must
// already be there: the primary's hallmark-log (or `hallmark migrate`)
// creates it. Commit and CreateLog fail on a read-only store.
func OpenPGReadOnly(ctx context.Context, url string) (*PGStore, error) {
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("invalid database URL: %w", err)
	}
	cfg.ConnConfig.RuntimeParams["default_transaction_read_only"] = "on"
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("couldn't connect to PostgreSQL: %w", err)
	}
	if err := pool.Ping(ctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("couldn't reach PostgreSQL: %w", err)
	}
	var n int64
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM logs`).Scan(&n); err != nil {
		pool.Close()
		return nil, fmt.Errorf("the database has no Hallmark schema (a read-only store applies no migrations; start the primary or run `hallmark migrate` first): %w", err)
	}
	return &PGStore{pool: pool}, nil
}

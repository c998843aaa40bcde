// Package migrations holds Hallmark's SQL schema, one directory per
// database dialect, applied with goose at start-up and by `hallmark migrate`.
package migrations

import (
	"context"
	"database/sql"
	"embed"
	"fmt"
	"io/fs"

	"github.com/pressly/goose/v3"
)

//go:embed postgres/*.sql sqlite/*.sql
var files embed.FS

// WithSessionLocker serialises concurrent migrations (PostgreSQL).
var WithSessionLocker = goose.WithSessionLocker

// Dialect names a schema directory.
type Dialect string

const (
	Postgres Dialect = "postgres"
	SQLite   Dialect = "sqlite"
)

// UpTo applies the dialect's migrations up to version only: tests of
// upgrades start from an older schema with it.
func UpTo(ctx context.Context, db *sql.DB, d Dialect, version int64) error {
	p, err := provider(db, d)
	if err != nil {
		return err
	}
	_, err = p.UpTo(ctx, version)
	return err
}

// Up applies every pending migration of the dialect to db and returns the
// resulting schema version.
func Up(ctx context.Context, db *sql.DB, d Dialect, opts ...goose.ProviderOption) (int64, error) {
	p, err := provider(db, d, opts...)
	if err != nil {
		return 0, err
	}
	if _, err := p.Up(ctx); err != nil {
		return 0, fmt.Errorf("couldn't apply %s migrations: %w", d, err)
	}
	v, err := p.GetDBVersion(ctx)
	if err != nil {
		return 0, fmt.Errorf("couldn't read schema version: %w", err)
	}
	return v, nil
}

func provider(db *sql.DB, d Dialect, opts ...goose.ProviderOption) (*goose.Provider, error) {
	sub, err := fs.Sub(files, string(d))
	if err != nil {
		return nil, err
	}
	gd := goose.DialectPostgres
	if d == SQLite {
		gd = goose.DialectSQLite3
	}
	p, err := goose.NewProvider(gd, db, sub, opts...)
	if err != nil {
		return nil, fmt.Errorf("couldn't load %s migrations: %w", d, err)
	}
	return p, nil
}

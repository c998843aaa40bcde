package migrations

import (
	"context"
	"database/sql"
	"io/fs"
	"path/filepath"
	"testing"

	"github.com/pressly/goose/v3"
	_ "modernc.org/sqlite"
)

// TestFrozenUpgradesInPlace applies the schema up to 00003, stores a log,
// then upgrades: the log keeps its state and starts unfrozen.
func TestFrozenUpgradesInPlace(t *testing.T) {
	ctx := context.Background()
	db, err := sql.Open("sqlite", "file:"+filepath.Join(t.TempDir(), "old.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	sub, _ := fs.Sub(files, string(SQLite))
	p, err := goose.NewProvider(goose.DialectSQLite3, db, sub)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.UpTo(ctx, 3); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(`INSERT INTO logs (name, size) VALUES ('old', 42)`); err != nil {
		t.Fatal(err)
	}
	if _, err := Up(ctx, db, SQLite); err != nil {
		t.Fatal(err)
	}
	var size int64
	var frozen bool
	if err := db.QueryRow(`SELECT size, frozen FROM logs WHERE name = 'old'`).Scan(&size, &frozen); err != nil || size != 42 || frozen {
		t.Fatalf("after the upgrade: size %d frozen %v (%v), want 42 false", size, frozen, err)
	}
}

package migrations

import (
	"context"
	"database/sql"
	"path/filepath"
	"testing"

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
	p, err := provider(db, SQLite)
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

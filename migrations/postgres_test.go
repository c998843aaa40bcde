package migrations

import (
	"context"
	"database/sql"
	"strings"
	"testing"

	_ "github.com/jackc/pgx/v5/stdlib"

	"github.com/hallmark-dev/hallmark/internal/pgtest"
)

// TestKeyIndexesUpgradeInPlace applies the PostgreSQL schema up to
// 00005, stores keys, then upgrades: the rows stay, still refuse
// duplicates, are found by their lookups, entry keys are indexed key
// first and search keys by their hash. Down restores the old indexes.
func TestKeyIndexesUpgradeInPlace(t *testing.T) {
	ctx := context.Background()
	db, err := sql.Open("pgx", pgtest.URL(t))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	p, err := provider(db, Postgres)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.UpTo(ctx, 5); err != nil {
		t.Fatal(err)
	}
	exec := func(q string, args ...any) {
		t.Helper()
		if _, err := db.ExecContext(ctx, q, args...); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	exec(`INSERT INTO logs (name, size) VALUES ('a', 3), ('b', 1)`)
	exec(`INSERT INTO entry_keys (log, key, idx) VALUES ('a', '\x01', 0), ('a', '\x02', 1), ('b', '\x01', 0)`)
	exec(`INSERT INTO search_keys (log, key, idx) VALUES ('a', 'Zed', 0), ('a', 'alice', 1), ('a', 'alice', 2), ('b', 'alice', 0)`)

	indexdef := func(name string) string {
		t.Helper()
		var def string
		if err := db.QueryRowContext(ctx, `SELECT indexdef FROM pg_indexes WHERE indexname = $1`, name).Scan(&def); err != nil {
			t.Fatalf("index %s: %v", name, err)
		}
		return def
	}
	check := func(entryKeys, searchIndex, searchDef string) {
		t.Helper()
		if got := indexdef("entry_keys_pkey"); got != "CREATE UNIQUE INDEX entry_keys_pkey ON public.entry_keys USING btree ("+entryKeys+")" {
			t.Errorf("entry_keys_pkey: %s", got)
		}
		if got := indexdef(searchIndex); got != searchDef {
			t.Errorf("%s: %s", searchIndex, got)
		}
		var idx int64
		if err := db.QueryRowContext(ctx, `SELECT idx FROM entry_keys WHERE log = 'a' AND key = '\x02'`).Scan(&idx); err != nil || idx != 1 {
			t.Errorf("entry key lookup: %d, %v", idx, err)
		}
		var n int
		if err := db.QueryRowContext(ctx, `SELECT count(DISTINCT idx) FROM search_keys WHERE log = 'a' AND key = ANY($1)`, []string{"alice", "Zed"}).Scan(&n); err != nil || n != 3 {
			t.Errorf("search: %d, %v", n, err)
		}
		if _, err := db.ExecContext(ctx, `INSERT INTO entry_keys (log, key, idx) VALUES ('b', '\x01', 7)`); err == nil {
			t.Error("a duplicate entry key was accepted")
		}
	}

	if _, err := Up(ctx, db, Postgres); err != nil {
		t.Fatal(err)
	}
	check("key, log", "search_keys_h", "CREATE INDEX search_keys_h ON public.search_keys USING btree (h, idx)")
	// The upgrade computed each row's hash (tlog's searchHash: the first 8
	// bytes of SHA-256(log, 0x00, key), big-endian; tlog's tests check
	// that stores find upgraded rows).
	var h int64
	if err := db.QueryRowContext(ctx, `SELECT h FROM search_keys WHERE log = 'b' AND key = 'alice'`).Scan(&h); err != nil || h != -0x345ebf71cd2e76a {
		t.Errorf("hash of b/alice: %#x (%v)", h, err)
	}

	// The stores' queries use the indexes.
	for _, q := range []struct {
		sql   string
		args  []any
		index string
	}{
		{`SELECT DISTINCT idx FROM search_keys WHERE h = ANY($1) AND log = $2 AND key = ANY($3) ORDER BY idx LIMIT $4`, []any{[]int64{h}, "b", []string{"alice"}, 10}, "search_keys_h"},
		{`SELECT key, idx FROM entry_keys WHERE log = $1 AND key = ANY($2)`, []any{"a", [][]byte{{1}}}, "entry_keys_pkey"},
		{`SELECT idx FROM entry_keys WHERE log = $1 AND key = $2`, []any{"a", []byte{1}}, "entry_keys_pkey"},
	} {
		if plan := explain(t, db, q.sql, q.args...); !strings.Contains(plan, q.index) {
			t.Errorf("%s does not use %s:\n%s", q.sql, q.index, plan)
		}
	}

	if _, err := p.DownTo(ctx, 5); err != nil {
		t.Fatal(err)
	}
	check("log, key", "search_keys_pkey", "CREATE UNIQUE INDEX search_keys_pkey ON public.search_keys USING btree (log, key, idx)")
}

// explain returns the plan of q with sequential scans disabled.
func explain(t *testing.T, db *sql.DB, q string, args ...any) string {
	t.Helper()
	ctx := context.Background()
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, `SET LOCAL enable_seqscan = off`); err != nil {
		t.Fatal(err)
	}
	rows, err := tx.QueryContext(ctx, "EXPLAIN "+q, args...)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var plan strings.Builder
	for rows.Next() {
		var line string
		if err := rows.Scan(&line); err != nil {
			t.Fatal(err)
		}
		plan.WriteString(line + "\n")
	}
	return plan.String()
}

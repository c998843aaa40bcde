package fsck_test

import (
	"context"
	"crypto/ed25519"
	"database/sql"
	"fmt"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // registers the "pgx" driver for raw corruption
	"golang.org/x/mod/sumdb/note"

	"github.com/hallmark-dev/hallmark/internal/pgtest"
	"github.com/hallmark-dev/hallmark/tlog"
	"github.com/hallmark-dev/hallmark/tlog/format"
	"github.com/hallmark-dev/hallmark/tlog/fsck"
)

// testDB is a store plus raw SQL access to corrupt it behind its back.
type testDB struct {
	store fsck.Store
	raw   *sql.DB
	pg    bool
}

var placeholder = regexp.MustCompile(`\$\d+`)

func (d *testDB) q(query string) string {
	if d.pg {
		return query
	}
	return placeholder.ReplaceAllString(query, "?")
}

// flip XORs byte off of the bytea column col of the row selected by where,
// and returns a function that flips it back.
func (d *testDB) flip(t *testing.T, table, col, where string, off int, args ...any) func() {
	t.Helper()
	var data []byte
	if err := d.raw.QueryRow(d.q(fmt.Sprintf("SELECT %s FROM %s WHERE %s", col, table, where)), args...).Scan(&data); err != nil {
		t.Fatalf("couldn't read %s.%s: %v", table, col, err)
	}
	if off < 0 {
		off += len(data)
	}
	data[off] ^= 0x5a
	set := func() {
		n := len(args)
		q := fmt.Sprintf("UPDATE %s SET %s = $%d WHERE %s", table, col, n+1, where)
		all := append(append([]any{}, args...), data)
		if !d.pg { // "?" placeholders bind in textual order: SET comes first
			all = append([]any{data}, args...)
		}
		res, err := d.raw.Exec(d.q(q), all...)
		if err != nil {
			t.Fatalf("couldn't corrupt %s.%s: %v", table, col, err)
		}
		if n, _ := res.RowsAffected(); n != 1 {
			t.Fatalf("corrupting %s.%s touched %d rows", table, col, n)
		}
	}
	set()
	return func() { data[off] ^= 0x5a; set() }
}

func stores(t *testing.T, f func(t *testing.T, db *testDB)) {
	t.Run("sqlite", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "log.db")
		s, err := tlog.OpenSQLite(context.Background(), path)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		raw, err := sql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(10000)")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { raw.Close() })
		f(t, &testDB{store: s, raw: raw})
	})
	t.Run("postgres", func(t *testing.T) {
		url := pgtest.URL(t)
		s, err := tlog.OpenPG(context.Background(), url)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		raw, err := sql.Open("pgx", url)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { raw.Close() })
		f(t, &testDB{store: s, raw: raw, pg: true})
	})
}

const (
	logName = "fscktest"
	origin  = "example.com/fscktest"
	entries = 700 // three bundles (the last partial), tiles on two levels
)

// fillLog writes entries to a fresh log in batches of varied sizes, so
// that checkpoints fall inside bundles as well as on their edges.
func fillLog(t *testing.T, s fsck.Store) note.Verifier {
	t.Helper()
	key := ed25519.NewKeyFromSeed(make([]byte, ed25519.SeedSize))
	signer, err := format.NewNoteSigner(origin, key)
	if err != nil {
		t.Fatal(err)
	}
	verifier, err := format.NewNoteVerifier(origin, key.Public())
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	l, err := tlog.Open(ctx, s, tlog.Config{Name: logName, Origin: origin, Signer: signer, BatchMaxSize: 37, BatchMaxAge: time.Millisecond,
		Index: s, History: s})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	var wg sync.WaitGroup
	sem := make(chan struct{}, 50)
	for i := 0; i < entries; i++ {
		wg.Add(1)
		sem <- struct{}{}
		go func(i int) {
			defer wg.Done()
			defer func() { <-sem }()
			if _, err := l.Append(ctx, tlog.Entry{Data: fmt.Appendf(nil, "entry %d %s", i, strings.Repeat("x", i%40))}); err != nil {
				t.Error(err)
			}
		}(i)
	}
	wg.Wait()
	return verifier
}

func TestFsck(t *testing.T) {
	stores(t, func(t *testing.T, db *testDB) {
		verifier := fillLog(t, db.store)
		ctx := context.Background()
		var progress []fsck.Progress
		opts := fsck.Options{Name: logName, Origin: origin, Verifier: verifier,
			Progress: func(p fsck.Progress) { progress = append(progress, p) }}
		rep, err := fsck.Check(ctx, db.store, opts)
		if err != nil {
			t.Fatal(err)
		}
		if !rep.OK() {
			t.Fatalf("clean log has problems: %v", rep.Problems)
		}
		cps, _ := db.store.Checkpoints(ctx, logName, 0, entries)
		// Tiles: 0/0, 0/1, 0/2 (partial) and 1/0 (partial, 2 hashes).
		if rep.Size != entries || rep.Entries != entries || rep.Tiles != 4 || rep.Checkpoints != len(cps) || len(cps) < 10 {
			t.Fatalf("report: size %d, %d entries, %d tiles, %d checkpoints (stored %d)", rep.Size, rep.Entries, rep.Tiles, rep.Checkpoints, len(cps))
		}
		if len(progress) == 0 || progress[len(progress)-1].Entries != entries {
			t.Fatalf("progress reports: %+v", progress)
		}
		mid := cps[len(cps)/2].Size

		for _, tc := range []struct {
			name    string
			corrupt func(t *testing.T) (undo func())
			where   string // a problem must be reported here
			text    string // ... containing this
			only    bool   // ... and no other problem
		}{
			{"full level-0 tile", func(t *testing.T) func() {
				return db.flip(t, "tiles", "data", "log = $1 AND level = $2 AND idx = $3", 40*32+7, logName, 0, 1)
			}, "tile 0/1", "hash 40 differs from the one recomputed from the entries (entry 296)", false},
			{"partial level-0 tile", func(t *testing.T) func() {
				return db.flip(t, "tiles", "data", "log = $1 AND level = $2 AND idx = $3", -1, logName, 0, 2)
			}, "tile 0/2", "hash 187 differs", false},
			{"level-1 tile", func(t *testing.T) func() {
				return db.flip(t, "tiles", "data", "log = $1 AND level = $2 AND idx = $3", 32+1, logName, 1, 0)
			}, "tile 1/0", "hash 1 differs", false},
			{"entry in a bundle", func(t *testing.T) func() {
				return db.flip(t, "bundles", "data", "log = $1 AND idx = $2", 2+3, logName, 1)
			}, "entry bundle 1", "entry 256 hashes to", true},
			{"bundle framing", func(t *testing.T) func() {
				return db.flip(t, "bundles", "data", "log = $1 AND idx = $2", 0, logName, 2)
			}, "entry bundle 2", "corrupt", true},
			{"checkpoint signature", func(t *testing.T) func() {
				return db.flip(t, "checkpoints", "checkpoint", "log = $1 AND size = $2", -5, logName, int64(mid))
			}, fmt.Sprintf("checkpoint %d", mid), "does not verify", true},
			{"checkpoint root", func(t *testing.T) func() {
				// Flip a bit of the base64 root hash (line 3): the signature
				// no longer verifies.
				return db.flip(t, "checkpoints", "checkpoint", "log = $1 AND size = $2", len(origin)+1+len(fmt.Sprint(mid))+1+3, logName, int64(mid))
			}, fmt.Sprintf("checkpoint %d", mid), "does not verify", true},
			{"state root", func(t *testing.T) func() {
				return db.flip(t, "logs", "root", "name = $1", 0, logName)
			}, "state", "the state says size 700", false},
			{"state compact range", func(t *testing.T) func() {
				return db.flip(t, "logs", "compact", "name = $1", 0, logName)
			}, "state", "compact range", true},
			{"deduplication row", func(t *testing.T) func() {
				return db.flip(t, "entry_keys", "idx", "log = $1 AND idx = $2", 0, logName, 5)
			}, "entry 5", "no deduplication row", true},
		} {
			t.Run(tc.name, func(t *testing.T) {
				if tc.name == "deduplication row" {
					// idx is an integer column: move the row instead. SQLite
					// keeps recent keys in entry_keys_recent.
					tables := []string{"entry_keys"}
					if !db.pg {
						tables = append(tables, "entry_keys_recent")
					}
					moved := int64(0)
					for _, table := range tables {
						res, err := db.raw.Exec(db.q("UPDATE "+table+" SET idx = $1 WHERE log = $2 AND idx = $3"), 100000, logName, 5)
						if err != nil {
							t.Fatal(err)
						}
						n, _ := res.RowsAffected()
						moved += n
						defer db.raw.Exec(db.q("UPDATE "+table+" SET idx = $1 WHERE log = $2 AND idx = $3"), 5, logName, 100000)
					}
					if moved == 0 {
						t.Fatal("no deduplication row for entry 5")
					}
					tc.text = "says index 100000"
				} else {
					defer tc.corrupt(t)()
				}
				rep, err := fsck.Check(ctx, db.store, fsck.Options{Name: logName, Origin: origin, Verifier: verifier})
				if err != nil {
					t.Fatal(err)
				}
				found := false
				for _, p := range rep.Problems {
					if p.Where == tc.where && strings.Contains(p.What, tc.text) {
						found = true
					}
				}
				if !found {
					t.Fatalf("want a problem at %q containing %q; got %d: %v", tc.where, tc.text, len(rep.Problems), rep.Problems)
				}
				if tc.only && len(rep.Problems) != 1 {
					t.Fatalf("want only that problem; got %v", rep.Problems)
				}
				t.Logf("%d problems, first: %v", len(rep.Problems), rep.Problems[0])
			})
		}
		// Every corruption was undone: the log checks clean again.
		if rep, err := fsck.Check(ctx, db.store, opts); err != nil || !rep.OK() {
			t.Fatalf("after undoing: %v %v", err, rep.Problems)
		}
	})
}

func TestFsckWrongKey(t *testing.T) {
	path := filepath.Join(t.TempDir(), "log.db")
	s, err := tlog.OpenSQLite(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	fillLog(t, s)
	pub, _, _ := ed25519.GenerateKey(nil)
	v, _ := format.NewNoteVerifier(origin, pub)
	rep, err := fsck.Check(context.Background(), s, fsck.Options{Name: logName, Origin: origin, Verifier: v, SkipKeys: true})
	if err != nil {
		t.Fatal(err)
	}
	if rep.OK() || rep.Problems[0].Where != "state" || !strings.Contains(rep.Problems[0].What, "does not verify") {
		t.Fatalf("a log checked with another key must fail on its state checkpoint first: %v", rep.Problems)
	}
}

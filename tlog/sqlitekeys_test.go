package tlog

import (
	"context"
	"database/sql"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/pressly/goose/v3"
	"github.com/transparency-dev/merkle/rfc6962"
)

func openSQLiteSmallMerges(t *testing.T, path string, gen uint64) *SQLiteStore {
	t.Helper()
	s, err := OpenSQLite(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	s.mergeMin, s.mergeMax = gen, gen
	t.Cleanup(func() { s.Close() })
	return s
}

type mergeRow struct {
	recentFrom, mergeTo int64
	slice               sql.NullInt64
	recent, main        int64
}

func readMerge(t *testing.T, s *SQLiteStore, log string) mergeRow {
	t.Helper()
	var m mergeRow
	ctx := context.Background()
	if err := s.db.QueryRowContext(ctx, `SELECT recent_from, merge_to, merge_slice FROM logs WHERE name = ?`, log).Scan(&m.recentFrom, &m.mergeTo, &m.slice); err != nil {
		t.Fatal(err)
	}
	s.db.QueryRowContext(ctx, `SELECT count(*) FROM entry_keys_recent WHERE log = ?`, log).Scan(&m.recent)
	s.db.QueryRowContext(ctx, `SELECT count(*) FROM entry_keys WHERE log = ?`, log).Scan(&m.main)
	return m
}

// checkDedup appends every entry of [0, n) again and looks each up: each
// must come back at its index, as a duplicate, whichever table holds it.
func checkDedup(t *testing.T, l *testLog, want map[int]uint64) {
	t.Helper()
	ctx := context.Background()
	for i, idx := range want {
		got, err := l.Lookup(ctx, [32]byte(rfc6962.DefaultHasher.HashLeaf(entryData(i))))
		if err != nil || got != idx {
			t.Fatalf("lookup of entry %d: %d, %v; want %d", i, got, err, idx)
		}
	}
	// Resubmit a spread of them concurrently, in batches.
	var sample []int
	for i := range want {
		if i%7 == 0 {
			sample = append(sample, i)
		}
	}
	done := make(chan error, len(sample))
	for _, i := range sample {
		go func() {
			r, err := l.Append(ctx, Entry{Data: entryData(i)})
			if err == nil && (!r.Duplicate || r.Index != want[i]) {
				err = errors.New("duplicate not recognised")
			}
			done <- err
		}()
	}
	for range sample {
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}
	if _, err := l.Lookup(ctx, [32]byte(rfc6962.DefaultHasher.HashLeaf([]byte("never appended")))); !errors.Is(err, ErrNotFound) {
		t.Fatalf("lookup of a missing key: %v", err)
	}
}

// TestSQLiteRecentKeys drives the SQLite store through several generations
// of recent keys moving into entry_keys, with a failed batch and a reopen
// in the middle of a move, and checks deduplication stays exact throughout.
func TestSQLiteRecentKeys(t *testing.T) {
	path := filepath.Join(t.TempDir(), "log.db")
	s := openSQLiteSmallMerges(t, path, 100)
	fs := &faultyStore{testStore: s}
	l := openTestLog(t, fs, "recent", func(c *Config) { c.BatchMaxSize = 16 })
	want := map[int]uint64{}
	appendN := func(l *testLog, from, n int) {
		for i, r := range appendAll(t, l.Log, from, n) {
			if r.Duplicate {
				t.Fatalf("entry %d is a duplicate", from+i)
			}
			want[from+i] = r.Index
		}
	}
	appendN(l, 0, 250)
	checkDedup(t, l, want)
	m := readMerge(t, s, "recent")
	if m.main == 0 || m.recent == 250 {
		t.Fatalf("no keys moved after 250 entries: %+v", m)
	}

	// A failed batch in the middle of a move leaves no trace.
	for i := 250; ; i++ {
		appendN(l, i, 1)
		if readMerge(t, s, "recent").slice.Valid {
			break
		}
	}
	before := readMerge(t, s, "recent")
	fs.failBeforeWrite.Store(true)
	if _, err := l.Append(context.Background(), Entry{Data: []byte("lost")}); err == nil {
		t.Fatal("append succeeded despite failure")
	}
	fs.failBeforeWrite.Store(false)
	if after := readMerge(t, s, "recent"); after != before {
		t.Fatalf("failed batch changed the merge state: %+v → %+v", before, after)
	}
	if _, err := l.Lookup(context.Background(), [32]byte(rfc6962.DefaultHasher.HashLeaf([]byte("lost")))); !errors.Is(err, ErrNotFound) {
		t.Fatalf("failed entry is in the log: %v", err)
	}
	checkDedup(t, l, want)

	// Reopen in the middle of a move: the new store's memory starts empty.
	next := len(want)
	l.Close()
	s.Close()
	s = openSQLiteSmallMerges(t, path, 100)
	l = openTestLog(t, s, "recent", func(c *Config) { c.BatchMaxSize = 16 })
	checkDedup(t, l, want)
	appendN(l, next, 600)
	s.keysMu.Lock()
	f := s.recent["recent"].filter
	ready := f != nil && f.ready
	s.keysMu.Unlock()
	if !ready {
		t.Fatal("the key filter is not in use") // then the dedup check below would not test it
	}
	checkDedup(t, l, want)
	checkLog(t, l)
	m = readMerge(t, s, "recent")
	if m.main+m.recent < int64(len(want)) || m.recent > 3*100+64 {
		t.Fatalf("keys: %d in entry_keys, %d recent, %d entries: %+v", m.main, m.recent, len(want), m)
	}
	t.Logf("%d entries: %d keys in entry_keys, %d recent, state %+v", len(want), m.main, m.recent, m)
}

// TestSQLiteUpgradeRecentKeys checks that migration 4 upgrades a database
// written before it (all keys in entry_keys) in place, and that its down
// migration keeps every key.
func TestSQLiteUpgradeRecentKeys(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "log.db")
	s := openSQLiteSmallMerges(t, path, 1<<30) // no merges: keys stay recent
	l := openTestLog(t, s, "old", nil)
	want := map[int]uint64{}
	for i, r := range appendAll(t, l.Log, 0, 300) {
		want[i] = r.Index
	}
	l.Close()
	if m := readMerge(t, s, "old"); m.recent != 300 || m.main != 0 {
		t.Fatalf("before downgrade: %+v", m)
	}
	// Back to schema 3, the layout of older releases.
	p, err := goose.NewProvider(goose.DialectSQLite3, s.db, os.DirFS("../migrations/sqlite"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.DownTo(ctx, 3); err != nil {
		t.Fatal(err)
	}
	var n int
	if err := s.db.QueryRowContext(ctx, `SELECT count(*) FROM entry_keys WHERE log = 'old'`).Scan(&n); err != nil || n != 300 {
		t.Fatalf("schema 3 has %d keys (%v)", n, err)
	}
	s.Close()

	// Opening migrates to the current schema; old keys stay in entry_keys.
	s = openSQLiteSmallMerges(t, path, 100)
	m := readMerge(t, s, "old")
	if m.recentFrom != 300 || m.mergeTo != 300 || m.slice.Valid || m.main != 300 || m.recent != 0 {
		t.Fatalf("after upgrade: %+v", m)
	}
	l = openTestLog(t, s, "old", nil)
	checkDedup(t, l, want)
	for i, r := range appendAll(t, l.Log, 300, 400) {
		want[300+i] = r.Index
	}
	checkDedup(t, l, want)
	checkLog(t, l)
}

// TestSQLiteLookupSeesTableChanges: the in-memory recent keys never hide
// what the table says (fsck relies on Lookup reading the database).
func TestSQLiteLookupSeesTableChanges(t *testing.T) {
	ctx := context.Background()
	s := openSQLiteSmallMerges(t, filepath.Join(t.TempDir(), "log.db"), 1<<30)
	l := openTestLog(t, s, "moved", nil)
	appendAll(t, l.Log, 0, 50)
	key := [32]byte(rfc6962.DefaultHasher.HashLeaf(entryData(5)))
	idx, err := s.Lookup(ctx, "moved", key)
	if err != nil {
		t.Fatal(err)
	}
	for _, to := range []uint64{100000, idx} {
		if _, err := s.db.ExecContext(ctx, `UPDATE entry_keys_recent SET idx = ? WHERE log = 'moved' AND key = ?`, int64(to), key[:]); err != nil {
			t.Fatal(err)
		}
		if got, err := s.Lookup(ctx, "moved", key); err != nil || got != to {
			t.Fatalf("after moving the row to %d, lookup says %d, %v", to, got, err)
		}
	}
	if _, err := s.db.ExecContext(ctx, `DELETE FROM entry_keys_recent WHERE log = 'moved' AND key = ?`, key[:]); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Lookup(ctx, "moved", key); !errors.Is(err, ErrNotFound) {
		t.Fatalf("after deleting the row: %v", err)
	}
}

// TestSQLiteRecentKeysTwoLogs: two logs in one file holding the same
// entries keep their own indices through merges.
func TestSQLiteRecentKeysTwoLogs(t *testing.T) {
	s := openSQLiteSmallMerges(t, filepath.Join(t.TempDir(), "log.db"), 64)
	a := openTestLog(t, s, "a", func(c *Config) { c.BatchMaxSize = 16 })
	b := openTestLog(t, s, "b", func(c *Config) { c.BatchMaxSize = 16 })
	wantA, wantB := map[int]uint64{}, map[int]uint64{}
	for i, r := range appendAll(t, a.Log, 0, 300) {
		wantA[i] = r.Index
	}
	for i, r := range appendAll(t, b.Log, 100, 300) {
		if r.Duplicate {
			t.Fatalf("entry %d of log b is a duplicate (of log a's?)", 100+i)
		}
		wantB[100+i] = r.Index
	}
	checkDedup(t, a, wantA)
	checkDedup(t, b, wantB)
	if m := readMerge(t, s, "a"); m.main == 0 {
		t.Fatalf("log a: nothing merged: %+v", m)
	}
	if m := readMerge(t, s, "b"); m.main == 0 {
		t.Fatalf("log b: nothing merged: %+v", m)
	}
}

// TestSQLiteFilterDroppedWhileBuilding: another writer's batch drops the
// filter; batches go on without one until a new one is built.
func TestSQLiteFilterDroppedWhileBuilding(t *testing.T) {
	s := openSQLiteSmallMerges(t, filepath.Join(t.TempDir(), "log.db"), 64)
	s.keysMu.Lock()
	rk := s.recentOf("f")
	rk.building = true // a build that has not finished
	rk.filter = &keyFilter{}
	rk.wrote = 12345 // not the size: as if another process wrote
	s.keysMu.Unlock()
	if f := s.txFilter("f", 0); f != nil {
		t.Fatal("a filter was used after another writer committed")
	}
	s.keysMu.Lock()
	rk.building = false
	s.keysMu.Unlock()
	l := openTestLog(t, s, "f", func(c *Config) { c.BatchMaxSize = 16 })
	want := map[int]uint64{}
	for i, r := range appendAll(t, l.Log, 0, 200) {
		want[i] = r.Index
	}
	checkDedup(t, l, want)
}

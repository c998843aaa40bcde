package tlog

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"database/sql"
	"encoding/binary"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/transparency-dev/formats/log"
	"github.com/transparency-dev/merkle/proof"
	"github.com/transparency-dev/merkle/rfc6962"
	"golang.org/x/mod/sumdb/note"

	"github.com/hallmark-dev/hallmark/internal/pgtest"
	"github.com/hallmark-dev/hallmark/migrations"
	"github.com/hallmark-dev/hallmark/tlog/format"
)

// testStore is a store with every part of the storage contract, as both
// of Hallmark's are: the conformance suite runs each part on both.
type testStore interface {
	Store
	SearchIndex
	History
	Importer
	SearchKeyWriter
}

// stores runs f against every Store implementation: the conformance suite.
func stores(t *testing.T, f func(t *testing.T, open func(t *testing.T) testStore)) {
	t.Run("sqlite", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "log.db")
		f(t, func(t *testing.T) testStore {
			s, err := OpenSQLite(context.Background(), path)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { s.Close() })
			return s
		})
	})
	t.Run("postgres", func(t *testing.T) {
		url := pgtest.URL(t)
		f(t, func(t *testing.T) testStore {
			s, err := OpenPG(context.Background(), url)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { s.Close() })
			return s
		})
	})
}

type testLog struct {
	*Log
	verifier note.Verifier
}

func openTestLog(t *testing.T, s testStore, name string, mod func(*Config)) *testLog {
	t.Helper()
	seed := make([]byte, ed25519.SeedSize)
	copy(seed, name) // deterministic per log name, so reopening works
	key := ed25519.NewKeyFromSeed(seed)
	origin := "example.com/" + name
	signer, err := format.NewNoteSigner(origin, key)
	if err != nil {
		t.Fatal(err)
	}
	verifier, err := format.NewNoteVerifier(origin, key.Public())
	if err != nil {
		t.Fatal(err)
	}
	cfg := Config{Name: name, Origin: origin, Signer: signer, BatchMaxAge: 5 * time.Millisecond, BatchMaxSize: 64,
		Index: s, History: s, Importer: s}
	if mod != nil {
		mod(&cfg)
	}
	l, err := Open(context.Background(), s, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(l.Close)
	return &testLog{Log: l, verifier: verifier}
}

func entryData(i int) []byte {
	return []byte(fmt.Sprintf("entry %d %s", i, bytes.Repeat([]byte("x"), i%300)))
}

// appendAll appends n entries concurrently and returns their receipts.
func appendAll(t *testing.T, l *Log, from, n int) []*Receipt {
	t.Helper()
	out := make([]*Receipt, n)
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			r, err := l.Append(context.Background(), Entry{Data: entryData(from + i), SearchKeys: []string{fmt.Sprintf("k%d", (from+i)%7)}})
			if err != nil {
				errs <- err
				return
			}
			out[i] = r
		}(i)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
		break
	}
	return out
}

// checkLog verifies the whole log against an independent recomputation:
// every entry in the bundles, every leaf in the tiles, the root, the
// checkpoint signature, and inclusion proofs.
func checkLog(t *testing.T, l *testLog) *Checkpoint {
	t.Helper()
	ctx := context.Background()
	l.refreshed.Store(0) // read the store: another sequencer may have committed
	cp, err := l.Checkpoint(ctx)
	if err != nil {
		t.Fatal(err)
	}
	c, _, _, err := log.ParseCheckpoint(cp.Note, l.Origin(), l.verifier)
	if err != nil {
		t.Fatalf("checkpoint does not verify: %v\n%s", err, cp.Note)
	}
	if c.Size != cp.Size || !bytes.Equal(c.Hash, cp.Root) {
		t.Fatalf("checkpoint note says %d/%x, state says %d/%x", c.Size, c.Hash, cp.Size, cp.Root)
	}
	r := rangeFactory.NewEmptyRange(0)
	for i := uint64(0); i < cp.Size; i++ {
		data, err := l.EntryAt(ctx, i, cp.Size)
		if err != nil {
			t.Fatal(err)
		}
		lh := rfc6962.DefaultHasher.HashLeaf(data)
		got, err := l.LeafHash(ctx, i, cp.Size)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, lh) {
			t.Fatalf("leaf %d: tile has %x, bundle entry hashes to %x", i, got, lh)
		}
		r.Append(lh, nil)
	}
	root, _ := r.GetRootHash(nil)
	if cp.Size == 0 {
		root = rfc6962.DefaultHasher.EmptyRoot()
	}
	if !bytes.Equal(root, cp.Root) {
		t.Fatalf("root from bundles %x, checkpoint %x", root, cp.Root)
	}
	for _, i := range []uint64{0, cp.Size / 3, cp.Size / 2, cp.Size - 1} {
		if cp.Size == 0 {
			break
		}
		p, err := l.InclusionProof(ctx, i, cp.Size)
		if err != nil {
			t.Fatal(err)
		}
		lh, _ := l.LeafHash(ctx, i, cp.Size)
		if err := proof.VerifyInclusion(rfc6962.DefaultHasher, i, cp.Size, lh, p, cp.Root); err != nil {
			t.Fatalf("inclusion %d/%d: %v", i, cp.Size, err)
		}
	}
	return cp
}

func TestAppendAndProofs(t *testing.T) {
	stores(t, func(t *testing.T, open func(t *testing.T) testStore) {
		s := open(t)
		l := openTestLog(t, s, "main", nil)
		ctx := context.Background()
		cp0 := checkLog(t, l)
		if cp0.Size != 0 {
			t.Fatalf("new log has size %d", cp0.Size)
		}
		rs := appendAll(t, l.Log, 0, 700)
		seen := map[uint64]bool{}
		for i, r := range rs {
			if r.Duplicate || seen[r.Index] {
				t.Fatalf("entry %d: index %d duplicate=%v", i, r.Index, r.Duplicate)
			}
			seen[r.Index] = true
			data, err := l.EntryAt(ctx, r.Index, r.Checkpoint.Size)
			if err != nil || !bytes.Equal(data, entryData(i)) {
				t.Fatalf("entry %d at index %d reads %q, %v", i, r.Index, data, err)
			}
			// The receipt's checkpoint includes the entry.
			p, err := l.InclusionProof(ctx, r.Index, r.Checkpoint.Size)
			if err != nil {
				t.Fatal(err)
			}
			if err := proof.VerifyInclusion(rfc6962.DefaultHasher, r.Index, r.Checkpoint.Size, rfc6962.DefaultHasher.HashLeaf(data), p, r.Checkpoint.Root); err != nil {
				t.Fatalf("entry %d: %v", i, err)
			}
		}
		cp1 := checkLog(t, l)
		if cp1.Size != 700 {
			t.Fatalf("size %d, want 700", cp1.Size)
		}
		// Consistency from every stored checkpoint to the latest.
		cps, err := l.Checkpoints(ctx, 0, cp1.Size)
		if err != nil || len(cps) < 2 {
			t.Fatalf("stored checkpoints: %d, %v", len(cps), err)
		}
		for _, c := range cps {
			parsed, _, _, err := log.ParseCheckpoint(c.Checkpoint, l.Origin(), l.verifier)
			if err != nil {
				t.Fatal(err)
			}
			p, err := l.ConsistencyProof(ctx, parsed.Size, cp1.Size)
			if err != nil {
				t.Fatal(err)
			}
			if parsed.Size > 0 {
				if err := proof.VerifyConsistency(rfc6962.DefaultHasher, parsed.Size, cp1.Size, p, parsed.Hash, cp1.Root); err != nil {
					t.Fatalf("consistency %d→%d: %v", parsed.Size, cp1.Size, err)
				}
			}
		}
		// Duplicates return the existing index, in and across batches.
		again := appendAll(t, l.Log, 0, 50)
		for i, r := range again {
			if !r.Duplicate || r.Index != rs[i].Index {
				t.Fatalf("resubmitted entry %d: %+v, first index %d", i, r, rs[i].Index)
			}
		}
		if idx, err := l.Lookup(ctx, [32]byte(rfc6962.DefaultHasher.HashLeaf(entryData(5)))); err != nil || idx != rs[5].Index {
			t.Fatalf("Lookup: %d, %v", idx, err)
		}
		got, err := l.Search(ctx, []string{"k3"}, 1000)
		if err != nil || len(got) != 100 {
			t.Fatalf("Search k3: %d results, %v", len(got), err)
		}
		if bt, err := l.BatchTime(ctx, rs[0].Index); err != nil || bt.IsZero() {
			t.Fatalf("BatchTime: %v %v", bt, err)
		}
		// Bad requests.
		if _, err := l.InclusionProof(ctx, 700, 700); !errors.Is(err, ErrInvalidRequest) {
			t.Fatalf("proof beyond tree: %v", err)
		}
		if _, err := l.ConsistencyProof(ctx, 10, 701); !errors.Is(err, ErrInvalidRequest) {
			t.Fatalf("consistency beyond tree: %v", err)
		}
		if _, err := l.Tile(ctx, 0, 5, 0); !errors.Is(err, ErrNotFound) {
			t.Fatalf("missing tile: %v", err)
		}
		if _, err := l.Append(ctx, Entry{Data: make([]byte, MaxEntrySize+1)}); !errors.Is(err, ErrEntryTooLarge) {
			t.Fatalf("large entry: %v", err)
		}

		// Reopening (a restart) continues the same log.
		l.Close()
		l2 := openTestLog(t, s, "main", nil)
		appendAll(t, l2.Log, 700, 30)
		if cp := checkLog(t, l2); cp.Size != 730 {
			t.Fatalf("after restart size %d", cp.Size)
		}
		// A second log in the same store is independent.
		other := openTestLog(t, s, "other", nil)
		appendAll(t, other.Log, 0, 10)
		if cp := checkLog(t, other); cp.Size != 10 {
			t.Fatalf("other log size %d", cp.Size)
		}
	})
}

// TestHigherTileLevels appends past 65,536 entries so level-2 tiles exist.
func TestHigherTileLevels(t *testing.T) {
	if testing.Short() {
		t.Skip("long")
	}
	stores(t, func(t *testing.T, open func(t *testing.T) testStore) {
		l := openTestLog(t, open(t), "big", func(c *Config) { c.BatchMaxSize = 4096 })
		const n = 66000
		for from := 0; from < n; from += 6000 {
			appendAll(t, l.Log, from, min(6000, n-from))
		}
		ctx := context.Background()
		cp, _ := l.Checkpoint(ctx)
		if cp.Size != n {
			t.Fatalf("size %d", cp.Size)
		}
		if _, err := l.Tile(ctx, 2, 0, 1); err != nil {
			t.Fatalf("level-2 tile: %v", err)
		}
		// Entries were appended concurrently, in no fixed order: checkLog
		// recomputes the root from the bundles.
		checkLog(t, l)
		for _, sz := range []uint64{1, 255, 256, 257, 65535, 65536, 65537} {
			root, err := l.RootAt(ctx, sz)
			if err != nil {
				t.Fatal(err)
			}
			p, err := l.ConsistencyProof(ctx, sz, n)
			if err != nil {
				t.Fatal(err)
			}
			if err := proof.VerifyConsistency(rfc6962.DefaultHasher, sz, n, p, root, cp.Root); err != nil {
				t.Fatalf("%d→%d: %v", sz, n, err)
			}
		}
	})
}

// faultyStore injects failures into commits.
type faultyStore struct {
	testStore
	failBeforeWrite atomic.Bool // fail inside the transaction: nothing persists
	failAfterCommit atomic.Bool // commit succeeds, caller sees an error: it persists
}

func (f *faultyStore) Commit(ctx context.Context, log string, fn func(Tx) error) error {
	err := f.testStore.Commit(ctx, log, func(tx Tx) error {
		if err := fn(tx); err != nil {
			return err
		}
		if f.failBeforeWrite.Load() {
			return errors.New("injected failure inside the transaction")
		}
		return nil
	})
	if err == nil && f.failAfterCommit.Load() {
		return errors.New("injected failure after commit")
	}
	return err
}

func TestSequenceErrors(t *testing.T) {
	stores(t, func(t *testing.T, open func(t *testing.T) testStore) {
		fs := &faultyStore{testStore: open(t)}
		l := openTestLog(t, fs, "faults", nil)
		ctx := context.Background()
		appendAll(t, l.Log, 0, 20)

		// A failure that does not persist: waiters get errors, the log is
		// as it was, and the next batch proceeds.
		fs.failBeforeWrite.Store(true)
		if _, err := l.Append(ctx, Entry{Data: []byte("lost")}); err == nil {
			t.Fatal("append succeeded despite failure")
		}
		fs.failBeforeWrite.Store(false)
		if cp := checkLog(t, l); cp.Size != 20 {
			t.Fatalf("size after failed batch %d, want 20", cp.Size)
		}
		if _, err := l.Lookup(ctx, [32]byte(rfc6962.DefaultHasher.HashLeaf([]byte("lost")))); !errors.Is(err, ErrNotFound) {
			t.Fatalf("failed entry is in the log: %v", err)
		}
		r, err := l.Append(ctx, Entry{Data: []byte("lost")})
		if err != nil || r.Index != 20 {
			t.Fatalf("retry: %+v %v", r, err)
		}

		// A failure that persists: the waiter gets an error, but the entry
		// is in; resubmitting returns its index.
		fs.failAfterCommit.Store(true)
		if _, err := l.Append(ctx, Entry{Data: []byte("kept")}); err == nil {
			t.Fatal("append succeeded despite failure")
		}
		fs.failAfterCommit.Store(false)
		r, err = l.Append(ctx, Entry{Data: []byte("kept")})
		if err != nil || !r.Duplicate || r.Index != 21 {
			t.Fatalf("resubmit after persisted failure: %+v %v", r, err)
		}
		appendAll(t, l.Log, 100, 10)
		if cp := checkLog(t, l); cp.Size != 32 {
			t.Fatalf("size %d, want 32", cp.Size)
		}
	})
}

// TestRacingSequencers runs two sequencers (as two processes would) on one
// log: the tree must stay one consistent tree with every entry exactly once.
func TestRacingSequencers(t *testing.T) {
	stores(t, func(t *testing.T, open func(t *testing.T) testStore) {
		a := openTestLog(t, open(t), "race", nil)
		b := openTestLog(t, open(t), "race", nil)
		var wg sync.WaitGroup
		var ra, rb []*Receipt
		wg.Add(2)
		go func() { defer wg.Done(); ra = appendAll(t, a.Log, 0, 600) }()
		go func() { defer wg.Done(); rb = appendAll(t, b.Log, 300, 600) }() // 300 overlap
		wg.Wait()
		byData := map[int]uint64{}
		for i, r := range ra {
			byData[i] = r.Index
		}
		for i, r := range rb {
			if idx, ok := byData[300+i]; ok && idx != r.Index {
				t.Fatalf("entry %d got index %d from one sequencer and %d from the other", 300+i, idx, r.Index)
			}
			byData[300+i] = r.Index
		}
		cp := checkLog(t, b)
		if cp.Size != 900 {
			t.Fatalf("size %d, want 900 distinct entries", cp.Size)
		}
		ctx := context.Background()
		for i, idx := range byData {
			data, err := b.EntryAt(ctx, idx, cp.Size)
			if err != nil || !bytes.Equal(data, entryData(i)) {
				t.Fatalf("entry %d at %d reads %q", i, idx, data)
			}
		}
	})
}

func TestPushback(t *testing.T) {
	path := filepath.Join(t.TempDir(), "log.db")
	s, err := OpenSQLite(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	block := make(chan struct{})
	bs := &blockingStore{testStore: s, block: block}
	l := openTestLog(t, bs, "push", func(c *Config) { c.MaxPending = 4; c.BatchMaxSize = 1 })
	bs.armed.Store(true)
	results := make(chan error, 10)
	for i := 0; i < 10; i++ {
		go func(i int) {
			_, err := l.Append(context.Background(), Entry{Data: []byte{byte(i)}})
			results <- err
		}(i)
	}
	pushed := 0
	for i := 0; i < 10; i++ {
		select {
		case err := <-results:
			if !errors.Is(err, ErrPushback) {
				t.Fatalf("want pushback, got %v", err)
			}
			pushed++
		case <-time.After(500 * time.Millisecond):
			i = 10
		}
	}
	if pushed == 0 {
		t.Fatal("no pushback with a full queue")
	}
	bs.armed.Store(false)
	close(block)
	for i := pushed; i < 10; i++ {
		if err := <-results; err != nil {
			t.Fatal(err)
		}
	}
}

type blockingStore struct {
	testStore
	armed atomic.Bool
	block chan struct{}
}

func (b *blockingStore) Commit(ctx context.Context, log string, fn func(Tx) error) error {
	if b.armed.Load() {
		<-b.block
	}
	return b.testStore.Commit(ctx, log, fn)
}

func TestReopenWithOtherKeyFails(t *testing.T) {
	s, err := OpenSQLite(context.Background(), filepath.Join(t.TempDir(), "db"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	l := openTestLog(t, s, "keyed", nil)
	appendAll(t, l.Log, 0, 3)
	l.Close()
	_, other, _ := ed25519.GenerateKey(nil)
	signer, _ := format.NewNoteSigner(l.Origin(), other)
	verifier, _ := format.NewNoteVerifier(l.Origin(), other.Public())
	if _, err := Open(context.Background(), s, Config{Name: "keyed", Origin: l.Origin(), Signer: signer, Verifier: verifier, Index: s, History: s}); err == nil {
		t.Fatal("opened a log with a key that did not sign its checkpoint")
	}
	if _, err := Open(context.Background(), s, Config{Name: "keyed", Origin: "elsewhere.example", Signer: signer, Index: s, History: s}); err == nil {
		t.Fatal("opened a log under another origin")
	}
}

// TestOpenNeedsCapabilities: a log opened without the store's search index
// or history fails at once, saying which; one opened without an Importer
// serves everything but Import, which fails with ErrNoImporter.
func TestOpenNeedsCapabilities(t *testing.T) {
	ctx := context.Background()
	s, err := OpenSQLite(ctx, filepath.Join(t.TempDir(), "db"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	signer, err := format.NewNoteSigner("example.com/caps", ed25519.NewKeyFromSeed(make([]byte, ed25519.SeedSize)))
	if err != nil {
		t.Fatal(err)
	}
	for _, cfg := range []Config{
		{Name: "caps", Origin: "example.com/caps", Signer: signer, History: s},
		{Name: "caps", Origin: "example.com/caps", Signer: signer, Index: s},
	} {
		_, err := Open(ctx, s, cfg)
		if err == nil || !strings.Contains(err.Error(), "Config.Index, Config.History") {
			t.Errorf("Open without the index or history: %v, want an error naming Config.Index and Config.History", err)
		}
	}
	l, err := Open(ctx, s, Config{Name: "caps", Origin: "example.com/caps", Signer: signer, Index: s, History: s, BatchMaxAge: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if l.CanImport() {
		t.Error("CanImport on a log opened without an Importer")
	}
	if _, err := l.Import(ctx, ImportBatch{Start: 0, Entries: []Entry{{Data: []byte("x")}}, Time: time.Unix(1, 0)}); !errors.Is(err, ErrNoImporter) {
		t.Errorf("Import without an Importer: %v, want ErrNoImporter", err)
	}
	if _, err := l.Append(ctx, Entry{Data: []byte("y"), SearchKeys: []string{"k"}}); err != nil {
		t.Fatal(err)
	}
	if got, err := l.Search(ctx, []string{"k"}, 10); err != nil || !slices.Equal(got, []uint64{0}) {
		t.Errorf("Search: %v, %v; want [0]", got, err)
	}
}

// fixedFraming stores 12-byte entries back to back, like self-delimiting
// CT TileLeaf structures.
type fixedFraming struct{}

func (fixedFraming) Append(b, e []byte) []byte { return append(b, e...) }
func (fixedFraming) Split(b []byte) ([][]byte, []int, error) {
	if len(b)%12 != 0 {
		return nil, nil, errors.New("bad bundle")
	}
	var out [][]byte
	var ends []int
	for i := 0; i < len(b); i += 12 {
		out = append(out, b[i:i+12])
		ends = append(ends, i+12)
	}
	return out, ends, nil
}

// TestFinishAndFraming builds entries that embed their own index and batch
// time, in a custom bundle framing, as the CT personality does.
func TestFinishAndFraming(t *testing.T) {
	s, err := OpenSQLite(context.Background(), filepath.Join(t.TempDir(), "db"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	l := openTestLog(t, s, "ct", func(c *Config) { c.Framing = fixedFraming{} })
	ctx := context.Background()
	var wg sync.WaitGroup
	for i := 0; i < 300; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			key := [32]byte{byte(i), byte(i >> 8), 1}
			_, err := l.Append(ctx, Entry{DedupKey: key, Finish: func(idx uint64, tm time.Time) ([]byte, [32]byte, error) {
				d := binary.BigEndian.AppendUint64(binary.BigEndian.AppendUint32(nil, uint32(i)), idx)
				return d, [32]byte(rfc6962.DefaultHasher.HashLeaf(d)), nil
			}})
			if err != nil {
				t.Error(err)
			}
		}(i)
	}
	wg.Wait()
	cp, _ := l.Checkpoint(ctx)
	for idx := uint64(0); idx < cp.Size; idx++ {
		e, err := l.EntryAt(ctx, idx, cp.Size)
		if err != nil || binary.BigEndian.Uint64(e[4:]) != idx {
			t.Fatalf("entry %d: %x %v", idx, e, err)
		}
		lh, _ := l.LeafHash(ctx, idx, cp.Size)
		if !bytes.Equal(lh, rfc6962.DefaultHasher.HashLeaf(e)) {
			t.Fatalf("leaf %d hash mismatch", idx)
		}
	}
	if b, err := l.EntryBundle(ctx, 1, 44); err != nil || len(b) != 44*12 {
		t.Fatalf("partial bundle: %d bytes, %v", len(b), err)
	}
	if _, err := l.Append(ctx, Entry{Finish: func(uint64, time.Time) ([]byte, [32]byte, error) { return nil, [32]byte{}, nil }}); err == nil {
		t.Fatal("Finish without DedupKey accepted")
	}
}

// TestPGSearchFindsUpgradedRows stores search rows in the schema before
// search keys were indexed by hash (00005), upgrades by opening the store,
// and searches: the hash the migration computed in SQL is the one the
// store computes, so the old rows are found, and new ones beside them.
func TestPGSearchFindsUpgradedRows(t *testing.T) {
	ctx := context.Background()
	url := pgtest.URL(t)
	db, err := sql.Open("pgx", url)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := migrations.UpTo(ctx, db, migrations.Postgres, 5); err != nil {
		t.Fatal(err)
	}
	if _, err := db.ExecContext(ctx, `INSERT INTO logs (name, size) VALUES ('old', 3);
		INSERT INTO search_keys (log, key, idx) VALUES ('old', 'alice@example.com', 0), ('old', 'sha256:ab', 1),
			('old', 'alice@example.com', 2), ('other', 'alice@example.com', 9), ('old', 'ünïcode', 1)`); err != nil {
		t.Fatal(err)
	}
	s, err := OpenPG(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for _, c := range []struct {
		keys []string
		want []uint64
	}{
		{[]string{"alice@example.com"}, []uint64{0, 2}},
		{[]string{"sha256:ab", "alice@example.com"}, []uint64{0, 1, 2}},
		{[]string{"ünïcode"}, []uint64{1}},
		{[]string{"bob@example.com"}, nil},
	} {
		if got, err := s.Search(ctx, "old", c.keys, 10); err != nil || !slices.Equal(got, c.want) {
			t.Errorf("Search %q: %v, %v; want %v", c.keys, got, err, c.want)
		}
	}
}

// TestSearchOrderAndLimit: a search for several keys answers the union of
// their entries, ascending, each index once, cut at the limit, on every
// store; SearchAmong answers the same among given indices.
func TestSearchOrderAndLimit(t *testing.T) {
	stores(t, func(t *testing.T, open func(t *testing.T) testStore) {
		ctx := context.Background()
		l := openTestLog(t, open(t), "search", nil)
		b := ImportBatch{Start: 0, Time: time.Unix(1700000000, 0)}
		for i := range 600 {
			keys := []string{fmt.Sprintf("mod3-%d", i%3), "all"}
			if i%2 == 0 {
				keys = append(keys, "even", "even") // listed twice
			}
			b.Entries = append(b.Entries, Entry{Data: entryData(i), SearchKeys: keys})
		}
		if _, err := l.Import(ctx, b); err != nil {
			t.Fatal(err)
		}
		want := func(keep func(i int) bool, limit int) []uint64 {
			var out []uint64
			for i := 0; i < 600 && len(out) < limit; i++ {
				if keep(i) {
					out = append(out, uint64(i))
				}
			}
			return out
		}
		for _, c := range []struct {
			keys []string
			keep func(i int) bool
		}{
			{[]string{"even"}, func(i int) bool { return i%2 == 0 }},
			{[]string{"even", "mod3-0"}, func(i int) bool { return i%2 == 0 || i%3 == 0 }},
			{[]string{"mod3-1", "even", "mod3-1"}, func(i int) bool { return i%2 == 0 || i%3 == 1 }},
			{[]string{"all", "even"}, func(int) bool { return true }},
			{[]string{"nobody"}, func(int) bool { return false }},
			{[]string{"nobody", "mod3-2"}, func(i int) bool { return i%3 == 2 }},
		} {
			for _, limit := range []int{1, 7, 250, 1000} {
				got, err := l.Search(ctx, c.keys, limit)
				if w := want(c.keep, limit); err != nil || !slices.Equal(got, w) {
					t.Fatalf("Search %q limit %d: %d results %v, %v; want %d", c.keys, limit, len(got), got[:min(len(got), 10)], err, len(w))
				}
			}
			// The same keys among some indices (one past the log's end).
			among := []uint64{0, 1, 2, 3, 5, 8, 13, 21, 34, 55, 89, 144, 233, 377, 599, 600}
			var w []uint64
			for _, i := range among {
				if i < 600 && c.keep(int(i)) {
					w = append(w, i)
				}
			}
			if got, err := l.SearchAmong(ctx, c.keys, among); err != nil || !slices.Equal(got, w) {
				t.Fatalf("SearchAmong %q: %v, %v; want %v", c.keys, got, err, w)
			}
		}
		if got, err := l.SearchAmong(ctx, []string{"all"}, nil); err != nil || len(got) != 0 {
			t.Fatalf("SearchAmong no indices: %v, %v", got, err)
		}
	})
}

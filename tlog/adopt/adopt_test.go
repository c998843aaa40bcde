package adopt

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/transparency-dev/merkle/rfc6962"
	"github.com/transparency-dev/merkle/testonly"

	"github.com/hallmark-dev/hallmark/internal/pgtest"
	"github.com/hallmark-dev/hallmark/tlog"
	"github.com/hallmark-dev/hallmark/tlog/format"
)

// memSource is a Source over an in-memory tree. Tests corrupt what it
// serves to check that the Importer notices.
type memSource struct {
	leaves []Leaf
	tree   *testonly.Tree
	size   uint64 // the size LatestRoot reports

	failAt   atomic.Int64 // Leaves fails when asked for this index (if >0)
	perCall  uint64       // Leaves returns at most this many leaves (if >0)
	badValue map[uint64][]byte
	badHash  map[uint64][]byte
}

// newMemSource makes n leaves whose integration times advance by one
// second every few leaves, as a Trillian signer's batches do.
func newMemSource(n int, seed uint64) *memSource {
	r := rand.New(rand.NewPCG(seed, 1))
	s := &memSource{tree: testonly.New(rfc6962.DefaultHasher), badValue: map[uint64][]byte{}, badHash: map[uint64][]byte{}}
	t := time.Unix(1650000000, 0)
	for i := 0; i < n; i++ {
		if r.IntN(4) == 0 {
			t = t.Add(time.Duration(1+r.IntN(90)) * time.Second)
		}
		v := []byte(fmt.Sprintf(`{"n":%d,"pad":%q}`, i, bytes.Repeat([]byte("x"), r.IntN(400))))
		s.leaves = append(s.leaves, Leaf{Index: uint64(i), Value: v, LeafHash: rfc6962.DefaultHasher.HashLeaf(v), Integrated: t.Add(time.Duration(r.IntN(1e9)))})
		s.tree.AppendData(v)
	}
	s.size = uint64(n)
	return s
}

func (s *memSource) LatestRoot(context.Context) (Root, error) {
	return Root{Size: s.size, Hash: s.tree.HashAt(s.size)}, nil
}

func (s *memSource) Leaves(_ context.Context, start, count uint64) ([]Leaf, error) {
	if f := s.failAt.Load(); f > 0 && start <= uint64(f) && uint64(f) < start+count {
		return nil, errors.New("injected read failure")
	}
	end := min(start+count, s.size)
	if s.perCall > 0 {
		end = min(end, start+s.perCall)
	}
	out := make([]Leaf, 0, end-start)
	for _, l := range s.leaves[start:end] {
		if v, ok := s.badValue[l.Index]; ok {
			l.Value = v
		}
		if h, ok := s.badHash[l.Index]; ok {
			l.LeafHash = h
		}
		out = append(out, l)
	}
	return out, nil
}

func (s *memSource) ConsistencyProof(_ context.Context, first, second uint64) ([][]byte, error) {
	return s.tree.ConsistencyProof(first, second)
}

// testStore is a store with every part of the storage contract, as both
// of Hallmark's are.
type testStore interface {
	tlog.Store
	tlog.SearchIndex
	tlog.History
	tlog.Importer
}

func stores(t *testing.T, f func(t *testing.T, open func(t *testing.T) testStore)) {
	t.Run("sqlite", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "log.db")
		f(t, func(t *testing.T) testStore {
			s, err := tlog.OpenSQLite(context.Background(), path)
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
			s, err := tlog.OpenPG(context.Background(), url)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { s.Close() })
			return s
		})
	})
}

func openLog(t *testing.T, s testStore) *tlog.Log {
	t.Helper()
	key := ed25519.NewKeyFromSeed(make([]byte, ed25519.SeedSize))
	signer, err := format.NewNoteSigner("rekor.example.com", key)
	if err != nil {
		t.Fatal(err)
	}
	l, err := tlog.Open(context.Background(), s, tlog.Config{Name: "adopted", Origin: "rekor.example.com - 1234", Signer: signer,
		Index: s, History: s, Importer: s})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(l.Close)
	return l
}

func importer(l *tlog.Log, s testStore, src Source) *Importer {
	return &Importer{
		Log: l, Store: s, Source: src, ReadSize: 256, CommitSize: 300,
		IndexKeys: func(v []byte) ([]string, error) {
			if bytes.Contains(v, []byte(`"n":7,`)) {
				return nil, errors.New("no keys for this one")
			}
			return []string{fmt.Sprintf("len:%d", len(v)%10)}, nil
		},
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
	}
}

// checkCopy checks that the log holds exactly the source's first n leaves
// with their integration seconds.
func checkCopy(t *testing.T, l *tlog.Log, src *memSource, n uint64) {
	t.Helper()
	ctx := context.Background()
	cp, err := l.Checkpoint(ctx)
	if err != nil || cp.Size != n {
		t.Fatalf("log size %+v, %v; want %d", cp, err, n)
	}
	if root := src.tree.HashAt(n); !bytes.Equal(cp.Root, root) {
		t.Fatalf("root %x, source root at %d is %x", cp.Root, n, root)
	}
	for i := uint64(0); i < n; i++ {
		data, err := l.EntryAt(ctx, i, n)
		if err != nil || !bytes.Equal(data, src.leaves[i].Value) {
			t.Fatalf("entry %d: %q, %v", i, data, err)
		}
		bt, err := l.BatchTime(ctx, i)
		if err != nil || bt.Unix() != src.leaves[i].Integrated.Unix() {
			t.Fatalf("entry %d: integrated at %v (%v), source says %v", i, bt, err, src.leaves[i].Integrated)
		}
	}
}

func TestImportFromSource(t *testing.T) {
	stores(t, func(t *testing.T, open func(t *testing.T) testStore) {
		ctx := context.Background()
		s := open(t)
		l := openLog(t, s)
		src := newMemSource(1500, 1)
		src.perCall = 100 // reads of 256 take three calls
		res, err := importer(l, s, src).Run(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if res.From != 0 || res.To != 1500 || !bytes.Equal(res.Root, src.tree.Hash()) || res.NoIndexKeys != 1 {
			t.Fatalf("result %+v", res)
		}
		checkCopy(t, l, src, 1500)
		if got, err := l.Search(ctx, []string{"len:3"}, 10000); err != nil || len(got) == 0 {
			t.Fatalf("search keys: %v, %v", got, err)
		}

		// Running again finds nothing to do; so does a run after the log
		// has grown past the source.
		if res, err := importer(l, s, src).Run(ctx); err != nil || res.Imported() != 0 {
			t.Fatalf("second run: %+v, %v", res, err)
		}
		if _, err := l.Append(ctx, tlog.Entry{Data: []byte("after cut-over")}); err != nil {
			t.Fatal(err)
		}
		if res, err := importer(l, s, src).Run(ctx); err != nil || res.Imported() != 0 {
			t.Fatalf("run after new appends: %+v, %v", res, err)
		}
	})
}

func TestImportResumes(t *testing.T) {
	stores(t, func(t *testing.T, open func(t *testing.T) testStore) {
		ctx := context.Background()
		s := open(t)
		l := openLog(t, s)
		src := newMemSource(2000, 2)
		src.size = 1200 // the source grows between runs
		src.failAt.Store(700)
		if _, err := importer(l, s, src).Run(ctx); err == nil {
			t.Fatal("run with a failing source succeeded")
		}
		cp, _ := l.Checkpoint(ctx)
		if cp.Size == 0 || cp.Size > 700 {
			t.Fatalf("interrupted run left size %d", cp.Size)
		}
		src.failAt.Store(0)
		res, err := importer(l, s, src).Run(ctx)
		if err != nil || res.From != cp.Size || res.To != 1200 {
			t.Fatalf("resumed run: %+v, %v", res, err)
		}
		src.size = 2000
		res, err = importer(l, s, src).Run(ctx)
		if err != nil || res.From != 1200 || res.To != 2000 {
			t.Fatalf("catch-up run: %+v, %v", res, err)
		}
		checkCopy(t, l, src, 2000)
	})
}

// TestImportExtendsPartialBundle resumes an import whose first run ended
// inside an entry bundle with one transaction of many bundles (which the
// PostgreSQL store writes with COPY, replacing the partial bundle).
func TestImportExtendsPartialBundle(t *testing.T) {
	stores(t, func(t *testing.T, open func(t *testing.T) testStore) {
		ctx := context.Background()
		s := open(t)
		l := openLog(t, s)
		src := newMemSource(4000, 3)
		src.failAt.Store(700)
		if _, err := importer(l, s, src).Run(ctx); err == nil {
			t.Fatal("run with a failing source succeeded")
		}
		cp, _ := l.Checkpoint(ctx)
		if cp.Size%format.TileWidth == 0 {
			t.Fatalf("interrupted run left size %d, not inside a bundle", cp.Size)
		}
		src.failAt.Store(0)
		im := importer(l, s, src)
		im.ReadSize, im.CommitSize = 1000, 10000
		res, err := im.Run(ctx)
		if err != nil || res.From != cp.Size || res.To != 4000 || res.Batches != 1 {
			t.Fatalf("resumed run: %+v, %v", res, err)
		}
		checkCopy(t, l, src, 4000)
		checkCopy(t, openLog(t, s), src, 4000) // from the store, not the log's cache
		a, err := l.Search(ctx, []string{"len:3"}, 5000)
		if err != nil || len(a) == 0 {
			t.Fatalf("search: %d results, %v", len(a), err)
		}
	})
}

func TestImportStopsAtMismatch(t *testing.T) {
	ctx := context.Background()
	open := func(t *testing.T) testStore {
		s, err := tlog.OpenSQLite(ctx, filepath.Join(t.TempDir(), "log.db"))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	}
	for _, tc := range []struct {
		name    string
		corrupt func(*memSource)
		index   uint64
	}{
		{"leaf hash does not match value", func(s *memSource) { s.badHash[700] = make([]byte, 32) }, 700},
		{"value and hash differ from the root", func(s *memSource) {
			v := []byte("forged")
			s.badValue[901], s.badHash[901] = v, rfc6962.DefaultHasher.HashLeaf(v)
		}, 901},
		{"last leaf differs from the root", func(s *memSource) {
			v := []byte("forged")
			s.badValue[999], s.badHash[999] = v, rfc6962.DefaultHasher.HashLeaf(v)
		}, 999},
		{"leaves out of order", func(s *memSource) {
			s.badValue[300], s.badValue[301] = s.leaves[301].Value, s.leaves[300].Value
			s.badHash[300], s.badHash[301] = s.leaves[301].LeafHash, s.leaves[300].LeafHash
		}, 300},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := open(t)
			l := openLog(t, s)
			src := newMemSource(1000, 3)
			tc.corrupt(src)
			_, err := importer(l, s, src).Run(ctx)
			var me *MismatchError
			if !errors.As(err, &me) || me.Index != tc.index {
				t.Fatalf("got %v, want a mismatch at %d", err, tc.index)
			}
			// Nothing from the bad leaf on was committed, and what was
			// committed is the source's.
			cp, _ := l.Checkpoint(ctx)
			if cp.Size > tc.index {
				t.Fatalf("log size %d after a mismatch at %d", cp.Size, tc.index)
			}
			checkCopy(t, l, src, cp.Size)
		})
	}

	// A log that already holds other entries is not a prefix.
	s := open(t)
	l := openLog(t, s)
	src := newMemSource(500, 4)
	for i := 0; i < 3; i++ {
		l.Import(ctx, tlog.ImportBatch{Start: uint64(i), Entries: []tlog.Entry{{Data: src.leaves[i].Value}}, Time: time.Now()})
	}
	if _, err := l.Append(ctx, tlog.Entry{Data: []byte("not in the source")}); err != nil {
		t.Fatal(err)
	}
	_, err := importer(l, s, src).Run(ctx)
	var me *MismatchError
	if !errors.As(err, &me) || me.Index != 3 {
		t.Fatalf("log with foreign entries: %v, want a mismatch at 3", err)
	}
}

func TestImportRefusesConcurrentAppends(t *testing.T) {
	stores(t, func(t *testing.T, open func(t *testing.T) testStore) {
		ctx := context.Background()
		s := open(t)
		l := openLog(t, s)
		src := newMemSource(3000, 5)
		im := importer(l, s, src)
		// An append lands while the import runs: the next batch fails.
		var appended atomic.Bool
		im.IndexKeys = func([]byte) ([]string, error) {
			if appended.CompareAndSwap(false, true) {
				if _, err := l.Append(ctx, tlog.Entry{Data: []byte("sneaked in")}); err != nil {
					t.Error(err)
				}
			}
			return nil, nil
		}
		if _, err := im.Run(ctx); !errors.Is(err, tlog.ErrImportConflict) {
			t.Fatalf("import with a concurrent append: %v", err)
		}
	})
}

// TestImportTwoRunsAtOnce runs two imports of the same source into the
// same log at once, as two processes would (each with its own store and
// Log): they do not deadlock, any that fails fails with a conflict, and a
// third run then finds or makes a complete copy.
func TestImportTwoRunsAtOnce(t *testing.T) {
	stores(t, func(t *testing.T, open func(t *testing.T) testStore) {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		src := newMemSource(5000, 6)
		errs := make([]error, 2)
		var wg sync.WaitGroup
		for i := range errs {
			s := open(t)
			l := openLog(t, s)
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, errs[i] = importer(l, s, src).Run(ctx)
			}()
		}
		wg.Wait()
		t.Logf("the two runs: %v", errs)
		for i, err := range errs {
			if err != nil && !errors.Is(err, tlog.ErrImportConflict) {
				t.Errorf("run %d: %v", i, err)
			}
		}
		s := open(t)
		l := openLog(t, s)
		if _, err := importer(l, s, src).Run(ctx); err != nil {
			t.Fatal(err)
		}
		checkCopy(t, l, src, 5000)
	})
}

// TestImportCheckpointsDoNotDependOnCuts imports the same source twice:
// once in small reads and transactions and interrupted twice, once in one
// transaction. Both logs end with the same checkpoint rows, one at the end
// of each of the source's integration seconds, with its time.
func TestImportCheckpointsDoNotDependOnCuts(t *testing.T) {
	stores(t, func(t *testing.T, open func(t *testing.T) testStore) {
		ctx := context.Background()
		src := newMemSource(3000, 6)
		var want []tlog.StoredCheckpoint
		for i, l := range src.leaves {
			if i+1 == len(src.leaves) || src.leaves[i+1].Integrated.Unix() != l.Integrated.Unix() {
				want = append(want, tlog.StoredCheckpoint{Size: uint64(i + 1), Time: l.Integrated})
			}
		}
		rows := func(s testStore, name string) []tlog.StoredCheckpoint {
			t.Helper()
			cps, err := s.Checkpoints(ctx, name, 1, 1<<40)
			if err != nil {
				t.Fatal(err)
			}
			return cps
		}
		check := func(s testStore, name string) {
			t.Helper()
			got := rows(s, name)
			if len(got) != len(want) {
				t.Fatalf("log %s: %d checkpoint rows, the source has %d integration seconds", name, len(got), len(want))
			}
			for i := range got {
				if got[i].Size != want[i].Size || got[i].Time.Unix() != want[i].Time.Unix() {
					t.Fatalf("log %s: checkpoint row %d is size %d time %v, want size %d time %v", name, i, got[i].Size, got[i].Time, want[i].Size, want[i].Time)
				}
			}
		}

		s := open(t)
		small := openLog(t, s)
		for _, fail := range []int64{700, 2100, 0} {
			src.failAt.Store(fail)
			im := importer(small, s, src)
			im.ReadSize, im.CommitSize = 100, 150
			res, err := im.Run(ctx)
			if fail != 0 && err == nil {
				t.Fatal("run with a failing source succeeded")
			}
			if fail == 0 && (err != nil || res.To != 3000) {
				t.Fatalf("last run: %+v, %v", res, err)
			}
		}
		checkCopy(t, small, src, 3000)
		check(s, "adopted")

		key := ed25519.NewKeyFromSeed(make([]byte, ed25519.SeedSize))
		signer, _ := format.NewNoteSigner("rekor.example.com", key)
		big, err := tlog.Open(ctx, s, tlog.Config{Name: "adopted-at-once", Origin: "rekor.example.com - 1234", Signer: signer,
			Index: s, History: s, Importer: s})
		if err != nil {
			t.Fatal(err)
		}
		defer big.Close()
		im := importer(big, s, src)
		im.ReadSize, im.CommitSize = 1000, 5000
		if res, err := im.Run(ctx); err != nil || res.Batches != 1 || res.Checkpoints != len(want) {
			t.Fatalf("run in one transaction: %+v, %v", res, err)
		}
		checkCopy(t, big, src, 3000)
		check(s, "adopted-at-once")
		for _, k := range []string{"len:0", "len:5"} {
			a, err1 := small.Search(ctx, []string{k}, 5000)
			b, err2 := big.Search(ctx, []string{k}, 5000)
			if err1 != nil || err2 != nil || !slices.Equal(a, b) || len(a) == 0 {
				t.Fatalf("search %s: %d and %d results (%v, %v)", k, len(a), len(b), err1, err2)
			}
		}
	})
}

// TestImportCutsLargeSeconds imports a source whose leaves all share one
// integration second: transactions are cut inside it, and every entry
// keeps the second.
func TestImportCutsLargeSeconds(t *testing.T) {
	ctx := context.Background()
	s, err := tlog.OpenSQLite(ctx, filepath.Join(t.TempDir(), "log.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	l := openLog(t, s)
	src := newMemSource(1000, 7)
	for i := range src.leaves {
		src.leaves[i].Integrated = time.Unix(1650000000, int64(i))
	}
	im := importer(l, s, src)
	im.CommitSize = 150
	res, err := im.Run(ctx)
	if err != nil || res.Batches != 4 || res.Checkpoints != 4 {
		t.Fatalf("result %+v, %v; want 4 transactions of at most 300 leaves", res, err)
	}
	checkCopy(t, l, src, 1000)
}

// TestRunNeedsImporter: an import into a log opened without an Importer
// fails before it reads anything, saying why.
func TestRunNeedsImporter(t *testing.T) {
	ctx := context.Background()
	s, err := tlog.OpenSQLite(ctx, filepath.Join(t.TempDir(), "log.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	signer, err := format.NewNoteSigner("rekor.example.com", ed25519.NewKeyFromSeed(make([]byte, ed25519.SeedSize)))
	if err != nil {
		t.Fatal(err)
	}
	l, err := tlog.Open(ctx, s, tlog.Config{Name: "adopted", Origin: "rekor.example.com - 1234", Signer: signer, Index: s, History: s})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if _, err := importer(l, s, nil).Run(ctx); !errors.Is(err, tlog.ErrNoImporter) {
		t.Fatalf("Run into a log without an Importer: %v, want ErrNoImporter", err)
	}
}

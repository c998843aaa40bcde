package tlog

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/transparency-dev/formats/log"
	"github.com/transparency-dev/merkle/rfc6962"
)

// importRuns splits n entries into runs of the given sizes (cycled), each
// with its own second, as a Trillian log groups leaves by integration time.
func importRuns(from, n int, sizes []int, t0 time.Time) []ImportBatch {
	var out []ImportBatch
	for i, k := from, 0; i < from+n; k++ {
		size := min(sizes[k%len(sizes)], from+n-i)
		b := ImportBatch{Start: uint64(i), Time: t0.Add(time.Duration(i) * time.Second)}
		for j := i; j < i+size; j++ {
			b.Entries = append(b.Entries, Entry{Data: entryData(j), SearchKeys: []string{fmt.Sprintf("k%d", j%7)}})
		}
		out = append(out, b)
		i += size
	}
	return out
}

func TestImport(t *testing.T) {
	stores(t, func(t *testing.T, open func(t *testing.T) testStore) {
		ctx := context.Background()
		l := openTestLog(t, open(t), "imported", nil)
		t0 := time.Unix(1700000000, 123456789)

		// An independent tree over the same leaves gives the expected roots.
		ref := rangeFactory.NewEmptyRange(0)
		batches := importRuns(0, 1000, []int{1, 3, 256, 17, 255, 2, 300}, t0)
		for _, b := range batches {
			for _, e := range b.Entries {
				ref.Append(rfc6962.DefaultHasher.HashLeaf(e.Data), nil)
			}
			b.Root, _ = ref.GetRootHash(nil)
			cp, err := l.Import(ctx, b)
			if err != nil {
				t.Fatal(err)
			}
			if cp.Size != b.Start+uint64(len(b.Entries)) || !bytes.Equal(cp.Root, b.Root) {
				t.Fatalf("import at %d: checkpoint %d/%x, want %d/%x", b.Start, cp.Size, cp.Root, b.Start+uint64(len(b.Entries)), b.Root)
			}
		}
		cp := checkLog(t, l)
		if cp.Size != 1000 {
			t.Fatalf("size %d, want 1000", cp.Size)
		}
		// Every entry reads back at its index with its batch's time.
		for _, b := range batches {
			for j, e := range b.Entries {
				idx := b.Start + uint64(j)
				data, err := l.EntryAt(ctx, idx, cp.Size)
				if err != nil || !bytes.Equal(data, e.Data) {
					t.Fatalf("entry %d reads %q, %v", idx, data, err)
				}
				bt, err := l.BatchTime(ctx, idx)
				if err != nil || !bt.Equal(b.Time.Truncate(time.Millisecond)) {
					t.Fatalf("entry %d: batch time %v, %v; want %v", idx, bt, err, b.Time)
				}
				if got, err := l.Lookup(ctx, [32]byte(rfc6962.DefaultHasher.HashLeaf(e.Data))); err != nil || got != idx {
					t.Fatalf("Lookup of entry %d: %d, %v", idx, got, err)
				}
			}
		}
		if got, err := l.Search(ctx, []string{"k3"}, 1000); err != nil || len(got) != 143 {
			t.Fatalf("Search k3: %d results, %v", len(got), err)
		}

		// Refusals write nothing.
		next := importRuns(1000, 5, []int{5}, t0.Add(time.Hour))[0]
		bad := next
		bad.Start = 999
		if _, err := l.Import(ctx, bad); !errors.Is(err, ErrImportConflict) {
			t.Fatalf("import behind the tree: %v", err)
		}
		bad.Start = 1001
		if _, err := l.Import(ctx, bad); !errors.Is(err, ErrImportConflict) {
			t.Fatalf("import past the tree: %v", err)
		}
		bad = next
		bad.Entries = append([]Entry{{Data: entryData(500)}}, next.Entries[1:]...)
		if _, err := l.Import(ctx, bad); !errors.Is(err, ErrImportDuplicate) || !strings.Contains(err.Error(), "entry 1000 (") || !strings.Contains(err.Error(), "at index 500") {
			t.Fatalf("import of an entry already in the log: %v", err)
		}
		bad.Entries = append([]Entry{next.Entries[1]}, next.Entries[1:]...)
		if _, err := l.Import(ctx, bad); !errors.Is(err, ErrImportDuplicate) {
			t.Fatalf("import of a duplicate in the batch: %v", err)
		}
		bad = next
		bad.Root = cp.Root
		if _, err := l.Import(ctx, bad); !errors.Is(err, ErrImportRoot) {
			t.Fatalf("import with the wrong expected root: %v", err)
		}
		bad = next
		bad.Entries = []Entry{{Data: make([]byte, MaxEntrySize+1)}}
		if _, err := l.Import(ctx, bad); !errors.Is(err, ErrEntryTooLarge) {
			t.Fatalf("import of an oversized entry: %v", err)
		}
		if _, err := l.Import(ctx, ImportBatch{Start: 1000}); !errors.Is(err, ErrInvalidRequest) {
			t.Fatalf("empty import: %v", err)
		}
		if cp := checkLog(t, l); cp.Size != 1000 {
			t.Fatalf("refused imports changed the log: size %d", cp.Size)
		}

		// Appends continue after the imported entries; an import that
		// expected the old size then fails instead of interleaving.
		r, err := l.Append(ctx, Entry{Data: []byte("new after import")})
		if err != nil || r.Index != 1000 || r.Duplicate {
			t.Fatalf("append after import: %+v, %v", r, err)
		}
		if _, err := l.Import(ctx, next); !errors.Is(err, ErrImportConflict) {
			t.Fatalf("import after an append: %v", err)
		}
		if r, err := l.Append(ctx, Entry{Data: entryData(10)}); err != nil || !r.Duplicate || r.Index != 10 {
			t.Fatalf("appending an imported entry again: %+v, %v", r, err)
		}
		checkLog(t, l)
	})
}

// TestImportResumesInAnotherProcess imports half, reopens the log (a
// restart), and continues from the stored size.
func TestImportResumesInAnotherProcess(t *testing.T) {
	stores(t, func(t *testing.T, open func(t *testing.T) testStore) {
		ctx := context.Background()
		s := open(t)
		batches := importRuns(0, 600, []int{7, 250, 1}, time.Unix(1600000000, 0))
		l := openTestLog(t, s, "resume", nil)
		half := len(batches) / 2
		for _, b := range batches[:half] {
			if _, err := l.Import(ctx, b); err != nil {
				t.Fatal(err)
			}
		}
		l.Close()
		l2 := openTestLog(t, s, "resume", nil)
		cp, err := l2.Checkpoint(ctx)
		if err != nil || cp.Size != batches[half].Start {
			t.Fatalf("after restart: %+v, %v; want size %d", cp, err, batches[half].Start)
		}
		for _, b := range batches[half:] {
			if _, err := l2.Import(ctx, b); err != nil {
				t.Fatal(err)
			}
		}
		if cp := checkLog(t, l2); cp.Size != 600 {
			t.Fatalf("size %d, want 600", cp.Size)
		}
	})
}

// runRoots returns the root of the tree at the end of each run, computed
// independently of the engine.
func runRoots(runs []ImportBatch) map[uint64][]byte {
	roots := map[uint64][]byte{}
	ref := rangeFactory.NewEmptyRange(0)
	for _, b := range runs {
		for _, e := range b.Entries {
			ref.Append(rfc6962.DefaultHasher.HashLeaf(e.Data), nil)
		}
		roots[ref.End()], _ = ref.GetRootHash(nil)
	}
	return roots
}

// merge joins consecutive import batches into one that carries their ends
// as points, with the expected root at each.
func merge(t *testing.T, batches []ImportBatch, roots map[uint64][]byte) ImportBatch {
	t.Helper()
	m := ImportBatch{Start: batches[0].Start}
	for i, b := range batches {
		m.Entries = append(m.Entries, b.Entries...)
		end := b.Start + uint64(len(b.Entries))
		if i == len(batches)-1 {
			m.Time, m.Root = b.Time, roots[end]
		} else {
			m.Points = append(m.Points, ImportPoint{Size: end, Time: b.Time, Root: roots[end]})
		}
	}
	return m
}

// TestImportPoints imports many source batches per call: every source
// batch still gets its own signed checkpoint row and its own batch time,
// as if it had been imported alone.
func TestImportPoints(t *testing.T) {
	stores(t, func(t *testing.T, open func(t *testing.T) testStore) {
		ctx := context.Background()
		s := open(t)
		l := openTestLog(t, s, "points", nil)
		t0 := time.Unix(1700000000, 987654321)
		runs := importRuns(0, 1200, []int{1, 1, 3, 256, 17, 255, 2, 1, 300, 1}, t0)
		roots := runRoots(runs)

		// Refusals write nothing.
		all := merge(t, runs, roots)
		bad := all
		bad.Points = append([]ImportPoint{}, all.Points...)
		bad.Points[3].Root = roots[bad.Points[2].Size]
		if _, err := l.Import(ctx, bad); !errors.Is(err, ErrImportRoot) {
			t.Fatalf("import with a wrong root at a point: %v", err)
		}
		for _, pts := range [][]ImportPoint{
			{{Size: 0}},                      // at the start
			{{Size: 1200}},                   // at the end
			{{Size: 5}, {Size: 5}},           // twice
			{{Size: 7}, {Size: 6}},           // descending
			{{Size: 2000, Time: time.Now()}}, // outside
		} {
			bad.Points = pts
			if _, err := l.Import(ctx, bad); !errors.Is(err, ErrInvalidRequest) {
				t.Fatalf("import with points %v: %v", pts, err)
			}
		}
		if cps, err := s.Checkpoints(ctx, "points", 1, 1<<40); err != nil || len(cps) != 0 {
			t.Fatalf("refused imports stored checkpoints: %d, %v", len(cps), err)
		}

		// Three calls, cut inside no source batch.
		for _, part := range [][]ImportBatch{runs[:1], runs[1:9], runs[9:]} {
			b := merge(t, part, roots)
			cp, err := l.Import(ctx, b)
			if err != nil {
				t.Fatal(err)
			}
			if end := b.Start + uint64(len(b.Entries)); cp.Size != end || !bytes.Equal(cp.Root, roots[end]) {
				t.Fatalf("import at %d: checkpoint %d/%x, want %d/%x", b.Start, cp.Size, cp.Root, end, roots[end])
			}
		}
		cp := checkLog(t, l)
		if cp.Size != 1200 {
			t.Fatalf("size %d, want 1200", cp.Size)
		}
		// One checkpoint row per source batch, signed, with its root and
		// its time; every entry has its source batch's time.
		cps, err := s.Checkpoints(ctx, "points", 1, 1200)
		if err != nil || len(cps) != len(runs) {
			t.Fatalf("%d checkpoint rows for %d source batches, %v", len(cps), len(runs), err)
		}
		for i, b := range runs {
			c := cps[i]
			end := b.Start + uint64(len(b.Entries))
			parsed, _, _, err := log.ParseCheckpoint(c.Checkpoint, l.Origin(), l.verifier)
			if err != nil || c.Size != end || parsed.Size != end || !bytes.Equal(parsed.Hash, roots[end]) || !c.Time.Equal(b.Time.Truncate(time.Millisecond)) {
				t.Fatalf("checkpoint row %d: size %d time %v (%v), want size %d root %x time %v", i, c.Size, c.Time, err, end, roots[end], b.Time)
			}
			for j := range b.Entries {
				if bt, err := l.BatchTime(ctx, b.Start+uint64(j)); err != nil || !bt.Equal(b.Time.Truncate(time.Millisecond)) {
					t.Fatalf("entry %d: batch time %v, %v; want %v", b.Start+uint64(j), bt, err, b.Time)
				}
			}
		}
		if got, err := l.Search(ctx, []string{"k3"}, 2000); err != nil || len(got) != 171 {
			t.Fatalf("Search k3: %d results, %v", len(got), err)
		}
	})
}

// TestImportAfter commits consecutive batches while the one before still
// commits (on PostgreSQL, two transactions write at once): the log ends as
// if they had committed one by one. A batch after one that fails writes
// nothing; one sharing a key with the batch before fails as a duplicate
// instead of waiting forever; one whose whole bundles the log already has
// fails as a conflict.
func TestImportAfter(t *testing.T) {
	stores(t, func(t *testing.T, open func(t *testing.T) testStore) {
		ctx := context.Background()
		s := open(t)
		l := openTestLog(t, s, "after", nil)
		t0 := time.Unix(1700000000, 0)
		runs := importRuns(0, 3000, []int{1, 7, 300, 2, 256, 40}, t0)
		roots := runRoots(runs)
		// Units of various sizes, some cut at bundle edges, some not.
		var units []*PreparedImport
		for i := 0; i < len(runs); {
			n := min(1+len(units)%4*3, len(runs)-i)
			p, err := l.PrepareImport(merge(t, runs[i:i+n], roots))
			if err != nil {
				t.Fatal(err)
			}
			units = append(units, p)
			i += n
		}
		// commitChain commits units, each after the one before, all
		// started at once, and returns their errors.
		commitChain := func(units []*PreparedImport) []error {
			errs := make([]error, len(units))
			done := make([]chan struct{}, len(units))
			for i := range units {
				done[i] = make(chan struct{})
			}
			for i, p := range units {
				go func() {
					defer close(done[i])
					var prev *PreparedImport
					if i > 0 {
						prev = units[i-1]
					}
					_, errs[i] = l.CommitImportAfter(ctx, p, prev, func() error {
						<-done[i-1]
						if errs[i-1] != nil {
							return errors.New("previous failed")
						}
						return nil
					})
				}()
			}
			timeout := time.After(time.Minute)
			for i := range units {
				select {
				case <-done[i]:
				case <-timeout:
					t.Fatalf("unit %d did not finish: a deadlock?", i)
				}
			}
			return errs
		}

		half := len(units) / 2
		for i, err := range commitChain(units[:half]) {
			if err != nil {
				t.Fatalf("unit %d: %v", i, err)
			}
		}
		// A failing unit: the ones after it write nothing.
		wrong := units[half].b
		wrong.Root = roots[wrong.Start]
		failing, err := l.PrepareImport(wrong)
		if err != nil {
			t.Fatal(err)
		}
		errs := commitChain([]*PreparedImport{failing, units[half+1], units[half+2]})
		if !errors.Is(errs[0], ErrImportRoot) || errs[1] == nil || errs[2] == nil {
			t.Fatalf("after a failing unit: %v", errs)
		}
		if cp := checkLog(t, l); cp.Size != units[half].b.Start {
			t.Fatalf("failed units changed the log: size %d, want %d", cp.Size, units[half].b.Start)
		}
		// A unit sharing a key with the one before it.
		dup := units[half+1].b
		dup.Entries = append([]Entry{units[half].b.Entries[0]}, dup.Entries[1:]...)
		dup.Root, dup.Points = nil, nil
		dupUnit, err := l.PrepareImport(dup)
		if err != nil {
			t.Fatal(err)
		}
		errs = commitChain([]*PreparedImport{units[half], dupUnit})
		if errs[0] != nil || !errors.Is(errs[1], ErrImportDuplicate) {
			t.Fatalf("a unit sharing a key with the one before: %v", errs)
		}
		for i, err := range commitChain(units[half+1:]) {
			if err != nil {
				t.Fatalf("unit %d: %v", half+1+i, err)
			}
		}
		cp := checkLog(t, l)
		if cp.Size != 3000 || !bytes.Equal(cp.Root, roots[3000]) {
			t.Fatalf("after the chains: %d/%x, want 3000/%x", cp.Size, cp.Root, roots[3000])
		}
		if cps, err := s.Checkpoints(ctx, "after", 1, 3000); err != nil || len(cps) != len(runs) {
			t.Fatalf("%d checkpoint rows for %d source batches, %v", len(cps), len(runs), err)
		}

		// The log grows past a unit's whole bundles: it conflicts.
		for i := range 600 {
			if _, err := l.Append(ctx, Entry{Data: []byte(fmt.Sprintf("appended %d", i))}); err != nil {
				t.Fatal(err)
			}
		}
		late := importRuns(3000, 600, []int{600}, t0.Add(time.Hour))[0]
		if _, err := l.Import(ctx, late); !errors.Is(err, ErrImportConflict) {
			t.Fatalf("import over appended entries: %v", err)
		}
		checkLog(t, l)
	})
}

// TestImporterContract checks Importer.CommitImport itself on every store:
// a failing wait fails the batch before fn runs and writes none of its
// rows; a key the log already has fails it with ErrKeyExists; an error
// from fn leaves none of the rows visible.
func TestImporterContract(t *testing.T) {
	stores(t, func(t *testing.T, open func(t *testing.T) testStore) {
		ctx := context.Background()
		s := open(t)
		l := openTestLog(t, s, "importer", nil)
		appendAll(t, l.Log, 0, 3)
		existing := [32]byte(rfc6962.DefaultHasher.HashLeaf(entryData(1)))
		fresh := [32]byte(rfc6962.DefaultHasher.HashLeaf([]byte("not in the log")))
		notVisible := func(what string) {
			t.Helper()
			if _, err := s.Lookup(ctx, "importer", fresh); !errors.Is(err, ErrNotFound) {
				t.Errorf("%s: the batch's key is visible (%v)", what, err)
			}
			if got, err := s.Search(ctx, "importer", []string{"imported"}, 10); err != nil || len(got) != 0 {
				t.Errorf("%s: the batch's search key is visible: %v, %v", what, got, err)
			}
			if st, err := s.State(ctx, "importer"); err != nil || st.Size != 3 {
				t.Errorf("%s: state %+v, %v; want size 3", what, st, err)
			}
		}
		rows := func(key [32]byte) *BatchWrite {
			return &BatchWrite{Keys: []KeyRow{{Key: key, Index: 3}}, SearchKeys: []SearchRow{{Key: "imported", Index: 3}}}
		}
		noWait := func() error { return nil }

		errWait := errors.New("the batch before failed")
		err := s.CommitImport(ctx, "importer", rows(fresh), func() error { return errWait }, func(Tx) error {
			t.Error("fn ran after wait failed")
			return nil
		})
		if !errors.Is(err, errWait) {
			t.Errorf("failing wait: %v, want its error", err)
		}
		notVisible("failing wait")

		err = s.CommitImport(ctx, "importer", rows(existing), noWait, func(tx Tx) error {
			_, err := tx.State()
			return err
		})
		if !errors.Is(err, ErrKeyExists) {
			t.Errorf("a key the log has: %v, want ErrKeyExists", err)
		}
		notVisible("existing key")

		errFn := errors.New("fn failed")
		waited := 0
		err = s.CommitImport(ctx, "importer", rows(fresh), func() error { waited++; return nil }, func(tx Tx) error {
			if _, err := tx.State(); err != nil {
				return err
			}
			return errFn
		})
		if !errors.Is(err, errFn) || waited != 1 {
			t.Errorf("failing fn: %v after %d waits, want its error after 1", err, waited)
		}
		notVisible("failing fn")
	})
}

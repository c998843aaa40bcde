package tlog

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"runtime"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/transparency-dev/merkle/rfc6962"
)

// Importing replays another log's entries (a Trillian tree behind Rekor v1)
// into this one, so that both have the same leaves at the same indices and
// therefore the same roots: every inclusion proof and checkpoint the old
// log ever published stays valid against this one.
//
// Import bypasses the batching queue. It commits exactly the entries it is
// given, at exactly the indices the caller names, with the batch times the
// caller names (the old log's integration times), in one transaction per
// call. One call may carry many of the old log's batches: each gets its own
// signed checkpoint row with its own time, exactly as if it had been
// committed alone, so readers cannot tell how the import was cut into
// calls. It shares the commit path's invariants: one transaction under the
// log's write lock, nothing visible before commit, nothing committed lost.

var (
	// ErrImportConflict means the log's size was not the one an import
	// expected: something else appended to the log, or another import ran.
	// Nothing was written.
	ErrImportConflict = errors.New("log size is not where the import expects it")
	// ErrImportDuplicate means an imported entry's deduplication key is
	// already in the log (or twice in the batch). The logs Import copies
	// from have no duplicates, so this means the source and the log
	// disagree. Nothing was written.
	ErrImportDuplicate = errors.New("imported entry is already in the log")
	// ErrImportRoot means the tree after the batch would not have the root
	// the caller expected. Nothing was written.
	ErrImportRoot = errors.New("imported entries do not produce the expected root")
)

// ImportBatch is a run of consecutive entries copied from another log.
type ImportBatch struct {
	// Start is the index of the first entry. The log's size must be
	// exactly Start when the batch commits, else Import fails with
	// ErrImportConflict: this is what keeps an import from interleaving
	// with appends or with another import, in any process.
	Start uint64
	// Entries get the indices Start, Start+1, ... in order. LeafHash and
	// DedupKey default as in Append; Finish must be nil.
	Entries []Entry
	// Time is the batch's commit time, which readers see as the entries'
	// integrated time (Log.BatchTime). Stores keep it to the millisecond.
	Time time.Time
	// Root, if not nil, is the RFC 6962 root the tree of size
	// Start+len(Entries) must have; if it differs, Import fails with
	// ErrImportRoot and writes nothing.
	Root []byte
	// Points are the ends of earlier batches of the source log inside
	// this one, by ascending size, each strictly between Start and
	// Start+len(Entries). The entries up to a point's size that no
	// earlier point covers have the point's Time as their batch time, and
	// the point's size gets a signed checkpoint row, as the last entry
	// does with Time. The entries after the last point have Time.
	Points []ImportPoint
}

// ImportPoint is the end of one of the source log's batches inside an
// ImportBatch.
type ImportPoint struct {
	Size uint64    // the tree size after the source's batch
	Time time.Time // the source's batch time
	Root []byte    // if not nil, the root the tree of Size must have (else ErrImportRoot)
}

// Import appends b.Entries at exactly the indices b.Start, b.Start+1, ...
// in one transaction, with a signed checkpoint row at each of b.Points and
// at the end (batch time b.Time), and returns the new signed checkpoint.
// When it returns nil, the batch is durable; on error nothing of it was
// written (except when the store reports a failed commit that in fact
// happened: then the log's size tells, and the next Import with the same
// Start fails with ErrImportConflict).
//
// Import may run while the log's sequencer is running; the log's write
// lock serialises them, and the size check makes any interleaving an error
// instead of a reordering. Callers should still stop appends while
// importing, or every other Import will fail.
//
// Import is PrepareImport then CommitImport.
func (l *Log) Import(ctx context.Context, b ImportBatch) (*Checkpoint, error) {
	p, err := l.PrepareImport(b)
	if err != nil {
		return nil, err
	}
	return l.CommitImport(ctx, p)
}

// PreparedImport is an ImportBatch checked, with its key and search rows
// sorted and, where the batch names the roots, its checkpoints signed.
type PreparedImport struct {
	b       ImportBatch
	entries []Entry
	keys    []KeyRow    // by key
	search  []SearchRow // by key, then index
	// signed are the checkpoints of b.Points, signed over the roots the
	// points name; nil if a point names none. final is the checkpoint at
	// the end, signed over b.Root; nil without b.Root. CommitImport uses
	// them only after computing the same roots itself.
	signed []StoredCheckpoint
	final  []byte
	// whole are the entry bundles the batch fills from their first entry
	// to their last, built here: they do not depend on the log's state.
	// The entries of the other bundles (the one the batch extends, the one
	// it leaves partial) are framed in the transaction.
	whole []TileData
	// bundleBytes is how many bytes of entries go into each entry bundle.
	bundleBytes map[uint64]int
}

// wholeBundle reports whether the batch [start, end) fills entry bundle bi.
func wholeBundle(bi, start, end uint64) bool {
	return bi*TileWidth >= start && (bi+1)*TileWidth <= end
}

// PrepareImport does the part of Import that does not depend on the log's
// state: it checks the batch, sorts its rows and signs its checkpoints
// (those whose roots the batch names). It writes nothing, so an importer
// can prepare one batch while the previous one commits, and spread the
// work of its transactions over more than one core.
func (l *Log) PrepareImport(b ImportBatch) (*PreparedImport, error) {
	if len(b.Entries) == 0 {
		return nil, fmt.Errorf("%w: import batch at %d has no entries", ErrInvalidRequest, b.Start)
	}
	p := &PreparedImport{
		b:           b,
		entries:     make([]Entry, len(b.Entries)),
		keys:        make([]KeyRow, len(b.Entries)),
		bundleBytes: map[uint64]int{},
	}
	inBatch := make(map[[32]byte]uint64, len(b.Entries))
	for i, e := range b.Entries {
		idx := b.Start + uint64(i)
		if e.Finish != nil {
			return nil, fmt.Errorf("%w: imported entry %d has a Finish function; imports copy finished entries", ErrInvalidRequest, idx)
		}
		if len(e.Data) > MaxEntrySize {
			return nil, fmt.Errorf("entry %d: %w: %d bytes, the limit is %d", idx, ErrEntryTooLarge, len(e.Data), MaxEntrySize)
		}
		if e.LeafHash == ([32]byte{}) {
			copy(e.LeafHash[:], rfc6962.DefaultHasher.HashLeaf(e.Data))
		}
		if e.DedupKey == ([32]byte{}) {
			e.DedupKey = e.LeafHash
		}
		if prev, ok := inBatch[e.DedupKey]; ok {
			return nil, fmt.Errorf("couldn't import entries %d to %d: %w: entry %d has the same key as entry %d (%x)",
				b.Start, b.Start+uint64(len(b.Entries))-1, ErrImportDuplicate, idx, prev, e.DedupKey)
		}
		inBatch[e.DedupKey] = idx
		p.entries[i] = e
		p.keys[i] = KeyRow{Key: e.DedupKey, Index: idx}
		for _, k := range e.SearchKeys {
			p.search = append(p.search, SearchRow{Key: storedSearchKey(k), Index: idx})
		}
		p.bundleBytes[idx/TileWidth] += len(e.Data) + 8
	}
	end := b.Start + uint64(len(b.Entries))
	for i, pt := range b.Points {
		if pt.Size <= b.Start || pt.Size >= end || (i > 0 && pt.Size <= b.Points[i-1].Size) {
			return nil, fmt.Errorf("%w: import batch [%d, %d): point %d at size %d is not inside the batch after the previous point", ErrInvalidRequest, b.Start, end, i, pt.Size)
		}
	}
	for bi := (b.Start + TileWidth - 1) / TileWidth; wholeBundle(bi, b.Start, end); bi++ {
		data := make([]byte, 0, p.bundleBytes[bi])
		for _, e := range p.entries[bi*TileWidth-b.Start : (bi+1)*TileWidth-b.Start] {
			data = l.cfg.Framing.Append(data, e.Data)
		}
		p.whole = append(p.whole, TileData{Index: bi, Data: data})
	}
	// Key rows in key order: the indexes they go into take them in one
	// sweep instead of at random places (a third faster on PostgreSQL
	// with large imports), and CommitImportAfter compares two batches'
	// keys by merging. Search rows in key order serve SQLite's index the
	// same way; PostgreSQL orders them by its hash when it writes them.
	slices.SortFunc(p.keys, func(a, b KeyRow) int { return bytes.Compare(a.Key[:], b.Key[:]) })
	slices.SortFunc(p.search, compareSearchRows)

	named := make([][]byte, len(b.Points))
	for i, pt := range b.Points {
		if named[i] = pt.Root; named[i] == nil {
			named = nil
			break
		}
	}
	var err error
	if named != nil {
		if p.signed, err = l.signPoints(b.Points, named); err != nil {
			return nil, err
		}
	}
	if b.Root != nil {
		if p.final, err = l.signCheckpoint(end, b.Root); err != nil {
			return nil, err
		}
	}
	return p, nil
}

// CommitImport commits a prepared batch in one transaction; see Import.
// The log's size must be the batch's Start when it commits.
func (l *Log) CommitImport(ctx context.Context, p *PreparedImport) (*Checkpoint, error) {
	return l.CommitImportAfter(ctx, p, nil, nil)
}

// CommitImportAfter is CommitImport for a batch p that follows another one,
// prev, still committing: wait must return once prev's CommitImportAfter
// has returned (nil if prev committed). The log's Importer decides when to
// call it (see [Importer]): on PostgreSQL, p's transaction first writes its
// rows that do not depend on the log's state (keys, search keys, whole
// entry bundles, the checkpoints of its points), then calls wait, and only
// then takes the log's write lock and does the rest: so consecutive
// batches write most of their rows at the same time, on two connections,
// and each commits only after the one before it. On SQLite, or if p does
// not start where prev ends, or the two share a deduplication key (which a
// transaction could then wait for in the other, while the other waits for
// it), wait is called before the transaction starts. With a nil prev there
// is nothing to wait for. An error from wait fails the batch, which writes
// nothing.
func (l *Log) CommitImportAfter(ctx context.Context, p, prev *PreparedImport, wait func() error) (*Checkpoint, error) {
	b, entries := p.b, p.entries
	if l.cfg.Importer == nil {
		return nil, fmt.Errorf("log %s: %w", l.cfg.Name, ErrNoImporter)
	}
	if prev == nil {
		wait = func() error { return nil }
	} else if prev.end() != b.Start || sharesKey(prev.keys, p.keys) {
		if err := wait(); err != nil {
			return nil, err
		}
		wait = func() error { return nil }
	}
	start := time.Now()
	var (
		waited  time.Duration // for the batch before, inside the transaction
		write   *BatchWrite
		bundles []TileData // every entry bundle the batch writes
		newCP   *Checkpoint
	)
	timedWait := func() error {
		waitStart := time.Now()
		err := wait()
		waited = time.Since(waitStart)
		return err
	}
	// The rows that do not depend on the log's state: the Importer writes
	// them, and refuses a key the log has (ErrKeyExists; see below).
	rows := &BatchWrite{Keys: p.keys, SearchKeys: p.search, Bundles: p.whole, Checkpoints: p.signed}
	err := l.cfg.Importer.CommitImport(ctx, l.cfg.Name, rows, timedWait, func(tx Tx) error {
		write, bundles, newCP = nil, nil, nil
		w := &BatchWrite{Time: b.Time}
		// We hold the log's write lock from here until the transaction
		// ends: the size read here cannot change under us.
		st, err := tx.State()
		if err != nil {
			return err
		}
		if st.Size != b.Start {
			return fmt.Errorf("%w: the log has %d entries, the import batch starts at %d", ErrImportConflict, st.Size, b.Start)
		}

		cr, err := rangeFactory.NewRange(0, st.Size, st.Range)
		if err != nil {
			return fmt.Errorf("stored compact range is corrupt: %w", err)
		}
		tb, err := l.newTileBuilder(tx, st.Size)
		if err != nil {
			return err
		}
		end := b.Start + uint64(len(entries))
		roots := make([][]byte, len(b.Points))
		next := 0 // the next point
		for i, e := range entries {
			idx := b.Start + uint64(i)
			if err := cr.Append(e.LeafHash[:], tb.visit); err != nil {
				return fmt.Errorf("couldn't append leaf %d: %w", idx, err)
			}
			if tb.err != nil {
				return tb.err
			}
			if bi := idx / TileWidth; !wholeBundle(bi, b.Start, end) {
				tb.addEntry(idx, e.Data)
				if i == 0 || idx%TileWidth == 0 {
					// Room for the batch's entries of this bundle, at once.
					tb.bundles[bi] = slices.Grow(tb.bundles[bi], p.bundleBytes[bi])
				}
			}
			if next < len(b.Points) && b.Points[next].Size == cr.End() {
				pt := b.Points[next]
				if roots[next], err = cr.GetRootHash(nil); err != nil {
					return fmt.Errorf("couldn't compute root: %w", err)
				}
				if pt.Root != nil && !bytes.Equal(roots[next], pt.Root) {
					return fmt.Errorf("%w: size %d: root %x, expected %x", ErrImportRoot, pt.Size, roots[next], pt.Root)
				}
				next++
			}
		}
		// The prepared signatures are over the roots the batch named,
		// which are now known to be the roots computed here: only now may
		// the transaction (which may have written them already) commit.
		if p.signed == nil && len(b.Points) > 0 {
			if w.Checkpoints, err = l.signPoints(b.Points, roots); err != nil {
				return err
			}
		}
		root, err := cr.GetRootHash(nil)
		if err != nil {
			return fmt.Errorf("couldn't compute root: %w", err)
		}
		if b.Root != nil && !bytes.Equal(root, b.Root) {
			return fmt.Errorf("%w: size %d: root %x, expected %x", ErrImportRoot, cr.End(), root, b.Root)
		}
		signed := p.final
		if signed == nil {
			if signed, err = l.signCheckpoint(cr.End(), root); err != nil {
				return err
			}
		}
		newCP = &Checkpoint{Size: cr.End(), Root: root, Note: signed}
		w.State = TreeState{Size: cr.End(), Root: root, Range: cr.Hashes(), Checkpoint: signed}
		var partial []TileData
		w.Tiles, partial = tb.result()
		w.Bundles = slices.SortedFunc(slices.Values(partial), func(a, b TileData) int { return cmp.Compare(a.Index, b.Index) })
		bundles = slices.Concat(p.whole, partial)
		write = w
		return tx.Write(w)
	})
	l.metrics.commitLatency.WithLabelValues(l.cfg.Name).Observe((time.Since(start) - waited).Seconds())
	if errors.Is(err, ErrKeyExists) || errors.Is(err, ErrRowExists) {
		err = l.explainRefusal(ctx, p, err)
	}
	if lostLockConflict(err) {
		// The database broke a deadlock with another writer of this log
		// (an append, or another import): a conflict like any other.
		err = fmt.Errorf("%w: another writer of the log held a lock the import needed: %w", ErrImportConflict, err)
	}
	if err != nil {
		l.metrics.commitErrors.WithLabelValues(l.cfg.Name).Inc()
		return nil, fmt.Errorf("couldn't import entries %d to %d: %w", b.Start, b.Start+uint64(len(entries))-1, err)
	}
	// The batch is durable. Keep what it wrote in the cache, as commit
	// does, so the next batch finds the partial tiles without a query.
	for _, t := range write.Tiles {
		l.cache.put(tileKey{level: t.Level, index: t.Index, width: uint16(len(t.Data) / 32)}, t.Data)
	}
	for _, bu := range bundles {
		width := min(write.State.Size-bu.Index*TileWidth, TileWidth)
		l.cache.put(tileKey{kind: entryBundle, index: bu.Index, width: uint16(width)}, bu.Data)
	}
	l.metrics.treeSize.WithLabelValues(l.cfg.Name).Set(float64(newCP.Size))
	l.metrics.batchSize.WithLabelValues(l.cfg.Name).Observe(float64(len(entries)))
	l.metrics.appends.WithLabelValues(l.cfg.Name, "imported").Add(float64(len(entries)))
	l.setLatest(newCP)
	return newCP, nil
}

// explainRefusal turns a store's refusal of a row the batch would create
// (its unique indexes; the transaction rolled back) into the error a check
// before writing would have given: ErrImportConflict if the log has moved
// from the batch's start, else ErrImportDuplicate naming the entry whose
// key the log has.
func (l *Log) explainRefusal(ctx context.Context, p *PreparedImport, refused error) error {
	st, err := l.store.State(ctx, l.cfg.Name)
	if err != nil {
		return refused
	}
	if st.Size != p.b.Start {
		return fmt.Errorf("%w: the log has %d entries, the import batch starts at %d", ErrImportConflict, st.Size, p.b.Start)
	}
	if !errors.Is(refused, ErrKeyExists) {
		return refused
	}
	// A transaction that writes nothing: it always returns an error.
	return l.store.Commit(ctx, l.cfg.Name, func(tx Tx) error {
		if err := p.checkDuplicates(tx); err != nil {
			return err
		}
		return refused
	})
}

// end is the size of the log after the batch.
func (p *PreparedImport) end() uint64 { return p.b.Start + uint64(len(p.entries)) }

// sharesKey reports whether two lists of key rows sorted by key have a key
// in common.
func sharesKey(a, b []KeyRow) bool {
	for len(a) > 0 && len(b) > 0 {
		switch c := bytes.Compare(a[0].Key[:], b[0].Key[:]); {
		case c == 0:
			return true
		case c < 0:
			a = a[1:]
		default:
			b = b[1:]
		}
	}
	return false
}

// checkDuplicates fails with ErrImportDuplicate, naming the entry and its
// index in the log, if the log already has one of the batch's keys.
func (p *PreparedImport) checkDuplicates(tx Tx) error {
	keys := make([][32]byte, len(p.keys))
	for i, k := range p.keys {
		keys[i] = k.Key
	}
	existing, err := tx.LookupKeys(keys)
	if err != nil {
		return fmt.Errorf("couldn't look up duplicates: %w", err)
	}
	if len(existing) > 0 {
		for i, e := range p.entries {
			if idx, ok := existing[e.DedupKey]; ok {
				return fmt.Errorf("%w: entry %d (%x) is already in the log at index %d", ErrImportDuplicate, p.b.Start+uint64(i), e.DedupKey, idx)
			}
		}
	}
	return nil
}

// signPoints signs the checkpoints of the points (sizes and roots), on up
// to GOMAXPROCS goroutines: a sparse source log has one point per entry,
// and a signature costs more than everything else an entry needs.
func (l *Log) signPoints(points []ImportPoint, roots [][]byte) ([]StoredCheckpoint, error) {
	out := make([]StoredCheckpoint, len(points))
	if len(points) == 0 {
		return out, nil
	}
	workers := min(runtime.GOMAXPROCS(0), (len(points)+63)/64)
	errs := make([]error, workers)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < len(points); i += workers {
				signed, err := l.signCheckpoint(points[i].Size, roots[i])
				if err != nil {
					errs[w] = err
					return
				}
				out[i] = StoredCheckpoint{Size: points[i].Size, Time: points[i].Time, Checkpoint: signed}
			}
		}()
	}
	wg.Wait()
	return out, errors.Join(errs...)
}

// compareSearchRows orders search rows by key, then index.
func compareSearchRows(a, b SearchRow) int {
	return cmp.Or(strings.Compare(a.Key, b.Key), cmp.Compare(a.Index, b.Index))
}

// Package adopt copies an existing log (a Rekor v1 Trillian tree) into a
// Hallmark log, leaf for leaf, so that the Hallmark log has the same
// entries at the same indices and therefore the same root at every size:
// every inclusion proof, checkpoint and bundle the old log ever produced
// stays valid against the new one.
//
// The copy is checked as it goes. Every leaf's hash must be the RFC 6962
// hash of its value; before a run of leaves is committed, the root the log
// will have after it must be proven consistent with the source's latest
// root by a consistency proof from the source; and at the end of each of
// the source's batches (its integration seconds) the engine must compute
// exactly the root computed here, independently of it. Any disagreement
// stops the import with the index of the first leaf that differs, before
// anything wrong is committed.
//
// Many source batches commit in one transaction (tlog.Log.Import with
// points), each with its own checkpoint row and time, so the log ends with
// the same rows however the run was cut. An import can be interrupted at
// any point and started again: each transaction commits atomically, and a
// new run continues at the log's committed size.
package adopt

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"time"

	"github.com/transparency-dev/merkle/compact"
	"github.com/transparency-dev/merkle/proof"
	"github.com/transparency-dev/merkle/rfc6962"
	"github.com/transparency-dev/tessera/client"

	"github.com/hallmark-dev/hallmark/tlog"
	"github.com/hallmark-dev/hallmark/tlog/format"
)

// Root is a tree head of the source log.
type Root struct {
	Size uint64
	Hash []byte
	Time time.Time // when the source produced it; zero if unknown
}

// Leaf is one leaf of the source log.
type Leaf struct {
	Index uint64
	Value []byte
	// LeafHash is the source's Merkle leaf hash; it must equal RFC 6962
	// HashLeaf(Value).
	LeafHash []byte
	// Integrated is when the source integrated the leaf. It becomes the
	// leaf's batch time, so Rekor's integratedTime (in seconds) survives.
	Integrated time.Time
}

// A Source is a log to copy from. Its methods may be called concurrently.
type Source interface {
	// LatestRoot returns the source's latest root, checked as far as the
	// source allows (see TrillianSource).
	LatestRoot(ctx context.Context) (Root, error)
	// Leaves returns at least one and at most count consecutive leaves
	// starting at index start, in index order. start+count must not
	// exceed the size of a root LatestRoot returned.
	Leaves(ctx context.Context, start, count uint64) ([]Leaf, error)
	// ConsistencyProof returns the RFC 6962 consistency proof between the
	// source's trees of sizes first and second, 0 < first <= second.
	ConsistencyProof(ctx context.Context, first, second uint64) ([][]byte, error)
}

// MismatchError reports the first index at which the source and the log
// (or the source and its own root) disagree. Nothing at or after Index was
// committed by the run that found it.
type MismatchError struct {
	Index  uint64
	Reason string
}

func (e *MismatchError) Error() string {
	return fmt.Sprintf("leaf %d: %s", e.Index, e.Reason)
}

// Importer copies a Source into a Log.
type Importer struct {
	Log   *tlog.Log  // opened with Config.Importer (Run fails at once without)
	Store tlog.Store // the Log's store: the import starts from its state
	// Source is the log to copy.
	Source Source
	// ReadSize is how many leaves one Leaves call asks for; the leaves of
	// one read are verified against the source's root before any of them
	// is committed. Default 1000.
	ReadSize int
	// ReadAhead is how many reads may be in flight at once; each read
	// also checks its leaves and computes their search keys. Default 4.
	ReadAhead int
	// CommitSize is how many leaves one transaction carries at least: a
	// transaction ends at the first end of a source batch (integration
	// second) after CommitSize leaves, or at the source's end. Default
	// DefaultCommitSize.
	CommitSize int
	// IndexKeys computes the search keys of a leaf value. An error means
	// the leaf is imported without keys (and counted); nil IndexKeys means
	// no keys for any leaf.
	IndexKeys func(value []byte) ([]string, error)
	// Logger receives progress and the summary. Default slog.Default().
	Logger *slog.Logger
	// ProgressEvery is the interval between progress lines. Default 5s.
	ProgressEvery time.Duration
}

// Result summarises a run.
type Result struct {
	From, To    uint64 // the log's size before and after the run
	Root        []byte // the log's root at To, equal to the source's root
	SourceRoot  Root   // the source root the run imported up to
	Batches     int    // Import transactions committed
	Checkpoints int    // checkpoint rows committed: one per source batch (integration second)
	NoIndexKeys uint64 // leaves imported without search keys
	// The run is a pipeline of three stages that overlap: reading from the
	// source (ReadTime: time in Leaves and ConsistencyProof calls, summed
	// over the reads, which also overlap each other),
	// preparing (PrepareTime: checking leaf hashes, computing search keys
	// and roots) and committing (CommitTime: time during which at least one
	// import transaction was open). Elapsed is the run's wall time.
	ReadTime, PrepareTime, CommitTime, Elapsed time.Duration
}

// Imported is the number of leaves the run committed.
func (r *Result) Imported() uint64 { return r.To - r.From }

var rangeFactory = &compact.RangeFactory{Hash: rfc6962.DefaultHasher.HashChildren}

// DefaultCommitSize is the default Importer.CommitSize.
const DefaultCommitSize = 8192

// Run imports the source up to the root it has when Run starts, continuing
// from the log's committed size. It returns a *MismatchError if the source
// and the log disagree, and tlog.ErrImportConflict (wrapped) if something
// else appended to the log meanwhile.
func (im *Importer) Run(ctx context.Context) (*Result, error) {
	if !im.Log.CanImport() {
		return nil, fmt.Errorf("log %s: %w", im.Log.Name(), tlog.ErrNoImporter)
	}
	started := time.Now()
	logger := im.Logger
	if logger == nil {
		logger = slog.Default()
	}
	readSize := uint64(im.ReadSize)
	if readSize == 0 {
		readSize = 1000
	}
	every := im.ProgressEvery
	if every == 0 {
		every = 5 * time.Second
	}

	st, err := im.Store.State(ctx, im.Log.Name())
	if err != nil {
		return nil, fmt.Errorf("couldn't read the state of log %s: %w", im.Log.Name(), err)
	}
	cr, err := rangeFactory.NewRange(0, st.Size, st.Range)
	if err != nil {
		return nil, fmt.Errorf("log %s: stored compact range is corrupt: %w", im.Log.Name(), err)
	}
	src, err := im.Source.LatestRoot(ctx)
	if err != nil {
		return nil, fmt.Errorf("couldn't read the source's latest root: %w", err)
	}
	res := &Result{From: st.Size, To: st.Size, Root: st.Root, SourceRoot: src}
	defer func() { res.Elapsed = time.Since(started) }()
	logger.Info("adopt: starting", "log", im.Log.Name(), "log_size", st.Size, "source_size", src.Size,
		"source_root", fmt.Sprintf("%x", src.Hash), "source_root_time", src.Time)

	// Where the log already is must be a prefix of the source's tree.
	switch {
	case st.Size > src.Size:
		// The log has grown past the source (new entries after a
		// cut-over): the source's tree must be a prefix of the log's.
		h, err := im.storedRoot(ctx, src.Size)
		if err != nil {
			return nil, err
		}
		if !bytes.Equal(h, src.Hash) {
			return nil, im.locate(ctx, 0, src.Size, src, im.storedRoot, "the log's tree at the source's size has another root")
		}
		logger.Info("adopt: the log already contains the source's tree", "log_size", st.Size, "source_size", src.Size)
		return res, nil
	case st.Size > 0:
		if err := im.verifyPrefix(ctx, st.Size, st.Root, src); errors.Is(err, errNotPrefix) {
			return nil, im.locate(ctx, 0, st.Size, src, im.storedRoot, "the log's entries are not a prefix of the source's tree: "+err.Error())
		} else if err != nil {
			return nil, err
		}
	}
	if st.Size == src.Size {
		logger.Info("adopt: nothing to import, the log matches the source", "size", st.Size)
		return res, nil
	}

	// Reads run ahead of preparation, which runs ahead of commits. Each
	// stage stops at its first error and passes it on.
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	reads := make(chan read, 2)
	batches := make(chan prepared, 1) // a unit waits while one commits
	go im.readAhead(ctx, st.Size, src, readSize, reads)
	go im.prepare(ctx, cr, src, reads, batches)

	// Each unit's transaction starts while the one before it commits
	// (Log.CommitImportAfter), so two are open at a time.
	c := &committer{im: im, res: res}
	lastProgress, reported := time.Now(), 0
	for p := range batches {
		res.ReadTime += p.readTime
		res.PrepareTime += p.prepareTime
		res.NoIndexKeys += p.noIndexKeys
		if p.err != nil {
			c.drain()
			return res, p.err
		}
		for _, u := range p.units {
			if err := c.add(ctx, u); err != nil {
				return res, err
			}
		}
		// A progress line tells of committed transactions only.
		if res.Batches > reported && time.Since(lastProgress) >= every {
			lastProgress, reported = time.Now(), res.Batches
			im.progress(logger, res, src, started)
		}
	}
	if err := c.drain(); err != nil {
		return res, err
	}
	if ctx.Err() != nil {
		return res, ctx.Err()
	}
	if res.To != src.Size {
		return res, fmt.Errorf("the import stopped at %d of %d without an error", res.To, src.Size)
	}

	// Read back what is stored: the root of the stored tiles at the
	// source's size must be the source's root.
	stored, err := im.storedRoot(ctx, src.Size)
	if err != nil {
		return res, fmt.Errorf("couldn't read back the log's root at %d: %w", src.Size, err)
	}
	if !bytes.Equal(stored, src.Hash) {
		return res, im.locate(ctx, res.From, src.Size, src, im.storedRoot, fmt.Sprintf("stored tiles give root %x at size %d, the source's root is %x", stored, src.Size, src.Hash))
	}
	res.Elapsed = time.Since(started)
	im.progress(logger, res, src, started)
	logger.Info("adopt: done: the log's root equals the source's", "size", res.To, "root", fmt.Sprintf("%x", res.Root),
		"imported", res.Imported(), "transactions", res.Batches, "checkpoints", res.Checkpoints, "without_index_keys", res.NoIndexKeys,
		"elapsed", res.Elapsed.Round(time.Millisecond), "source_read_time", res.ReadTime.Round(time.Millisecond),
		"prepare_time", res.PrepareTime.Round(time.Millisecond), "commit_time", res.CommitTime.Round(time.Millisecond))
	return res, nil
}

// read is the leaves [start, start+n) of the source, each checked against
// its leaf hash and with its search keys, and the consistency proof from
// the tree that ends with them to the source's root.
type read struct {
	start       uint64
	leaves      []Leaf
	keys        [][]string // search keys of each leaf
	noIndexKeys uint64
	proof       [][]byte
	took        time.Duration // time spent in source calls
	checkTime   time.Duration // time spent checking leaves and computing search keys
	err         error
}

// readAhead reads [next, src.Size) into reads, in order, then closes it.
// Up to ReadAhead reads are in flight at once. It stops after the first
// error, which it sends.
func (im *Importer) readAhead(ctx context.Context, next uint64, src Root, readSize uint64, reads chan<- read) {
	defer close(reads)
	parallel := im.ReadAhead
	if parallel <= 0 {
		parallel = 4
	}
	// pending holds one channel per read, in index order; each read's
	// goroutine answers on its own channel.
	pending := make(chan chan read, parallel)
	go func() {
		defer close(pending)
		for start := next; start < src.Size; start += readSize {
			c := make(chan read, 1)
			select {
			case pending <- c:
			case <-ctx.Done():
				return
			}
			go func(start, end uint64) { c <- im.read(ctx, start, end, src) }(start, min(start+readSize, src.Size))
		}
	}()
	for c := range pending {
		r := <-c
		select {
		case reads <- r:
		case <-ctx.Done():
			return
		}
		if r.err != nil {
			return
		}
	}
}

// read reads the leaves [start, end) (in several calls if the source
// returns fewer than asked) and the consistency proof from end, then checks
// the leaves and computes their search keys. Reads run concurrently, so
// this per-leaf work is spread over the cores.
func (im *Importer) read(ctx context.Context, start, end uint64, src Root) read {
	t := time.Now()
	r := read{start: start}
	for next := start; next < end && r.err == nil; {
		var leaves []Leaf
		leaves, r.err = im.Source.Leaves(ctx, next, end-next)
		switch {
		case r.err != nil:
			r.err = fmt.Errorf("couldn't read leaves at %d from the source: %w", next, r.err)
		case len(leaves) == 0 || uint64(len(leaves)) > end-next:
			r.err = fmt.Errorf("the source returned %d leaves at %d, asked for %d", len(leaves), next, end-next)
		}
		r.leaves = append(r.leaves, leaves...)
		next += uint64(len(leaves))
	}
	if r.err == nil && end < src.Size {
		if r.proof, r.err = im.Source.ConsistencyProof(ctx, end, src.Size); r.err != nil {
			r.err = fmt.Errorf("couldn't get a consistency proof %d→%d from the source: %w", end, src.Size, r.err)
		}
	}
	r.took = time.Since(t)
	if r.err == nil {
		t = time.Now()
		r.err = im.check(&r)
		r.checkTime = time.Since(t)
	}
	return r
}

// check checks that the read's leaves have the indices asked for and that
// each leaf hash is the hash of its value, and computes their search keys.
func (im *Importer) check(r *read) error {
	r.keys = make([][]string, len(r.leaves))
	for i, l := range r.leaves {
		idx := r.start + uint64(i)
		if l.Index != idx {
			return &MismatchError{Index: idx, Reason: fmt.Sprintf("the source returned leaf %d in its place", l.Index)}
		}
		if lh := rfc6962.DefaultHasher.HashLeaf(l.Value); !bytes.Equal(lh, l.LeafHash) {
			return &MismatchError{Index: idx, Reason: fmt.Sprintf("the source's Merkle leaf hash is %x, its value hashes to %x", l.LeafHash, lh)}
		}
		if im.IndexKeys != nil {
			keys, err := im.IndexKeys(l.Value)
			if err != nil {
				r.noIndexKeys++
				keys = nil
			}
			r.keys[i] = keys
		}
	}
	return nil
}

// unit is one Import transaction: a run of whole source batches (source
// batches are the source's integration seconds), unless one source batch
// alone is larger than two units.
type unit struct {
	start   uint64
	entries []tlog.Entry
	// points are the ends of the source batches in the unit, with the
	// roots the tree must have there; the last one is the unit's end.
	points []tlog.ImportPoint
	// prepared is the unit's transaction, prepared ahead of its commit.
	prepared *tlog.PreparedImport
}

// batcher cuts the checked leaves into units.
type batcher struct {
	commitSize int
	u          *unit     // the unit being filled, nil before its first leaf
	open       bool      // the last leaf's source batch may continue
	time       time.Time // the time of that source batch
}

// closeBatch ends the open source batch at the tree's current size.
func (b *batcher) closeBatch(cr *compact.Range) error {
	root, err := cr.GetRootHash(nil)
	if err != nil {
		return err
	}
	b.u.points = append(b.u.points, tlog.ImportPoint{Size: cr.End(), Time: b.time, Root: root})
	b.open = false
	return nil
}

// prepared is one read, checked, with the units it completed.
type prepared struct {
	units       []*unit
	noIndexKeys uint64
	readTime    time.Duration
	prepareTime time.Duration
	err         error
}

// prepare cuts the checked reads into units, with the root the tree must
// have at the end of each source batch. A unit ends at the first end of a
// source batch after CommitSize leaves, so that where a run is cut into
// transactions (and where it was interrupted) does not change the
// checkpoint rows the log ends up with: one per source batch. cr is the
// compact range of the log's committed tree; prepare advances it as if
// every unit it passes on will commit (the run stops at the first one that
// does not). It closes out when reads ends, or after the first error,
// which it sends.
func (im *Importer) prepare(ctx context.Context, cr *compact.Range, src Root, reads <-chan read, out chan<- prepared) {
	defer close(out)
	b := &batcher{commitSize: im.CommitSize}
	if b.commitSize <= 0 {
		b.commitSize = DefaultCommitSize
	}
	// p collects reads until they complete a unit: the commit stage gets
	// whole transactions, so while it commits one, this stage and the
	// reads work on the next one instead of waiting with a few reads in
	// hand (a unit spans several reads).
	var p prepared
	for r := range reads {
		t := time.Now()
		p.readTime += r.took
		p.noIndexKeys += r.noIndexKeys
		p.err = r.err
		var units []*unit
		if p.err == nil {
			units, p.err = im.prepareRead(ctx, cr, b, r, src)
		}
		for _, u := range units {
			if p.err != nil {
				break
			}
			// Sort the unit's rows and sign its checkpoints here, while
			// the previous unit commits.
			end := u.points[len(u.points)-1]
			u.prepared, p.err = im.Log.PrepareImport(tlog.ImportBatch{
				Start: u.start, Entries: u.entries, Time: end.Time, Root: end.Root, Points: u.points[:len(u.points)-1],
			})
		}
		p.units = append(p.units, units...)
		p.prepareTime += time.Since(t) + r.checkTime
		if len(p.units) == 0 && p.err == nil {
			continue
		}
		select {
		case out <- p:
		case <-ctx.Done():
			return
		}
		if p.err != nil {
			return
		}
		p = prepared{}
	}
}

// prepareRead adds one checked read to the units and returns those it
// completed, after proving with the source's consistency proof that the
// tree after the read is a prefix of the source's. Nothing of a read that
// fails is committed.
func (im *Importer) prepareRead(ctx context.Context, cr *compact.Range, b *batcher, r read, src Root) ([]*unit, error) {
	begin := cr.End()
	if r.start != begin {
		return nil, fmt.Errorf("internal error: read at %d arrived when the tree has %d leaves", r.start, begin)
	}
	beginHashes := slices.Clone(cr.Hashes())
	var ready []*unit
	for i, l := range r.leaves {
		switch {
		case b.open && l.Integrated.Unix() != b.time.Unix():
			// The open source batch ended with the previous leaf.
			if err := b.closeBatch(cr); err != nil {
				return nil, err
			}
			if len(b.u.entries) >= b.commitSize {
				ready, b.u = append(ready, b.u), nil
			}
		case b.open && len(b.u.entries) >= 2*b.commitSize:
			// A source batch larger than two units: cut it. Its
			// entries keep its time on both sides of the cut.
			if err := b.closeBatch(cr); err != nil {
				return nil, err
			}
			ready, b.u = append(ready, b.u), nil
			b.open = true
		}
		if b.u == nil {
			b.u = &unit{start: cr.End(), entries: make([]tlog.Entry, 0, b.commitSize)}
		}
		if !b.open {
			b.open, b.time = true, l.Integrated
		}
		b.u.entries = append(b.u.entries, tlog.Entry{Data: l.Value, LeafHash: [32]byte(l.LeafHash), SearchKeys: r.keys[i]})
		if err := cr.Append(l.LeafHash, nil); err != nil {
			return nil, err
		}
	}
	root, err := cr.GetRootHash(nil)
	if err != nil {
		return nil, err
	}
	// Before anything of this read is committed, prove that the tree it
	// makes is a prefix of the source's tree.
	if err := checkPrefix(cr.End(), root, src, r.proof); err != nil {
		rootAt := func(_ context.Context, size uint64) ([]byte, error) {
			rr, err := rangeFactory.NewRange(0, begin, beginHashes)
			if err != nil {
				return nil, err
			}
			for _, l := range r.leaves[:size-begin] {
				rr.Append(l.LeafHash, nil)
			}
			return rr.GetRootHash(nil)
		}
		return nil, im.locate(ctx, begin, cr.End(), src, rootAt, err.Error())
	}
	if cr.End() == src.Size {
		// The source ends here: so does the run's last unit.
		if err := b.closeBatch(cr); err != nil {
			return nil, err
		}
		ready, b.u = append(ready, b.u), nil
	}
	return ready, nil
}

// committer commits units in order, each one's transaction starting while
// the one before it still commits.
type committer struct {
	im      *Importer
	res     *Result
	last    *inflight // the unit committing, nil if none
	lastEnd time.Time // when the unit before last finished
}

// inflight is one unit's transaction, committing in its own goroutine.
type inflight struct {
	u          *unit
	done       chan struct{} // closed when the commit returned
	cp         *tlog.Checkpoint
	err        error
	start, end time.Time
}

// errPreviousFailed fails a unit whose predecessor did not commit.
var errPreviousFailed = errors.New("the previous import transaction failed")

// add starts committing u, after the unit before it; it then waits for
// that one and returns its error, if any (u then fails too).
func (c *committer) add(ctx context.Context, u *unit) error {
	prev := c.last
	f := &inflight{u: u, done: make(chan struct{}), start: time.Now()}
	go func() {
		defer close(f.done)
		var after *tlog.PreparedImport
		if prev != nil {
			after = prev.u.prepared
		}
		f.cp, f.err = c.im.Log.CommitImportAfter(ctx, u.prepared, after, func() error {
			if <-prev.done; prev.err != nil {
				return errPreviousFailed
			}
			return nil
		})
		f.end = time.Now()
	}()
	c.last = f
	if prev == nil {
		return nil
	}
	if err := c.finish(prev); err != nil {
		<-f.done
		c.last = nil
		return err
	}
	return nil
}

// drain waits for the last unit and returns its error.
func (c *committer) drain() error {
	if c.last == nil {
		return nil
	}
	f := c.last
	c.last = nil
	return c.finish(f)
}

// finish waits for f and accounts for it in the result.
func (c *committer) finish(f *inflight) error {
	<-f.done
	// The commit stage is busy while a transaction is open: count the
	// part of f's time that does not overlap the unit before it.
	c.res.CommitTime += f.end.Sub(later(f.start, c.lastEnd))
	c.lastEnd = f.end
	if errors.Is(f.err, tlog.ErrImportRoot) {
		return &MismatchError{Index: f.u.start, Reason: fmt.Sprintf("the engine computed another root for this batch: %v", f.err)}
	}
	if f.err != nil {
		return f.err
	}
	c.res.Batches++
	c.res.Checkpoints += len(f.u.points)
	c.res.To, c.res.Root = f.cp.Size, f.cp.Root
	return nil
}

func later(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

// storedRoot computes the root of the log's tree of the given size from
// the tiles in the store, bypassing the engine's cache.
func (im *Importer) storedRoot(ctx context.Context, size uint64) ([]byte, error) {
	if size == 0 {
		return rfc6962.DefaultHasher.EmptyRoot(), nil
	}
	fetch := func(ctx context.Context, level, index uint64, p uint8) ([]byte, error) {
		data, err := im.Store.ReadTile(ctx, im.Log.Name(), level, index)
		if err != nil {
			return nil, fmt.Errorf("couldn't read tile %d/%d: %w", level, index, err)
		}
		w := uint64(p)
		if w == 0 {
			w = format.TileWidth
		}
		if uint64(len(data)) < 32*w {
			return nil, fmt.Errorf("tile %d/%d has %d hashes, the tree needs %d", level, index, len(data)/32, w)
		}
		return data[:32*w], nil
	}
	nodes, err := client.FetchRangeNodes(ctx, size, fetch)
	if err != nil {
		return nil, err
	}
	r, err := rangeFactory.NewRange(0, size, nodes)
	if err != nil {
		return nil, err
	}
	return r.GetRootHash(nil)
}

// errNotPrefix means a tree is not a prefix of the source's tree.
var errNotPrefix = errors.New("not a prefix of the source's tree")

// verifyPrefix checks that the tree of the given size and root is a
// prefix of the source's tree at src, asking the source for the proof. It
// fails with errNotPrefix (wrapped) if it is not, and with another error if
// the source could not be asked.
func (im *Importer) verifyPrefix(ctx context.Context, size uint64, root []byte, src Root) error {
	var p [][]byte
	if size < src.Size {
		var err error
		if p, err = im.Source.ConsistencyProof(ctx, size, src.Size); err != nil {
			return fmt.Errorf("couldn't get a consistency proof %d→%d from the source: %w", size, src.Size, err)
		}
	}
	return checkPrefix(size, root, src, p)
}

// checkPrefix verifies with the consistency proof p that the tree of the
// given size and root is a prefix of the source's tree at src; it fails
// with errNotPrefix (wrapped).
func checkPrefix(size uint64, root []byte, src Root, p [][]byte) error {
	if size == src.Size {
		if !bytes.Equal(root, src.Hash) {
			return fmt.Errorf("%w: root %x at size %d, the source's root is %x", errNotPrefix, root, size, src.Hash)
		}
		return nil
	}
	if err := proof.VerifyConsistency(rfc6962.DefaultHasher, size, src.Size, p, root, src.Hash); err != nil {
		return fmt.Errorf("%w: root %x at size %d is not consistent with the source's root %x at size %d: %v", errNotPrefix, root, size, src.Hash, src.Size, err)
	}
	return nil
}

// locate finds the first leaf in [lo, hi) at which trees built with rootAt
// stop being prefixes of the source's tree, by binary search over sizes
// with consistency proofs, and returns it as a *MismatchError. The tree of
// size lo must be a prefix (lo = 0 always is), the tree of size hi not.
func (im *Importer) locate(ctx context.Context, lo, hi uint64, src Root, rootAt func(context.Context, uint64) ([]byte, error), reason string) error {
	good, bad := lo, hi
	for bad-good > 1 {
		mid := good + (bad-good)/2
		r, err := rootAt(ctx, mid)
		if err != nil {
			return fmt.Errorf("%s; couldn't locate the first differing leaf: %w", reason, err)
		}
		switch err := im.verifyPrefix(ctx, mid, r, src); {
		case errors.Is(err, errNotPrefix):
			bad = mid
		case err != nil:
			return fmt.Errorf("%s; couldn't locate the first differing leaf: %w", reason, err)
		default:
			good = mid
		}
	}
	return &MismatchError{Index: good, Reason: reason}
}

func (im *Importer) progress(logger *slog.Logger, res *Result, src Root, started time.Time) {
	done := res.To - res.From
	total := src.Size - res.From
	elapsed := time.Since(started)
	rate := float64(done) / elapsed.Seconds()
	eta := time.Duration(0)
	if rate > 0 {
		eta = time.Duration(float64(total-done) / rate * float64(time.Second))
	}
	logger.Info("adopt: progress", "size", res.To, "of", src.Size,
		"percent", fmt.Sprintf("%.1f", 100*float64(done)/float64(max(total, 1))),
		"entries_per_s", int(rate), "eta", eta.Round(time.Second))
}

// Package adopt copies an existing log (a Rekor v1 Trillian tree) into a
// Hallmark log, leaf for leaf, so that the Hallmark log has the same
// entries at the same indices and therefore the same root at every size:
// every inclusion proof, checkpoint and bundle the old log ever produced
// stays valid against the new one.
//
// The copy is checked as it goes. Every leaf's hash must be the RFC 6962
// hash of its value; before a run of leaves is committed, the root the log
// will have after it must be proven consistent with the source's latest
// root by a consistency proof from the source; and each committed batch
// must produce exactly the root computed here, independently of the engine.
// Any disagreement stops the import with the index of the first leaf that
// differs, before anything wrong is committed.
//
// An import can be interrupted at any point and started again: each batch
// commits atomically (tlog.Log.Import), and a new run continues at the
// log's committed size.
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

	"github.com/hallmark-dev/hallmark/tlog"
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
	Log   *tlog.Log
	Store tlog.Store // the Log's store: the import starts from its state
	// Source is the log to copy.
	Source Source
	// ReadSize is how many leaves one Leaves call asks for; the leaves of
	// one read are verified against the source's root before any of them
	// is committed. Default 1000.
	ReadSize int
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
	NoIndexKeys uint64 // leaves imported without search keys
	// ReadTime is the time spent waiting for the source; ImportTime the
	// time spent verifying, computing keys and committing (the Hallmark
	// side); Elapsed the wall time of the run. Reads overlap imports.
	ReadTime, ImportTime, Elapsed time.Duration
}

// Imported is the number of leaves the run committed.
func (r *Result) Imported() uint64 { return r.To - r.From }

var rangeFactory = &compact.RangeFactory{Hash: rfc6962.DefaultHasher.HashChildren}

// Run imports the source up to the root it has when Run starts, continuing
// from the log's committed size. It returns a *MismatchError if the source
// and the log disagree, and tlog.ErrImportConflict (wrapped) if something
// else appended to the log meanwhile.
func (im *Importer) Run(ctx context.Context) (*Result, error) {
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
	logger.Info("adopt: starting", "log", im.Log.Name(), "log_size", st.Size, "source_size", src.Size,
		"source_root", fmt.Sprintf("%x", src.Hash), "source_root_time", src.Time)

	// Where the log already is must be a prefix of the source's tree.
	switch {
	case st.Size > src.Size:
		// The log has grown past the source (new entries after a
		// cut-over): the source's tree must be a prefix of the log's.
		h, err := im.Log.RootAt(ctx, src.Size)
		if err != nil {
			return nil, err
		}
		if !bytes.Equal(h, src.Hash) {
			return nil, im.locate(ctx, 0, src.Size, src, im.Log.RootAt, "the log's tree at the source's size has another root")
		}
		logger.Info("adopt: the log already contains the source's tree", "log_size", st.Size, "source_size", src.Size)
		res.Elapsed = time.Since(started)
		return res, nil
	case st.Size > 0:
		if err := im.verifyPrefix(ctx, st.Size, st.Root, src); errors.Is(err, errNotPrefix) {
			return nil, im.locate(ctx, 0, st.Size, src, im.Log.RootAt, "the log's entries are not a prefix of the source's tree: "+err.Error())
		} else if err != nil {
			return nil, err
		}
	}
	if st.Size == src.Size {
		logger.Info("adopt: nothing to import, the log matches the source", "size", st.Size)
		res.Elapsed = time.Since(started)
		return res, nil
	}

	// Reads run ahead of imports, one read at a time, in order.
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	type read struct {
		leaves []Leaf
		took   time.Duration
		err    error
	}
	reads := make(chan read, 2)
	go func() {
		defer close(reads)
		for next := st.Size; next < src.Size; {
			t := time.Now()
			leaves, err := im.Source.Leaves(ctx, next, min(readSize, src.Size-next))
			if err == nil && len(leaves) == 0 {
				err = fmt.Errorf("the source returned no leaves at %d", next)
			}
			select {
			case reads <- read{leaves, time.Since(t), err}:
			case <-ctx.Done():
				return
			}
			if err != nil {
				return
			}
			next += uint64(len(leaves))
		}
	}()

	lastProgress := time.Now()
	for r := range reads {
		res.ReadTime += r.took
		if r.err != nil {
			return res, fmt.Errorf("couldn't read leaves at %d from the source: %w", cr.End(), r.err)
		}
		t := time.Now()
		err := im.importRead(ctx, cr, r.leaves, src, res)
		res.ImportTime += time.Since(t)
		if err != nil {
			return res, err
		}
		if time.Since(lastProgress) >= every {
			lastProgress = time.Now()
			im.progress(logger, res, src, started)
		}
	}

	// Read back what is stored: the root of the stored tiles at the
	// source's size must be the source's root.
	stored, err := im.Log.RootAt(ctx, src.Size)
	if err != nil {
		return res, fmt.Errorf("couldn't read back the log's root at %d: %w", src.Size, err)
	}
	if !bytes.Equal(stored, src.Hash) {
		return res, im.locate(ctx, res.From, src.Size, src, im.Log.RootAt, fmt.Sprintf("stored tiles give root %x at size %d, the source's root is %x", stored, src.Size, src.Hash))
	}
	res.Elapsed = time.Since(started)
	im.progress(logger, res, src, started)
	logger.Info("adopt: done: the log's root equals the source's", "size", res.To, "root", fmt.Sprintf("%x", res.Root),
		"imported", res.Imported(), "batches", res.Batches, "without_index_keys", res.NoIndexKeys,
		"elapsed", res.Elapsed.Round(time.Millisecond), "source_read_time", res.ReadTime.Round(time.Millisecond),
		"import_time", res.ImportTime.Round(time.Millisecond))
	return res, nil
}

// group is a run of leaves with the same integration second: one batch.
type group struct {
	start   uint64
	time    time.Time
	entries []tlog.Entry
	root    []byte // the tree's root after the group
}

// importRead verifies one read of leaves and commits it, one batch per
// integration second. cr is the compact range of the log's tree; it is
// advanced only as far as what was committed.
func (im *Importer) importRead(ctx context.Context, cr *compact.Range, leaves []Leaf, src Root, res *Result) error {
	begin := cr.End()
	work, err := rangeFactory.NewRange(0, begin, slices.Clone(cr.Hashes()))
	if err != nil {
		return err
	}
	var groups []*group
	var g *group
	for i, l := range leaves {
		idx := begin + uint64(i)
		if l.Index != idx {
			return &MismatchError{Index: idx, Reason: fmt.Sprintf("the source returned leaf %d in its place", l.Index)}
		}
		lh := rfc6962.DefaultHasher.HashLeaf(l.Value)
		if !bytes.Equal(lh, l.LeafHash) {
			return &MismatchError{Index: idx, Reason: fmt.Sprintf("the source's Merkle leaf hash is %x, its value hashes to %x", l.LeafHash, lh)}
		}
		if g != nil && l.Integrated.Unix() != g.time.Unix() {
			if g.root, err = work.GetRootHash(nil); err != nil {
				return err
			}
			g = nil
		}
		if g == nil {
			g = &group{start: idx, time: l.Integrated}
			groups = append(groups, g)
		}
		e := tlog.Entry{Data: l.Value, LeafHash: [32]byte(lh)}
		if im.IndexKeys != nil {
			if e.SearchKeys, err = im.IndexKeys(l.Value); err != nil {
				res.NoIndexKeys++
				e.SearchKeys = nil
			}
		}
		g.entries = append(g.entries, e)
		if err := work.Append(lh, nil); err != nil {
			return err
		}
	}
	if g.root, err = work.GetRootHash(nil); err != nil {
		return err
	}

	// Before committing anything, prove that the tree these leaves make
	// is a prefix of the source's tree.
	end := work.End()
	if err := im.verifyPrefix(ctx, end, g.root, src); errors.Is(err, errNotPrefix) {
		rootAt := func(_ context.Context, size uint64) ([]byte, error) {
			r, err := rangeFactory.NewRange(0, begin, slices.Clone(cr.Hashes()))
			if err != nil {
				return nil, err
			}
			for _, l := range leaves[:size-begin] {
				r.Append(rfc6962.DefaultHasher.HashLeaf(l.Value), nil)
			}
			return r.GetRootHash(nil)
		}
		return im.locate(ctx, begin, end, src, rootAt, err.Error())
	} else if err != nil {
		return err
	}

	for _, g := range groups {
		cp, err := im.Log.Import(ctx, tlog.ImportBatch{Start: g.start, Entries: g.entries, Time: g.time, Root: g.root})
		if errors.Is(err, tlog.ErrImportRoot) {
			return &MismatchError{Index: g.start, Reason: fmt.Sprintf("the engine computed another root for this batch: %v", err)}
		}
		if err != nil {
			return err
		}
		for _, e := range g.entries {
			if err := cr.Append(e.LeafHash[:], nil); err != nil {
				return err
			}
		}
		res.Batches++
		res.To, res.Root = cp.Size, cp.Root
	}
	return nil
}

// errNotPrefix means a tree is not a prefix of the source's tree.
var errNotPrefix = errors.New("not a prefix of the source's tree")

// verifyPrefix checks that the tree of the given size and root is a
// prefix of the source's tree at src. It fails with errNotPrefix (wrapped)
// if it is not, and with another error if the source could not be asked.
func (im *Importer) verifyPrefix(ctx context.Context, size uint64, root []byte, src Root) error {
	if size == src.Size {
		if !bytes.Equal(root, src.Hash) {
			return fmt.Errorf("%w: root %x at size %d, the source's root is %x", errNotPrefix, root, size, src.Hash)
		}
		return nil
	}
	p, err := im.Source.ConsistencyProof(ctx, size, src.Size)
	if err != nil {
		return fmt.Errorf("couldn't get a consistency proof %d→%d from the source: %w", size, src.Size, err)
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

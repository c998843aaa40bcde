// Package fsck verifies a log's database end to end, the way an auditor
// who trusts nothing but the log's public key would: it recomputes every
// leaf hash from the entry bundles, rebuilds every hash tile from those
// leaves and compares it with the stored tile, recomputes the root and
// the compact range of the committed state, and checks every stored
// checkpoint's signature, its root (recomputed from the first size leaves)
// and a consistency proof to the latest checkpoint built from the stored
// tiles, as a client would get it.
//
// It reads the store without locks or writes, so it can run against a live
// primary, a standby or a restored backup. It reads each tile and bundle
// once, streaming: memory stays bounded whatever the log's size (apart
// from the tiles the consistency-proof builder keeps, at most 32 bytes per
// entry).
package fsck

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math"
	"sync"
	"time"

	"github.com/transparency-dev/formats/log"
	"github.com/transparency-dev/merkle/compact"
	"github.com/transparency-dev/merkle/proof"
	"github.com/transparency-dev/merkle/rfc6962"
	"github.com/transparency-dev/tessera/client"
	"golang.org/x/mod/sumdb/note"

	"github.com/hallmark-dev/hallmark/tlog"
	"github.com/hallmark-dev/hallmark/tlog/format"
)

// Options say which log to check and how.
type Options struct {
	// Name is the log's name in the store.
	Name string
	// Origin is the first line every checkpoint of the log must carry.
	Origin string
	// Verifier checks checkpoint signatures: the log's public key.
	Verifier note.Verifier
	// LeafHash computes an entry's Merkle leaf hash. Default: RFC 6962
	// HashLeaf, which is what every log kind of hallmark-log uses.
	LeafHash func(entry []byte) []byte
	// SkipKeys skips checking that every entry's deduplication key (its
	// leaf hash) maps to its index: one store read per entry, the slowest
	// part on large logs.
	SkipKeys bool
	// LookupConcurrency is how many deduplication lookups run at once.
	// Each is a round trip: with PostgreSQL across a network, concurrency
	// hides the latency; with PostgreSQL on the same small machine, 1 is
	// fastest (measured: 9,300 vs 6,600–7,600 entries/s on 2 cores).
	// Default 8.
	LookupConcurrency int
	// Progress, if set, is called about once a second and at the end.
	Progress func(Progress)
	// MaxProblems bounds the problems reported (the rest are counted).
	// Default 100.
	MaxProblems int
}

// Progress is a snapshot of a running check.
type Progress struct {
	Entries, Size uint64 // entries checked, of the tree size
	Checkpoints   int    // stored checkpoints checked
	Problems      int
	Elapsed       time.Duration
}

// Problem is one mismatch, naming what and where.
type Problem struct {
	Where string // e.g. "tile 0/17", "entry bundle 3", "checkpoint 1024", "state"
	What  string
}

func (p Problem) String() string { return p.Where + ": " + p.What }

// Report is the outcome of a check.
type Report struct {
	Size        uint64 // tree size of the committed state
	Root        []byte
	Entries     uint64 // entries read from bundles
	Tiles       int    // stored hash tiles compared
	Checkpoints int    // stored checkpoints verified
	Problems    []Problem
	// MoreProblems counts problems beyond Options.MaxProblems.
	MoreProblems int
	Elapsed      time.Duration
}

// OK reports whether the check found no problem.
func (r *Report) OK() bool { return len(r.Problems) == 0 }

// Store is what Check reads: the log's tiles, bundles and state, its
// search index (every leaf must be found by its hash) and its history
// (every checkpoint row).
type Store interface {
	tlog.Store
	tlog.SearchIndex
	tlog.History
}

// Check verifies the log. It returns an error only when it could not read
// the store (or ctx ended); every inconsistency it finds is a Problem in
// the report, and the check goes on to find the others.
func Check(ctx context.Context, store Store, opts Options) (*Report, error) {
	if opts.Name == "" || opts.Origin == "" || opts.Verifier == nil {
		return nil, errors.New("fsck: a log name, origin and verifier are needed")
	}
	if opts.LeafHash == nil {
		opts.LeafHash = rfc6962.DefaultHasher.HashLeaf
	}
	if opts.MaxProblems <= 0 {
		opts.MaxProblems = 100
	}
	if opts.LookupConcurrency <= 0 {
		opts.LookupConcurrency = 8
	}
	c := &checker{ctx: ctx, store: store, opts: opts, start: time.Now(), rep: &Report{}}
	if err := c.run(); err != nil {
		return nil, err
	}
	c.rep.Elapsed = time.Since(c.start)
	c.progress(true)
	return c.rep, nil
}

type checker struct {
	ctx   context.Context
	store Store
	opts  Options
	rep   *Report
	start time.Time
	last  time.Time // last progress report

	state *tlog.TreeState
	cr    *compact.Range
	// building holds, per tile level, the hashes of the tile being
	// rebuilt at the right edge; a full one is compared and dropped.
	building [][]byte
	pb       *client.ProofBuilder // consistency proofs to the latest, from stored tiles
	// latestRoot is the root the latest checkpoint signs (the state row's
	// root column if that checkpoint does not verify).
	latestRoot []byte
}

var rangeFactory = &compact.RangeFactory{Hash: rfc6962.DefaultHasher.HashChildren}

func (c *checker) problem(where, format string, args ...any) {
	if len(c.rep.Problems) >= c.opts.MaxProblems {
		c.rep.MoreProblems++
		return
	}
	c.rep.Problems = append(c.rep.Problems, Problem{Where: where, What: fmt.Sprintf(format, args...)})
}

func (c *checker) progress(final bool) {
	if c.opts.Progress == nil || (!final && time.Since(c.last) < time.Second) {
		return
	}
	c.last = time.Now()
	c.opts.Progress(Progress{Entries: c.rep.Entries, Size: c.rep.Size, Checkpoints: c.rep.Checkpoints,
		Problems: len(c.rep.Problems) + c.rep.MoreProblems, Elapsed: time.Since(c.start)})
}

func (c *checker) run() error {
	st, err := c.store.State(c.ctx, c.opts.Name)
	if err != nil {
		return fmt.Errorf("fsck: couldn't read the state of log %q: %w", c.opts.Name, err)
	}
	c.state, c.latestRoot = st, st.Root
	c.rep.Size, c.rep.Root = st.Size, st.Root
	c.checkStateCheckpoint()
	c.cr = rangeFactory.NewEmptyRange(0)
	c.building = make([][]byte, 8)
	if c.pb, err = client.NewProofBuilder(c.ctx, st.Size, c.fetchTile); err != nil {
		return fmt.Errorf("fsck: couldn't start the proof builder: %w", err)
	}

	// The checkpoint of the empty tree, written when the log was created.
	if err := c.checkEmptyCheckpoint(); err != nil {
		return err
	}
	for b := uint64(0); b*format.TileWidth < st.Size; b++ {
		if err := c.checkBundle(b); err != nil {
			return err
		}
		c.progress(false)
	}
	if err := c.flushPartialTiles(); err != nil {
		return err
	}

	root, err := c.cr.GetRootHash(nil)
	if err != nil {
		return fmt.Errorf("fsck: %w", err)
	}
	if st.Size == 0 {
		root = rfc6962.DefaultHasher.EmptyRoot()
	}
	if !bytes.Equal(root, st.Root) {
		c.problem("state", "root %x differs from the root %x recomputed from the %d entries", st.Root, root, st.Size)
	}
	if got, want := st.Range, c.cr.Hashes(); !equalHashes(got, want) {
		c.problem("state", "stored compact range (%d hashes) differs from the one recomputed from the entries (%d hashes)", len(got), len(want))
	}
	// No checkpoint may be beyond the committed state.
	beyond, err := c.store.Checkpoints(c.ctx, c.opts.Name, st.Size+1, math.MaxInt64)
	if err != nil {
		return fmt.Errorf("fsck: couldn't read checkpoints: %w", err)
	}
	for _, cp := range beyond {
		c.problem(fmt.Sprintf("checkpoint %d", cp.Size), "stored checkpoint is beyond the committed tree size %d", st.Size)
	}
	return nil
}

// checkStateCheckpoint verifies the checkpoint of the state row against the
// state's size and root (the root itself is checked after the leaf pass).
func (c *checker) checkStateCheckpoint() {
	cp, _, _, err := log.ParseCheckpoint(c.state.Checkpoint, c.opts.Origin, c.opts.Verifier)
	if err != nil {
		c.problem("state", "checkpoint does not verify: %v", err)
		return
	}
	c.latestRoot = cp.Hash
	if cp.Size != c.state.Size || !bytes.Equal(cp.Hash, c.state.Root) {
		c.problem("state", "checkpoint is for size %d root %x, the state says size %d root %x", cp.Size, cp.Hash, c.state.Size, c.state.Root)
	}
}

// checkBundle reads entry bundle b, recomputes its leaves and feeds them to
// the tree, checking tiles and checkpoints as the tree grows past them.
func (c *checker) checkBundle(b uint64) error {
	first := b * format.TileWidth
	width := min(c.state.Size-first, format.TileWidth)
	where := fmt.Sprintf("entry bundle %d", b)
	var leaves [][]byte
	raw, err := c.store.ReadEntryBundle(c.ctx, c.opts.Name, b)
	switch {
	case errors.Is(err, tlog.ErrNotFound):
		c.problem(where, "missing")
	case err != nil:
		return fmt.Errorf("fsck: couldn't read entry bundle %d: %w", b, err)
	default:
		entries, err := format.BundleEntries(raw)
		if err != nil {
			c.problem(where, "corrupt: %v", err)
		} else if uint64(len(entries)) != width {
			c.problem(where, "holds %d entries, the tree needs exactly %d", len(entries), width)
		} else {
			for _, e := range entries {
				leaves = append(leaves, c.opts.LeafHash(e))
			}
		}
	}
	if leaves == nil {
		// Carry on with the stored leaf hashes, so that the rest of the log
		// is still checked.
		if leaves, err = c.storedLeaves(b, width); err != nil {
			return err
		}
	}
	// The checkpoints of the sizes this bundle reaches: each is checked
	// against the root recomputed when the leaf pass reaches its size.
	cps, err := c.store.Checkpoints(c.ctx, c.opts.Name, first+1, first+width)
	if err != nil {
		return fmt.Errorf("fsck: couldn't read checkpoints %d to %d: %w", first+1, first+width, err)
	}
	stored, err := c.store.ReadTile(c.ctx, c.opts.Name, 0, b)
	if err != nil && !errors.Is(err, tlog.ErrNotFound) {
		return fmt.Errorf("fsck: couldn't read tile 0/%d: %w", b, err)
	}
	var found []lookup
	if !c.opts.SkipKeys {
		found = c.lookupAll(leaves)
	}
	for i, h := range leaves {
		idx := first + uint64(i)
		if !c.opts.SkipKeys {
			var err error
			if h, err = c.checkLeaf(idx, h, stored, found[i]); err != nil {
				return err
			}
		}
		if err := c.cr.Append(h, c.visit); err != nil {
			return fmt.Errorf("fsck: %w", err)
		}
		if err := c.flushFullTiles(); err != nil {
			return err
		}
		c.rep.Entries++
		for len(cps) > 0 && cps[0].Size == c.cr.End() {
			root, err := c.cr.GetRootHash(nil)
			if err != nil {
				return fmt.Errorf("fsck: %w", err)
			}
			c.checkCheckpoint(cps[0], root)
			cps = cps[1:]
		}
	}
	return nil
}

// checkLeaf checks that the deduplication row of the leaf hash h,
// recomputed from entry idx, points at idx. When h differs from the stored
// level-0 hash, the deduplication rows tell which of the two is corrupt:
// if they agree with the stored hash, the bundle is corrupt and the stored
// hash is returned, so that the rest of the tree is still checked against
// what was signed. Otherwise h is returned and the tile is reported when
// it is compared.
func (c *checker) checkLeaf(idx uint64, h, storedTile []byte, found lookup) ([]byte, error) {
	where := fmt.Sprintf("entry %d", idx)
	pos := int(idx%format.TileWidth) * 32
	if pos+32 <= len(storedTile) && !bytes.Equal(storedTile[pos:pos+32], h) {
		sh := storedTile[pos : pos+32]
		got, err := c.store.Lookup(c.ctx, c.opts.Name, [32]byte(sh))
		if err != nil && !errors.Is(err, tlog.ErrNotFound) {
			return nil, fmt.Errorf("fsck: couldn't look up entry %d: %w", idx, err)
		}
		if err == nil && got == idx {
			c.problem(fmt.Sprintf("entry bundle %d", idx/format.TileWidth),
				"entry %d hashes to %x, but its tile and deduplication row hold %x: the bundle is corrupt", idx, h, sh)
			return sh, nil
		}
	}
	got, err := found.index, found.err
	switch {
	case errors.Is(err, tlog.ErrNotFound):
		c.problem(where, "leaf hash %x has no deduplication row", h)
	case err != nil:
		return nil, fmt.Errorf("fsck: couldn't look up entry %d: %w", idx, err)
	case got != idx:
		c.problem(where, "deduplication row for leaf hash %x says index %d", h, got)
	}
	return h, nil
}

// lookup is the answer of Store.Lookup for one leaf hash.
type lookup struct {
	index uint64
	err   error
}

// lookupAll looks up the deduplication rows of the leaf hashes, up to
// Options.LookupConcurrency at a time.
func (c *checker) lookupAll(leaves [][]byte) []lookup {
	out := make([]lookup, len(leaves))
	if c.opts.LookupConcurrency == 1 {
		for i, h := range leaves {
			out[i].index, out[i].err = c.store.Lookup(c.ctx, c.opts.Name, [32]byte(h))
		}
		return out
	}
	var wg sync.WaitGroup
	sem := make(chan struct{}, c.opts.LookupConcurrency)
	for i, h := range leaves {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			out[i].index, out[i].err = c.store.Lookup(c.ctx, c.opts.Name, [32]byte(h))
		}()
	}
	wg.Wait()
	return out
}

// storedLeaves returns the stored level-0 hashes of bundle b, or zero
// hashes where there are none (their tiles are reported anyway).
func (c *checker) storedLeaves(b, width uint64) ([][]byte, error) {
	out := make([][]byte, width)
	tile, err := c.store.ReadTile(c.ctx, c.opts.Name, 0, b)
	if err != nil && !errors.Is(err, tlog.ErrNotFound) {
		return nil, fmt.Errorf("fsck: couldn't read tile 0/%d: %w", b, err)
	}
	for i := range out {
		if (i+1)*32 <= len(tile) {
			out[i] = tile[i*32 : (i+1)*32]
		} else {
			out[i] = make([]byte, 32)
		}
	}
	return out, nil
}

// visit collects the nodes of Merkle levels 0, 8, 16, …: the hashes of
// tile levels 0, 1, 2, … They arrive left to right per level.
func (c *checker) visit(id compact.NodeID, hash []byte) {
	if id.Level%8 == 0 && id.Level/8 < uint(len(c.building)) {
		l := id.Level / 8
		c.building[l] = append(c.building[l], hash...)
	}
}

// flushFullTiles compares every rebuilt tile that has become full.
func (c *checker) flushFullTiles() error {
	for l := range c.building {
		if len(c.building[l]) == format.TileWidth*32 {
			// The tile's index: complete nodes at this level so far, minus one tile.
			n := c.cr.End() >> (8 * uint(l))
			if err := c.compareTile(uint64(l), n/format.TileWidth-1, c.building[l]); err != nil {
				return err
			}
			c.building[l] = c.building[l][:0]
		}
	}
	return nil
}

// flushPartialTiles compares the partial tiles at the right edge.
func (c *checker) flushPartialTiles() error {
	for l := range c.building {
		if len(c.building[l]) > 0 {
			n := c.cr.End() >> (8 * uint(l))
			if err := c.compareTile(uint64(l), n/format.TileWidth, c.building[l]); err != nil {
				return err
			}
		}
	}
	return nil
}

func (c *checker) compareTile(level, index uint64, want []byte) error {
	where := fmt.Sprintf("tile %d/%d", level, index)
	got, err := c.store.ReadTile(c.ctx, c.opts.Name, level, index)
	if errors.Is(err, tlog.ErrNotFound) {
		c.problem(where, "missing")
		return nil
	}
	if err != nil {
		return fmt.Errorf("fsck: couldn't read %s: %w", where, err)
	}
	c.rep.Tiles++
	if len(got) != len(want) {
		c.problem(where, "holds %d hashes, the tree needs exactly %d", len(got)/32, len(want)/32)
	}
	for i := 0; i+32 <= min(len(got), len(want)); i += 32 {
		if !bytes.Equal(got[i:i+32], want[i:i+32]) {
			what := fmt.Sprintf("hash %d differs from the one recomputed from the entries", i/32)
			if level == 0 {
				what += fmt.Sprintf(" (entry %d)", index*format.TileWidth+uint64(i/32))
			}
			c.problem(where, "%s", what)
			break
		}
	}
	return nil
}

// checkEmptyCheckpoint verifies the checkpoint of the empty tree, which
// a log stores when it is created.
func (c *checker) checkEmptyCheckpoint() error {
	cps, err := c.store.Checkpoints(c.ctx, c.opts.Name, 0, 0)
	if err != nil {
		return fmt.Errorf("fsck: couldn't read checkpoints: %w", err)
	}
	for _, sc := range cps {
		c.checkCheckpoint(sc, rfc6962.DefaultHasher.EmptyRoot())
	}
	return nil
}

// checkCheckpoint verifies one stored checkpoint: signature, origin, size,
// its root against the one recomputed from the entries, and a consistency
// proof to the latest checkpoint built from the stored tiles.
func (c *checker) checkCheckpoint(sc tlog.StoredCheckpoint, recomputed []byte) {
	where := fmt.Sprintf("checkpoint %d", sc.Size)
	c.rep.Checkpoints++
	cp, _, _, err := log.ParseCheckpoint(sc.Checkpoint, c.opts.Origin, c.opts.Verifier)
	if err != nil {
		c.problem(where, "does not verify: %v", err)
		return
	}
	if cp.Size != sc.Size {
		c.problem(where, "signed for size %d, stored as size %d", cp.Size, sc.Size)
		return
	}
	if !bytes.Equal(cp.Hash, recomputed) {
		c.problem(where, "root %x differs from the root %x recomputed from the first %d entries", cp.Hash, recomputed, sc.Size)
		return
	}
	if sc.Size == 0 || sc.Size == c.state.Size {
		return
	}
	cons, err := c.pb.ConsistencyProof(c.ctx, sc.Size, c.state.Size)
	if err != nil {
		c.problem(where, "couldn't build a consistency proof to %d from the stored tiles: %v", c.state.Size, err)
		return
	}
	if err := proof.VerifyConsistency(rfc6962.DefaultHasher, sc.Size, c.state.Size, cons, cp.Hash, c.latestRoot); err != nil {
		c.problem(where, "the consistency proof to the latest checkpoint %d, built from the stored tiles, does not verify", c.state.Size)
	}
}

// fetchTile serves tessera's client from the store: the first p hashes of
// a tile (p = 0 for a full tile).
func (c *checker) fetchTile(ctx context.Context, level, index uint64, p uint8) ([]byte, error) {
	data, err := c.store.ReadTile(ctx, c.opts.Name, level, index)
	if err != nil {
		return nil, err
	}
	w := int(p)
	if w == 0 {
		w = format.TileWidth
	}
	if len(data) < w*32 {
		return nil, fmt.Errorf("tile %d/%d holds %d hashes, want %d", level, index, len(data)/32, w)
	}
	return data[:w*32], nil
}

func equalHashes(a, b [][]byte) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if !bytes.Equal(a[i], b[i]) {
			return false
		}
	}
	return true
}

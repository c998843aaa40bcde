package audit

import (
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"runtime"

	"github.com/transparency-dev/merkle/compact"
	"github.com/transparency-dev/merkle/rfc6962"
	"github.com/transparency-dev/tessera/client"

	"github.com/hallmark-dev/hallmark/tlog/format"
)

var rangeFactory = &compact.RangeFactory{Hash: rfc6962.DefaultHasher.HashChildren}

// ScanOptions tunes [Log.Scan].
type ScanOptions struct {
	// Fetchers is how many entry bundles are fetched concurrently.
	// Default 16.
	Fetchers int
	// Parsers is how many bundles are hashed and visited in parallel.
	// Default GOMAXPROCS.
	Parsers int
	// Visit, if set, is called with every entry, from several goroutines
	// at once and in no particular order. entry must not be retained.
	Visit func(index uint64, entry []byte)
	// Progress, if set, is called after each bundle, in log order, with the
	// number of entries now scanned and the compact range of the tree of
	// that size (valid only during the call).
	Progress func(size uint64, rng [][]byte)
}

// Scan reads the entries [from, to.Size) from the log's entry bundles and
// checks that they are exactly the entries to's tree commits to: their leaf
// hashes must extend rng, the compact range of the tree of size from (nil
// for from 0), to to's root. It returns the compact range of to's tree.
// If the entries do not hash to the root the error wraps ErrInconsistent;
// entries were visited anyway.
func (l *Log) Scan(ctx context.Context, from uint64, rng [][]byte, to *Checkpoint, opts ScanOptions) ([][]byte, error) {
	if from > to.Size {
		return nil, fmt.Errorf("scan from %d beyond the tree size %d", from, to.Size)
	}
	r, err := rangeFactory.NewRange(0, from, rng)
	if err != nil {
		return nil, fmt.Errorf("stored compact range of size %d is invalid: %w", from, err)
	}
	if opts.Fetchers <= 0 {
		opts.Fetchers = 16
	}
	if opts.Parsers <= 0 {
		opts.Parsers = runtime.GOMAXPROCS(0)
	}
	if from < to.Size {
		if err := l.scanBundles(ctx, r, to, opts); err != nil {
			return nil, err
		}
	}
	root, err := r.GetRootHash(nil)
	if err != nil {
		return nil, err
	}
	if root == nil {
		root = rfc6962.DefaultHasher.EmptyRoot()
	}
	if !bytes.Equal(root, to.Root) {
		return nil, fmt.Errorf("%w: the entries served for [%d, %d) do not hash to the checkpoint's root", ErrInconsistent, from, to.Size)
	}
	return r.Hashes(), nil
}

type scannedBundle struct {
	hashes [][sha256.Size]byte
	err    error
}

type scanJob struct {
	b      client.Bundle
	err    error
	result chan scannedBundle
}

// scanBundles runs the pipeline: tessera's streamer fetches bundles
// concurrently and yields them in order; parser goroutines split and hash
// them (and visit entries) in parallel; this goroutine appends the leaf
// hashes to r in log order.
func (l *Log) scanBundles(ctx context.Context, r *compact.Range, to *Checkpoint, opts ScanOptions) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	from := r.End()
	size := func(context.Context) (uint64, error) { return to.Size, nil }
	jobs := make(chan *scanJob, opts.Parsers)
	ordered := make(chan *scanJob, opts.Parsers*4)
	go func() {
		defer close(jobs)
		defer close(ordered)
		for b, err := range client.EntryBundles(ctx, uint(opts.Fetchers), size, l.readEntryBundle, from, to.Size-from) {
			j := &scanJob{b: b, err: err, result: make(chan scannedBundle, 1)}
			select {
			case ordered <- j:
			case <-ctx.Done():
				return
			}
			select {
			case jobs <- j:
			case <-ctx.Done():
				return
			}
			if err != nil {
				return
			}
		}
	}()
	for range opts.Parsers {
		go func() {
			for j := range jobs {
				res := l.parseBundle(j, opts.Visit)
				releaseBundle(j.b.Data) // nothing refers to it any more
				j.result <- res
			}
		}()
	}
	for j := range ordered {
		var res scannedBundle
		select {
		case res = <-j.result:
		case <-ctx.Done():
			return ctx.Err()
		}
		if res.err != nil {
			return res.err
		}
		for i := range res.hashes {
			if err := r.Append(res.hashes[i][:], nil); err != nil {
				return err
			}
		}
		if opts.Progress != nil {
			opts.Progress(r.End(), r.Hashes())
		}
	}
	if r.End() != to.Size {
		if err := ctx.Err(); err != nil {
			return err
		}
		return fmt.Errorf("scan stopped at %d of %d entries", r.End(), to.Size)
	}
	return nil
}

// parseBundle splits a fetched bundle, keeps the entries the scan asked
// for, hashes them and visits them.
func (l *Log) parseBundle(j *scanJob, visit func(uint64, []byte)) scannedBundle {
	ri := j.b.RangeInfo
	if j.err != nil {
		return scannedBundle{err: fmt.Errorf("couldn't fetch entry bundle %d: %w", ri.Index, j.err)}
	}
	entries, err := l.splitBundle(j.b.Data)
	if err != nil {
		return scannedBundle{err: fmt.Errorf("%w: entry bundle %d: %w", ErrInconsistent, ri.Index, err)}
	}
	want := uint64(ri.Partial)
	if want == 0 {
		want = format.TileWidth
	}
	if uint64(len(entries)) < want {
		return scannedBundle{err: fmt.Errorf("%w: entry bundle %d holds %d entries, the tree needs %d", ErrInconsistent, ri.Index, len(entries), want)}
	}
	entries = entries[ri.First : ri.First+ri.N]
	out := scannedBundle{hashes: make([][sha256.Size]byte, len(entries))}
	base := ri.Index*format.TileWidth + uint64(ri.First)
	h := sha256.New()
	for i, e := range entries {
		in, err := l.leafInput(e)
		if err != nil {
			return scannedBundle{err: fmt.Errorf("%w: entry %d: %w", ErrInconsistent, base+uint64(i), err)}
		}
		h.Reset()
		h.Write([]byte{rfc6962.RFC6962LeafHashPrefix})
		h.Write(in)
		h.Sum(out.hashes[i][:0])
		if visit != nil {
			visit(base+uint64(i), e)
		}
	}
	return out
}

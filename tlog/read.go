package tlog

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/transparency-dev/merkle/compact"
	"github.com/transparency-dev/merkle/proof"
	"github.com/transparency-dev/merkle/rfc6962"
	"github.com/transparency-dev/tessera/client"
)

// checkpointMaxAge is how stale the in-memory checkpoint may be before a
// read asks the store: other processes may have extended the log.
const checkpointMaxAge = time.Second

// Checkpoint returns the log's latest checkpoint.
func (l *Log) Checkpoint(ctx context.Context) (*Checkpoint, error) {
	cp := l.latest.Load()
	if cp != nil && time.Since(time.Unix(0, l.refreshed.Load())) < checkpointMaxAge {
		return cp, nil
	}
	st, err := l.store.State(ctx, l.cfg.Name)
	if err != nil {
		return nil, fmt.Errorf("couldn't read log state: %w", err)
	}
	l.setLatest(&Checkpoint{Size: st.Size, Root: st.Root, Note: st.Checkpoint})
	return l.latest.Load(), nil
}

// Tile returns the hash tile at (level, index) with width hashes; width 0
// means the full tile. It fails with ErrNotFound when the log does not (yet)
// have that many hashes in the tile.
func (l *Log) Tile(ctx context.Context, level, index uint64, width uint8) ([]byte, error) {
	w := uint64(width)
	if w == 0 {
		w = TileWidth
	}
	k := tileKey{level: level, index: index, width: uint16(w)}
	if data, ok := l.cache.get(k); ok {
		return data, nil
	}
	data, err := l.store.ReadTile(ctx, l.cfg.Name, level, index)
	if err != nil {
		return nil, fmt.Errorf("couldn't read tile %d/%d: %w", level, index, err)
	}
	if uint64(len(data)) < w*32 {
		return nil, fmt.Errorf("tile %d/%d has %d hashes, not %d: %w", level, index, len(data)/32, w, ErrNotFound)
	}
	data = data[:w*32]
	l.cache.put(k, data)
	return data, nil
}

// EntryBundle returns the entry bundle at index with width entries; width 0
// means the full bundle.
func (l *Log) EntryBundle(ctx context.Context, index uint64, width uint8) ([]byte, error) {
	w := uint64(width)
	if w == 0 {
		w = TileWidth
	}
	k := tileKey{kind: entryBundle, index: index, width: uint16(w)}
	if data, ok := l.cache.get(k); ok {
		return data, nil
	}
	data, err := l.store.ReadEntryBundle(ctx, l.cfg.Name, index)
	if err != nil {
		return nil, fmt.Errorf("couldn't read entry bundle %d: %w", index, err)
	}
	entries, _, err := l.cfg.Framing.Split(data)
	if err != nil {
		return nil, fmt.Errorf("entry bundle %d is corrupt: %w", index, err)
	}
	if uint64(len(entries)) < w {
		return nil, fmt.Errorf("entry bundle %d has %d entries, not %d: %w", index, len(entries), w, ErrNotFound)
	}
	if data, err = bundlePrefix(l.cfg.Framing, data, w); err != nil {
		return nil, err
	}
	l.cache.put(k, data)
	return data, nil
}

// EntryAt returns the entry data at index, which must be below the size of
// a checkpoint the caller has seen.
func (l *Log) EntryAt(ctx context.Context, index uint64, treeSize uint64) ([]byte, error) {
	if index >= treeSize {
		return nil, fmt.Errorf("%w: index %d is beyond the tree size %d", ErrInvalidRequest, index, treeSize)
	}
	b := index / TileWidth
	width := uint8(0)
	if end := (b + 1) * TileWidth; end > treeSize {
		width = uint8(treeSize - b*TileWidth)
	}
	data, err := l.EntryBundle(ctx, b, width)
	if err != nil {
		return nil, err
	}
	entries, _, err := l.cfg.Framing.Split(data)
	if err != nil {
		return nil, err
	}
	return entries[index%TileWidth], nil
}

// tileFetcher reads tiles for tessera's proof builder.
func (l *Log) tileFetcher(ctx context.Context, level, index uint64, p uint8) ([]byte, error) {
	return l.Tile(ctx, level, index, p)
}

// LeafHash returns the leaf hash at index in a tree of the given size.
func (l *Log) LeafHash(ctx context.Context, index, treeSize uint64) ([]byte, error) {
	if index >= treeSize {
		return nil, fmt.Errorf("%w: index %d is not below tree size %d", ErrInvalidRequest, index, treeSize)
	}
	h, err := l.node(ctx, compact.NewNodeID(0, index), treeSize)
	if err != nil {
		return nil, fmt.Errorf("couldn't read leaf hash %d: %w", index, err)
	}
	return h, nil
}

// RootAt returns the root hash of the tree of the given size, computed from
// the stored tiles.
func (l *Log) RootAt(ctx context.Context, size uint64) ([]byte, error) {
	if size == 0 {
		return rfc6962.DefaultHasher.EmptyRoot(), nil
	}
	nodes, err := client.FetchRangeNodes(ctx, size, l.tileFetcher)
	if err != nil {
		return nil, fmt.Errorf("couldn't read range nodes of size %d: %w", size, err)
	}
	r, err := rangeFactory.NewRange(0, size, nodes)
	if err != nil {
		return nil, err
	}
	return r.GetRootHash(nil)
}

// checkSize fails unless 0 < size <= the latest tree size.
func (l *Log) checkSize(ctx context.Context, size uint64) (*Checkpoint, error) {
	cp, err := l.Checkpoint(ctx)
	if err != nil {
		return nil, err
	}
	if size > cp.Size {
		// Another process may have grown the log: ask the store once.
		l.refreshed.Store(0)
		if cp, err = l.Checkpoint(ctx); err != nil {
			return nil, err
		}
		if size > cp.Size {
			return nil, fmt.Errorf("%w: tree size %d is beyond the current size %d", ErrInvalidRequest, size, cp.Size)
		}
	}
	return cp, nil
}

func (l *Log) rootFor(ctx context.Context, cp *Checkpoint, size uint64) ([]byte, error) {
	if size == cp.Size {
		return cp.Root, nil
	}
	return l.RootAt(ctx, size)
}

// InclusionProof returns the proof that the leaf at index is in the tree of
// the given size. The proof is verified before it is returned.
func (l *Log) InclusionProof(ctx context.Context, index, size uint64) ([][]byte, error) {
	if index >= size {
		return nil, fmt.Errorf("%w: index %d is not below tree size %d", ErrInvalidRequest, index, size)
	}
	cp, err := l.checkSize(ctx, size)
	if err != nil {
		return nil, err
	}
	nodes, err := proof.Inclusion(index, size)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidRequest, err)
	}
	hashes, err := l.proofHashes(ctx, nodes, size)
	if err != nil {
		return nil, fmt.Errorf("couldn't build inclusion proof for %d in %d: %w", index, size, err)
	}
	leaf, err := l.LeafHash(ctx, index, size)
	if err != nil {
		return nil, err
	}
	root, err := l.rootFor(ctx, cp, size)
	if err != nil {
		return nil, err
	}
	if err := proof.VerifyInclusion(rfc6962.DefaultHasher, index, size, leaf, hashes, root); err != nil {
		l.metrics.proofFailures.WithLabelValues(l.cfg.Name, "inclusion").Inc()
		return nil, fmt.Errorf("inclusion proof for %d in %d failed verification: %w", index, size, err)
	}
	return hashes, nil
}

// ConsistencyProof returns the proof that the tree of size old is a prefix
// of the tree of size new. It is verified before it is returned.
func (l *Log) ConsistencyProof(ctx context.Context, old, new uint64) ([][]byte, error) {
	if old > new {
		return nil, fmt.Errorf("%w: first size %d is larger than second size %d", ErrInvalidRequest, old, new)
	}
	cp, err := l.checkSize(ctx, new)
	if err != nil {
		return nil, err
	}
	if old == 0 || old == new {
		return [][]byte{}, nil
	}
	nodes, err := proof.Consistency(old, new)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidRequest, err)
	}
	hashes, err := l.proofHashes(ctx, nodes, new)
	if err != nil {
		return nil, fmt.Errorf("couldn't build consistency proof %d→%d: %w", old, new, err)
	}
	oldRoot, err := l.RootAt(ctx, old)
	if err != nil {
		return nil, err
	}
	newRoot, err := l.rootFor(ctx, cp, new)
	if err != nil {
		return nil, err
	}
	if err := proof.VerifyConsistency(rfc6962.DefaultHasher, old, new, hashes, oldRoot, newRoot); err != nil {
		l.metrics.proofFailures.WithLabelValues(l.cfg.Name, "consistency").Inc()
		return nil, fmt.Errorf("consistency proof %d→%d failed verification: %w", old, new, err)
	}
	return hashes, nil
}

// Lookup returns the index of the entry with the given deduplication key.
func (l *Log) Lookup(ctx context.Context, key [32]byte) (uint64, error) {
	return l.cfg.Index.Lookup(ctx, l.cfg.Name, key)
}

// Search returns indices of entries carrying any of the keys, which are
// matched as Entry.SearchKeys were (any string, see searchkey.go).
func (l *Log) Search(ctx context.Context, keys []string, limit int) ([]uint64, error) {
	return l.cfg.Index.Search(ctx, l.cfg.Name, storedSearchKeys(keys), limit)
}

// SearchAmong returns those of the indices among that carry any of the
// keys, ascending.
func (l *Log) SearchAmong(ctx context.Context, keys []string, among []uint64) ([]uint64, error) {
	if len(among) == 0 {
		return nil, nil
	}
	return l.cfg.Index.SearchAmong(ctx, l.cfg.Name, storedSearchKeys(keys), among)
}

// BatchTime returns when the entry at index was integrated.
func (l *Log) BatchTime(ctx context.Context, index uint64) (time.Time, error) {
	return l.cfg.History.BatchTime(ctx, l.cfg.Name, index)
}

// Checkpoints returns the stored checkpoints with sizes in [from, to].
func (l *Log) Checkpoints(ctx context.Context, from, to uint64) ([]StoredCheckpoint, error) {
	return l.cfg.History.Checkpoints(ctx, l.cfg.Name, from, to)
}

// IsNotFound reports whether err means a missing tile, entry or key.
func IsNotFound(err error) bool { return errors.Is(err, ErrNotFound) }

var _ compact.VisitFn = (*tileBuilder)(nil).visit

package tlog

import (
	"context"
	"fmt"

	"github.com/transparency-dev/merkle/compact"
	"github.com/transparency-dev/merkle/proof"
	"github.com/transparency-dev/merkle/rfc6962"
	"github.com/transparency-dev/tessera/api/layout"
)

// A hash tile stores only the bottom row of its 8-level subtree; proofs
// need interior nodes too. Recomputing them per proof costs hundreds of
// hashes, so the server keeps every node of a tile, computed once per
// (tile, width) with a compact range, in the tile cache.
type tileNodes [][][]byte // [height within tile][index] hash

func (l *Log) tileNodes(ctx context.Context, level, index, width uint64) (tileNodes, error) {
	k := tileKey{kind: nodeTile, level: level, index: index, width: uint16(width)}
	if v, ok := l.cache.getAny(k); ok {
		return v.(tileNodes), nil
	}
	p := uint8(width)
	if width == TileWidth {
		p = 0
	}
	data, err := l.Tile(ctx, level, index, p)
	if err != nil {
		return nil, err
	}
	return l.cacheTileNodes(level, index, data)
}

// cacheTileNodes computes and caches every node of a tile's subtree. The
// sequencer calls it for the tiles a batch wrote before answering the
// batch's waiters, so that they do not all compute it at once.
func (l *Log) cacheTileNodes(level, index uint64, data []byte) (tileNodes, error) {
	k := tileKey{kind: nodeTile, level: level, index: index, width: uint16(len(data) / 32)}
	nodes := make(tileNodes, 9)
	r := rangeFactory.NewEmptyRange(0)
	visit := func(id compact.NodeID, h []byte) {
		if id.Level <= 8 {
			nodes[id.Level] = append(nodes[id.Level], h)
		}
	}
	for i := 0; i < len(data); i += 32 {
		if err := r.Append(data[i:i+32:i+32], visit); err != nil {
			return nil, err
		}
	}
	l.cache.putAny(k, nodes, 2*len(data)+64)
	return nodes, nil
}

// node returns the hash of a complete node of the tree of the given size.
func (l *Log) node(ctx context.Context, id compact.NodeID, treeSize uint64) ([]byte, error) {
	tl, ti, nl, ni := layout.NodeCoordsToTileAddress(uint64(id.Level), id.Index)
	w := uint64(layout.PartialTileSize(tl, ti, treeSize))
	if w == 0 {
		w = TileWidth
	}
	nodes, err := l.tileNodes(ctx, tl, ti, w)
	if err != nil {
		return nil, err
	}
	if nl >= uint(len(nodes)) || ni >= uint64(len(nodes[nl])) {
		return nil, fmt.Errorf("node %d/%d is not in tile %d/%d of width %d", id.Level, id.Index, tl, ti, w)
	}
	return nodes[nl][ni], nil
}

// proofHashes fetches the nodes of a proof and combines the ephemeral ones.
func (l *Log) proofHashes(ctx context.Context, nodes proof.Nodes, treeSize uint64) ([][]byte, error) {
	hashes := make([][]byte, 0, len(nodes.IDs))
	for _, id := range nodes.IDs {
		h, err := l.node(ctx, id, treeSize)
		if err != nil {
			return nil, err
		}
		hashes = append(hashes, h)
	}
	return nodes.Rehash(hashes, rfc6962.DefaultHasher.HashChildren)
}

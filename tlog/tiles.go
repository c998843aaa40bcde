package tlog

import (
	"fmt"

	"github.com/hallmark-dev/hallmark/tlog/format"
)

// TileWidth is the number of hashes in a full tile and of entries in a full
// entry bundle (C2SP tlog-tiles); see [format.TileWidth].
const TileWidth = format.TileWidth

// MaxEntrySize is the largest entry a tlog-tiles entry bundle can hold; see
// [format.MaxEntrySize].
const MaxEntrySize = format.MaxEntrySize

// Framing is how entries are laid out in an entry bundle ([Config.Framing]);
// see [format.Framing].
type Framing = format.Framing

// TlogTiles is the default framing, C2SP tlog-tiles' uint16 length prefix.
var TlogTiles = format.TlogTiles

// levelSize returns how many complete nodes of tile level L (Merkle level
// 8·L) a tree of the given size has.
func levelSize(level, size uint64) uint64 {
	if level >= 8 {
		return 0
	}
	return size >> (8 * level)
}

// rightTile returns, for a tree of the given size, the index and width of the
// rightmost tile at level L, and whether that tile is partial. ok is false
// when the level has no tiles yet.
func rightTile(level, size uint64) (index uint64, width uint64, partial, ok bool) {
	n := levelSize(level, size)
	if n == 0 {
		return 0, 0, false, false
	}
	if w := n % TileWidth; w != 0 {
		return n / TileWidth, w, true, true
	}
	return n/TileWidth - 1, TileWidth, false, true
}

// bundlePrefix returns the first width entries of an entry bundle.
func bundlePrefix(f Framing, bundle []byte, width uint64) ([]byte, error) {
	_, ends, err := f.Split(bundle)
	if err != nil {
		return nil, err
	}
	if uint64(len(ends)) < width {
		return nil, fmt.Errorf("entry bundle holds %d entries, want %d", len(ends), width)
	}
	if width == 0 {
		return bundle[:0], nil
	}
	return bundle[:ends[width-1]], nil
}

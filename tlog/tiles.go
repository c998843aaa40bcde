package tlog

import (
	"encoding/binary"
	"fmt"
)

// TileWidth is the number of hashes in a full tile and of entries in a full
// entry bundle (C2SP tlog-tiles).
const TileWidth = 256

// MaxEntrySize is the largest entry an entry bundle can hold: entries are
// prefixed by a big-endian uint16 length.
const MaxEntrySize = 1<<16 - 1

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

// Framing is how entries are laid out in an entry bundle. The default,
// [TlogTiles], is C2SP tlog-tiles' uint16 length prefix; CT logs use
// self-delimiting TileLeaf structures (static-ct-api data tiles).
type Framing interface {
	// Append adds one entry to a bundle.
	Append(bundle, entry []byte) []byte
	// Split returns the entries of a bundle, as subslices of it, and for
	// each the offset where it ends in the bundle.
	Split(bundle []byte) (entries [][]byte, ends []int, err error)
}

// TlogTiles is the C2SP tlog-tiles framing: big-endian uint16 length, then
// the entry.
var TlogTiles Framing = tlogTilesFraming{}

type tlogTilesFraming struct{}

func (tlogTilesFraming) Append(bundle, entry []byte) []byte {
	bundle = binary.BigEndian.AppendUint16(bundle, uint16(len(entry)))
	return append(bundle, entry...)
}

func (tlogTilesFraming) Split(bundle []byte) ([][]byte, []int, error) {
	var out [][]byte
	var ends []int
	for off := 0; off < len(bundle); {
		if off+2 > len(bundle) {
			return nil, nil, fmt.Errorf("entry bundle truncated after %d entries", len(out))
		}
		n := int(binary.BigEndian.Uint16(bundle[off:]))
		off += 2
		if off+n > len(bundle) {
			return nil, nil, fmt.Errorf("entry bundle truncated in entry %d", len(out))
		}
		out = append(out, bundle[off:off+n:off+n])
		off += n
		ends = append(ends, off)
	}
	return out, ends, nil
}

// BundleEntries splits a tlog-tiles entry bundle into its entries.
func BundleEntries(bundle []byte) ([][]byte, error) {
	e, _, err := TlogTiles.Split(bundle)
	return e, err
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

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

// bundlePrefix returns the first width entries of an entry bundle.
func bundlePrefix(bundle []byte, width uint64) ([]byte, error) {
	off := 0
	for i := uint64(0); i < width; i++ {
		if off+2 > len(bundle) {
			return nil, fmt.Errorf("entry bundle holds %d entries, want %d", i, width)
		}
		n := int(binary.BigEndian.Uint16(bundle[off:]))
		off += 2 + n
		if off > len(bundle) {
			return nil, fmt.Errorf("entry bundle truncated in entry %d", i)
		}
	}
	return bundle[:off], nil
}

// BundleEntries splits an entry bundle into its entries.
func BundleEntries(bundle []byte) ([][]byte, error) {
	var out [][]byte
	for off := 0; off < len(bundle); {
		if off+2 > len(bundle) {
			return nil, fmt.Errorf("entry bundle truncated after %d entries", len(out))
		}
		n := int(binary.BigEndian.Uint16(bundle[off:]))
		off += 2
		if off+n > len(bundle) {
			return nil, fmt.Errorf("entry bundle truncated in entry %d", len(out))
		}
		out = append(out, bundle[off:off+n])
		off += n
	}
	return out, nil
}

func appendBundleEntry(bundle, entry []byte) []byte {
	bundle = binary.BigEndian.AppendUint16(bundle, uint16(len(entry)))
	return append(bundle, entry...)
}

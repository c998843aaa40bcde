package format

import (
	"encoding/binary"
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// TileWidth is the number of hashes in a full tile and of entries in a full
// entry bundle (C2SP tlog-tiles).
const TileWidth = 256

// MaxEntrySize is the largest entry a tlog-tiles entry bundle can hold:
// entries are prefixed by a big-endian uint16 length.
const MaxEntrySize = 1<<16 - 1

// Framing is how entries are laid out in an entry bundle. [TlogTiles] is
// C2SP tlog-tiles' uint16 length prefix; CT logs use [CTDataTiles],
// static-ct-api's self-delimiting TileLeaf structures.
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

// ErrTilePath is wrapped by every error of [ParseTilePath] and
// [ParseStaticCTTilePath]: the path is not a canonical tile path.
var ErrTilePath = errors.New("invalid tile path")

// ParseTilePath parses the part of a C2SP tlog-tiles path after "tile/":
// "<L>/<N>[.p/<W>]" or "entries/<N>[.p/<W>]". Only the canonical encoding
// of N is accepted, so every tile has exactly one URL. width is 0 for a
// full tile.
func ParseTilePath(p string) (bundle bool, level, index uint64, width uint8, err error) {
	return parseTilePath(p, "entries/")
}

// ParseStaticCTTilePath is [ParseTilePath] for C2SP static-ct-api logs,
// whose entry bundles are data tiles: "data/<N>[.p/<W>]".
func ParseStaticCTTilePath(p string) (bundle bool, level, index uint64, width uint8, err error) {
	return parseTilePath(p, "data/")
}

func parseTilePath(p, bundleDir string) (bundle bool, level, index uint64, width uint8, err error) {
	bad := func(why string) error { return fmt.Errorf("%w %q: %s", ErrTilePath, p, why) }
	var rest string
	if r, ok := strings.CutPrefix(p, bundleDir); ok {
		bundle, rest = true, r
	} else {
		l, r, ok := strings.Cut(p, "/")
		if !ok {
			return false, 0, 0, 0, bad("missing tile index")
		}
		lv, err := strconv.ParseUint(l, 10, 8)
		if err != nil || lv > 63 || strconv.FormatUint(lv, 10) != l {
			return false, 0, 0, 0, bad("level must be a decimal number from 0 to 63")
		}
		level, rest = lv, r
	}
	if n, w, ok := strings.Cut(rest, ".p/"); ok {
		wv, err := strconv.ParseUint(w, 10, 8)
		if err != nil || wv < 1 || wv > 255 || strconv.FormatUint(wv, 10) != w {
			return false, 0, 0, 0, bad("partial width must be a decimal number from 1 to 255")
		}
		width, rest = uint8(wv), n
	}
	groups := strings.Split(rest, "/")
	if len(groups) > 7 {
		return false, 0, 0, 0, bad("index has too many path elements")
	}
	for i, g := range groups {
		if i < len(groups)-1 {
			var ok bool
			if g, ok = strings.CutPrefix(g, "x"); !ok {
				return false, 0, 0, 0, bad("all but the last index element must start with x")
			}
		}
		if len(g) != 3 || strings.Trim(g, "0123456789") != "" {
			return false, 0, 0, 0, bad("index elements must be three decimal digits")
		}
		d, _ := strconv.ParseUint(g, 10, 64)
		if index > (1<<64-1-d)/1000 {
			return false, 0, 0, 0, bad("index overflows")
		}
		index = index*1000 + d
	}
	if len(groups) > 1 && groups[0] == "x000" {
		return false, 0, 0, 0, bad("index has leading zero elements")
	}
	return bundle, level, index, width, nil
}

// Package audittest serves an in-memory C2SP tlog-tiles log, for tests and
// benchmarks of monitors and auditors: it builds tiles and entry bundles
// exactly as a log would, and can be forked (same key, other entries).
package audittest

import (
	"encoding/binary"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"

	"github.com/transparency-dev/formats/log"
	"github.com/transparency-dev/merkle/compact"
	"github.com/transparency-dev/merkle/rfc6962"
	"github.com/transparency-dev/tessera/api/layout"
	"golang.org/x/mod/sumdb/note"
)

const width = layout.TileWidth

var rf = &compact.RangeFactory{Hash: rfc6962.DefaultHasher.HashChildren}

// TilesLog is an in-memory tiles log. It is safe for concurrent use: reads
// are served while entries are appended.
type TilesLog struct {
	origin string
	signer note.Signer

	mu         sync.RWMutex
	rng        *compact.Range
	nodes      [][]byte   // nodes[L]: the Merkle nodes of level 8L, 32 bytes each, concatenated
	bundles    [][]byte   // entry bundles
	offsets    [][]uint32 // offsets[b][i]: end of entry i in bundles[b]
	checkpoint []byte
}

// NewTilesLog returns an empty log signing checkpoints for origin.
func NewTilesLog(origin string, signer note.Signer) *TilesLog {
	l := &TilesLog{origin: origin, signer: signer, rng: rf.NewEmptyRange(0)}
	l.sign()
	return l
}

// Size returns the number of entries.
func (l *TilesLog) Size() uint64 {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return l.rng.End()
}

// Checkpoint returns the latest signed checkpoint.
func (l *TilesLog) Checkpoint() []byte {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return l.checkpoint
}

// Append adds entries and signs a new checkpoint.
func (l *TilesLog) Append(entries ...[]byte) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, e := range entries {
		idx := l.rng.End()
		b := idx / width
		if b == uint64(len(l.bundles)) {
			l.bundles = append(l.bundles, nil)
			l.offsets = append(l.offsets, nil)
		}
		l.bundles[b] = binary.BigEndian.AppendUint16(l.bundles[b], uint16(len(e)))
		l.bundles[b] = append(l.bundles[b], e...)
		l.offsets[b] = append(l.offsets[b], uint32(len(l.bundles[b])))
		if err := l.rng.Append(rfc6962.DefaultHasher.HashLeaf(e), l.visit); err != nil {
			panic(err)
		}
	}
	l.sign()
}

func (l *TilesLog) visit(id compact.NodeID, hash []byte) {
	if id.Level%8 != 0 {
		return
	}
	level := int(id.Level / 8)
	for len(l.nodes) <= level {
		l.nodes = append(l.nodes, nil)
	}
	if uint64(len(l.nodes[level])/32) != id.Index {
		panic(fmt.Sprintf("node %d/%d out of order", id.Level, id.Index))
	}
	l.nodes[level] = append(l.nodes[level], hash...)
}

func (l *TilesLog) sign() {
	root, err := l.rng.GetRootHash(nil)
	if err != nil {
		panic(err)
	}
	if root == nil {
		root = rfc6962.DefaultHasher.EmptyRoot()
	}
	text := log.Checkpoint{Origin: l.origin, Size: l.rng.End(), Hash: root}.Marshal()
	cp, err := note.Sign(&note.Note{Text: string(text)}, l.signer)
	if err != nil {
		panic(err)
	}
	l.checkpoint = cp
}

// ServeHTTP serves <prefix>/checkpoint, <prefix>/tile/... and
// <prefix>/tile/entries/... for any prefix.
func (l *TilesLog) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	p := r.URL.Path
	if strings.HasSuffix(p, "/checkpoint") {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Write(l.Checkpoint()) //nolint:errcheck
		return
	}
	i := strings.Index(p, "/tile/")
	if i < 0 {
		http.NotFound(w, r)
		return
	}
	p = p[i+len("/tile/"):]
	var data []byte
	var ok bool
	if rest, isBundle := strings.CutPrefix(p, "entries/"); isBundle {
		idx, pw, err := layout.ParseTileIndexPartial(rest)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		data, ok = l.bundle(idx, pw)
	} else {
		level, rest, _ := strings.Cut(p, "/")
		lv, err := layout.ParseTileLevel(level)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		idx, pw, err := layout.ParseTileIndexPartial(rest)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		data, ok = l.tile(lv, idx, pw)
	}
	if !ok {
		http.NotFound(w, r)
		return
	}
	w.Header().Set("Content-Type", "application/octet-stream")
	w.Header().Set("Content-Length", strconv.Itoa(len(data)))
	w.Write(data) //nolint:errcheck
}

func (l *TilesLog) tile(level, idx uint64, pw uint8) ([]byte, bool) {
	n := uint64(pw)
	if n == 0 {
		n = width
	}
	l.mu.RLock()
	defer l.mu.RUnlock()
	if level >= uint64(len(l.nodes)) {
		return nil, false
	}
	start, end := idx*width*32, (idx*width+n)*32
	if end > uint64(len(l.nodes[level])) {
		return nil, false
	}
	return l.nodes[level][start:end], true
}

func (l *TilesLog) bundle(idx uint64, pw uint8) ([]byte, bool) {
	n := int(pw)
	if n == 0 {
		n = width
	}
	l.mu.RLock()
	defer l.mu.RUnlock()
	if idx >= uint64(len(l.bundles)) || len(l.offsets[idx]) < n {
		return nil, false
	}
	return l.bundles[idx][:l.offsets[idx][n-1]], true
}

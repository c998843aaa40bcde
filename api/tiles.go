package api

import (
	"errors"
	"fmt"
	"github.com/hallmark-dev/hallmark/api/admission"
	"net/http"

	"github.com/hallmark-dev/hallmark/tlog"
	"github.com/hallmark-dev/hallmark/tlog/format"
)

const (
	cacheImmutable = "public, max-age=31536000, immutable"
	cachePartial   = "public, max-age=10"
	cacheNone      = "no-cache"
)

// ParseTilePath is [format.ParseTilePath], its errors wrapping
// ErrBadRequest too.
func ParseTilePath(p string) (bundle bool, level, index uint64, width uint8, err error) {
	return badTilePath(format.ParseTilePath(p))
}

// ParseStaticCTTilePath is [format.ParseStaticCTTilePath], its errors
// wrapping ErrBadRequest too.
func ParseStaticCTTilePath(p string) (bundle bool, level, index uint64, width uint8, err error) {
	return badTilePath(format.ParseStaticCTTilePath(p))
}

func badTilePath(bundle bool, level, index uint64, width uint8, err error) (bool, uint64, uint64, uint8, error) {
	if err != nil {
		return false, 0, 0, 0, fmt.Errorf("%w: %w", ErrBadRequest, err)
	}
	return bundle, level, index, width, nil
}

// tileHandlers serves a log's checkpoint, tiles and entry bundles. A
// static-ct-api log serves its bundles as data tiles (tile/data/...).
type tileHandlers struct {
	log      *tlog.Log
	staticCT bool
}

func (h tileHandlers) checkpoint(w http.ResponseWriter, r *http.Request) {
	cp, err := h.log.Checkpoint(r.Context())
	if err != nil {
		writeError(w, r, err)
		return
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", cacheNone)
	w.Write(cp.Note) //nolint:errcheck
}

func (h tileHandlers) tile(w http.ResponseWriter, r *http.Request) {
	parse := ParseTilePath
	if h.staticCT {
		parse = ParseStaticCTTilePath
	}
	bundle, level, index, width, err := parse(r.PathValue("path"))
	if err != nil {
		writeError(w, r, err)
		return
	}
	var data []byte
	if bundle {
		data, err = h.log.EntryBundle(r.Context(), index, width)
	} else {
		data, err = h.log.Tile(r.Context(), level, index, width)
	}
	if err != nil {
		writeError(w, r, err)
		return
	}
	w.Header().Set("Content-Type", "application/octet-stream")
	if width == 0 {
		w.Header().Set("Cache-Control", cacheImmutable)
	} else {
		w.Header().Set("Cache-Control", cachePartial)
	}
	w.Write(data) //nolint:errcheck
}

// readBody reads a request body up to limit bytes (admission.ReadBody).
func readBody(w http.ResponseWriter, r *http.Request, limit int64) ([]byte, error) {
	body, err := admission.ReadBody(w, r, limit)
	var maxErr *http.MaxBytesError
	if errors.As(err, &maxErr) {
		return nil, fmt.Errorf("%w: the limit is %d bytes", errTooLarge, limit)
	}
	if err != nil {
		return nil, fmt.Errorf("%w: couldn't read request body: %w", ErrBadRequest, err)
	}
	return body, nil
}

package api

import (
	"errors"
	"fmt"
	"github.com/hallmark-dev/hallmark/api/admission"
	"net/http"
	"strconv"
	"strings"

	"github.com/hallmark-dev/hallmark/tlog"
)

const (
	cacheImmutable = "public, max-age=31536000, immutable"
	cachePartial   = "public, max-age=10"
	cacheNone      = "no-cache"
)

// ParseTilePath parses the part of a C2SP tlog-tiles path after "tile/":
// "<L>/<N>[.p/<W>]" or "entries/<N>[.p/<W>]". Only the canonical encoding
// of N is accepted, so every tile has exactly one URL.
func ParseTilePath(p string) (bundle bool, level, index uint64, width uint8, err error) {
	return parseTilePath(p, "entries/")
}

// ParseStaticCTTilePath is ParseTilePath for C2SP static-ct-api logs, whose
// entry bundles are data tiles: "data/<N>[.p/<W>]".
func ParseStaticCTTilePath(p string) (bundle bool, level, index uint64, width uint8, err error) {
	return parseTilePath(p, "data/")
}

func parseTilePath(p, bundleDir string) (bundle bool, level, index uint64, width uint8, err error) {
	bad := func(why string) error { return fmt.Errorf("%w: invalid tile path %q: %s", ErrBadRequest, p, why) }
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

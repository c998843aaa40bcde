package api

import (
	"errors"
	"testing"

	"github.com/transparency-dev/tessera/api/layout"
)

func TestParseTilePath(t *testing.T) {
	for _, tc := range []struct {
		path         string
		bundle       bool
		level, index uint64
		width        uint8
		wantErr      bool
	}{
		{path: "0/000", level: 0, index: 0},
		{path: "0/005", index: 5},
		{path: "1/x001/x234/067", level: 1, index: 1234067},
		{path: "0/x001/x234/067.p/8", index: 1234067, width: 8},
		{path: "entries/x001/000", bundle: true, index: 1000},
		{path: "entries/000.p/255", bundle: true, width: 255},
		{path: "63/000", level: 63},
		{path: "64/000", wantErr: true},
		{path: "00/000", wantErr: true},
		{path: "0/5", wantErr: true},
		{path: "0/0005", wantErr: true},
		{path: "0/x000/005", wantErr: true},
		{path: "0/001/002", wantErr: true},
		{path: "0/000.p/0", wantErr: true},
		{path: "0/000.p/256", wantErr: true},
		{path: "0/000.p/08", wantErr: true},
		{path: "0/x1/000", wantErr: true},
		{path: "0", wantErr: true},
		{path: "entries/", wantErr: true},
		{path: "0/x018/x446/x744/x073/x709/x551/616", wantErr: true},
		{path: "0/x018/x446/x744/x073/x709/x551/615", index: 1<<64 - 1},
		{path: "0/x001/x018/x446/x744/x073/x709/x551/615", wantErr: true},
		{path: "0/-01", wantErr: true},
		{path: "a/000", wantErr: true},
	} {
		bundle, level, index, width, err := ParseTilePath(tc.path)
		if tc.wantErr {
			if err == nil || !errors.Is(err, ErrBadRequest) {
				t.Errorf("%q: want a bad-request error, got %v", tc.path, err)
			}
			continue
		}
		if err != nil || bundle != tc.bundle || level != tc.level || index != tc.index || width != tc.width {
			t.Errorf("%q: got (%v %d %d %d %v)", tc.path, bundle, level, index, width, err)
		}
	}
}

// FuzzParseTilePath checks that parsing never panics and that every
// accepted path is the canonical tlog-tiles path of what it parsed to.
func FuzzParseTilePath(f *testing.F) {
	for _, s := range []string{"0/000", "1/x001/x234/067.p/8", "entries/x001/000", "0/x000/005", "entries/000.p/255"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, p string) {
		bundle, level, index, width, err := ParseTilePath(p)
		if err != nil {
			return
		}
		want := layout.TilePath(level, index, width)
		if bundle {
			want = layout.EntriesPath(index, width)
		}
		if "tile/"+p != want {
			t.Fatalf("accepted %q, canonical path is %q", p, want)
		}
	})
}

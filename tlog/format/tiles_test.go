package format

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
			if err == nil || !errors.Is(err, ErrTilePath) {
				t.Errorf("%q: want an ErrTilePath error, got %v", tc.path, err)
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

func TestParseStaticCTTilePath(t *testing.T) {
	for _, tc := range []struct {
		path   string
		bundle bool
		index  uint64
		width  uint8
		ok     bool
	}{
		{"data/000", true, 0, 0, true},
		{"data/x001/234.p/7", true, 1234, 7, true},
		{"0/001", false, 1, 0, true},
		{"entries/000", false, 0, 0, false},
		{"data/1", false, 0, 0, false},
	} {
		bundle, _, index, width, err := ParseStaticCTTilePath(tc.path)
		if (err == nil) != tc.ok || (tc.ok && (bundle != tc.bundle || index != tc.index || width != tc.width)) {
			t.Errorf("%s: bundle %v index %d width %d err %v", tc.path, bundle, index, width, err)
		}
	}
	if _, _, _, _, err := ParseTilePath("data/000"); err == nil {
		t.Error("a tlog-tiles log accepted a data tile path")
	}
}

func TestBundleEntries(t *testing.T) {
	var b []byte
	for _, e := range []string{"a", "", "ccc"} {
		b = TlogTiles.Append(b, []byte(e))
	}
	got, err := BundleEntries(b)
	if err != nil || len(got) != 3 || string(got[0]) != "a" || len(got[1]) != 0 || string(got[2]) != "ccc" {
		t.Fatalf("BundleEntries = %q, %v", got, err)
	}
	for _, bad := range [][]byte{b[:len(b)-1], b[:1], append(b, 0)} {
		if _, err := BundleEntries(bad); err == nil {
			t.Errorf("BundleEntries(%x) accepted a truncated bundle", bad)
		}
	}
}

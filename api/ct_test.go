package api

import "testing"

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

package api

import (
	"errors"
	"testing"

	"github.com/hallmark-dev/hallmark/tlog/format"
)

// TestTilePathErrors: a bad tile path is a 400 (ErrBadRequest) that still
// says which rule it broke (format.ErrTilePath).
func TestTilePathErrors(t *testing.T) {
	for _, parse := range []func(string) (bool, uint64, uint64, uint8, error){ParseTilePath, ParseStaticCTTilePath} {
		_, _, _, _, err := parse("0/5")
		if !errors.Is(err, ErrBadRequest) || !errors.Is(err, format.ErrTilePath) {
			t.Errorf("err = %v, want ErrBadRequest and format.ErrTilePath", err)
		}
	}
	if _, _, index, _, err := ParseStaticCTTilePath("data/x001/234.p/7"); err != nil || index != 1234 {
		t.Errorf("data tile path: index %d, %v", index, err)
	}
}

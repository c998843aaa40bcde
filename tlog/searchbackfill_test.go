package tlog

import (
	"context"
	"errors"
	"slices"
	"testing"
)

// TestAddSearchKeys indexes entries logged without search keys, on both
// stores: a search then finds them, adding the same rows again changes
// nothing, and an index beyond the log is refused with nothing written.
func TestAddSearchKeys(t *testing.T) {
	stores(t, func(t *testing.T, open func(t *testing.T) testStore) {
		ctx := context.Background()
		s := open(t)
		l := openTestLog(t, s, "backfill", nil)
		appendAll(t, l.Log, 0, 5)
		rows := []SearchRow{{Key: "alice@corp.example", Index: 1}, {Key: "alice@corp.example", Index: 3}, {Key: "sha256:ab\x00", Index: 4}}
		for range 2 {
			if err := AddSearchKeys(ctx, s, s, "backfill", rows); err != nil {
				t.Fatal(err)
			}
		}
		if got, err := l.Search(ctx, []string{"alice@corp.example"}, 10); err != nil || !slices.Equal(got, []uint64{1, 3}) {
			t.Fatalf("search after the backfill: %v, %v", got, err)
		}
		if got, err := l.Search(ctx, []string{"sha256:ab\x00"}, 10); err != nil || !slices.Equal(got, []uint64{4}) {
			t.Fatalf("search for a key stored escaped: %v, %v", got, err)
		}
		err := AddSearchKeys(ctx, s, s, "backfill", []SearchRow{{Key: "bob@corp.example", Index: 0}, {Key: "bob@corp.example", Index: 5}})
		if !errors.Is(err, ErrInvalidRequest) {
			t.Fatalf("index beyond the log: %v", err)
		}
		if got, _ := l.Search(ctx, []string{"bob@corp.example"}, 10); len(got) != 0 {
			t.Fatalf("a refused backfill wrote %v", got)
		}
	})
}

package adopt

import (
	"strings"
	"testing"
	"time"
)

func TestWriteSummary(t *testing.T) {
	var b strings.Builder
	r := &Result{From: 10, To: 1010, Batches: 2, Checkpoints: 3, Elapsed: 2 * time.Second, CommitTime: time.Second, NoIndexKeys: 4}
	r.WriteSummary(&b)
	for _, want := range []string{
		"imported 1000 entries (size 10 → 1010) in 2s: 500 entries/s",
		"2 transactions, 3 checkpoints",
		"hallmark prepare: 0s, -",
		"hallmark commit:  1s, 1000 entries/s",
		"4 entries have no search keys",
	} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("summary lacks %q:\n%s", want, b.String())
		}
	}
}

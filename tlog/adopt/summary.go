package adopt

import (
	"fmt"
	"io"
	"strconv"
	"time"
)

// WriteSummary writes what a run imported and where its time went, as
// `hallmark adopt trillian` and `hallmark-bench import` print it.
func (r *Result) WriteSummary(w io.Writer) {
	rate := func(n uint64, d time.Duration) string {
		if d <= 0 {
			return "-"
		}
		return strconv.Itoa(int(float64(n)/d.Seconds())) + " entries/s"
	}
	n := r.Imported()
	fmt.Fprintf(w, "imported %d entries (size %d → %d) in %v: %s\n", n, r.From, r.To, r.Elapsed.Round(time.Millisecond), rate(n, r.Elapsed))
	fmt.Fprintf(w, "  %d transactions, %d checkpoints (one per integration second)\n", r.Batches, r.Checkpoints)
	fmt.Fprintf(w, "  trillian calls:   %v (summed over parallel reads)\n", r.ReadTime.Round(time.Millisecond))
	fmt.Fprintf(w, "  hallmark prepare: %v, %s (leaf hashes, search keys, roots; summed over parallel reads)\n", r.PrepareTime.Round(time.Millisecond), rate(n, r.PrepareTime))
	fmt.Fprintf(w, "  hallmark commit:  %v, %s (while a transaction was open)\n", r.CommitTime.Round(time.Millisecond), rate(n, r.CommitTime))
	if r.NoIndexKeys > 0 {
		fmt.Fprintf(w, "  %d entries have no search keys (kinds without index support, or keys Rekor could not compute either)\n", r.NoIndexKeys)
	}
}

package interop

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/url"
	"sync"
	"testing"
	"time"

	"github.com/transparency-dev/formats/log"
	"github.com/transparency-dev/merkle/compact"
	"github.com/transparency-dev/merkle/proof"
	"github.com/transparency-dev/merkle/rfc6962"
	"github.com/transparency-dev/tessera/client"
)

// TestCrashRecovery kills hallmark-log with SIGKILL at random moments
// during sustained appends, 20 times, restarting it each time. Afterwards
// every acknowledged entry must be at the index it was given, no entry may
// appear twice, and every checkpoint a client was handed must be
// consistent with the final one.
func TestCrashRecovery(t *testing.T) {
	if testing.Short() {
		t.Skip("long")
	}
	stores(t, func(t *testing.T, dbURL string) {
		p := startTilesLog(t, dbURL, "max_age: 10ms")
		type ack struct {
			data  string
			index uint64
			cp    string
		}
		var (
			mu   sync.Mutex
			acks []ack
		)
		const cycles = 20
		rng := rand.New(rand.NewPCG(1, 2))
		for cycle := 0; cycle < cycles; cycle++ {
			if cycle > 0 {
				p.start()
			}
			ctx, cancel := context.WithCancel(context.Background())
			var wg sync.WaitGroup
			for w := 0; w < 32; w++ {
				wg.Add(1)
				go func(w int) {
					defer wg.Done()
					for seq := 0; ctx.Err() == nil; seq++ {
						data := fmt.Sprintf("cycle %d worker %d seq %d", cycle, w, seq)
						r, err := appendEntry(ctx, p.BaseURL, []byte(data))
						if err != nil {
							continue // killed mid-request: not acknowledged
						}
						mu.Lock()
						acks = append(acks, ack{data, r.Index, r.Checkpoint})
						mu.Unlock()
					}
				}(w)
			}
			time.Sleep(time.Duration(200+rng.IntN(1000)) * time.Millisecond)
			p.kill() // SIGKILL: no graceful shutdown
			cancel()
			wg.Wait()
		}
		p.start()
		ctx := context.Background()
		u, _ := url.Parse(p.BaseURL + "/")
		f, _ := client.NewHTTPFetcher(u, nil)
		final, _, _, err := client.FetchCheckpoint(ctx, f.ReadCheckpoint, p.Verifier, p.Origin)
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("%d cycles, %d acknowledged appends, final tree size %d", cycles, len(acks), final.Size)
		if len(acks) < cycles*10 {
			t.Fatalf("only %d appends acknowledged; the test did not exercise the log", len(acks))
		}

		// Read the whole log once.
		var entries [][]byte
		for b := uint64(0); b*256 < final.Size; b++ {
			bundle, err := client.GetEntryBundle(ctx, f.ReadEntryBundle, b, final.Size)
			if err != nil {
				t.Fatal(err)
			}
			entries = append(entries, bundle.Entries...)
		}
		seen := map[string]uint64{}
		r := (&compact.RangeFactory{Hash: rfc6962.DefaultHasher.HashChildren}).NewEmptyRange(0)
		for i, e := range entries {
			if j, dup := seen[string(e)]; dup {
				t.Fatalf("entry %q at %d and %d", e, j, i)
			}
			seen[string(e)] = uint64(i)
			r.Append(rfc6962.DefaultHasher.HashLeaf(e), nil)
		}
		if root, _ := r.GetRootHash(nil); string(root) != string(final.Hash) {
			t.Fatalf("root recomputed from entries differs from the final checkpoint")
		}
		pb, _ := client.NewProofBuilder(ctx, final.Size, f.ReadTile)
		checked := map[string]bool{}
		for _, a := range acks {
			if got, ok := seen[a.data]; !ok || got != a.index {
				t.Fatalf("acknowledged %q at %d; log has it at %d (present=%v)", a.data, a.index, got, ok)
			}
			if checked[a.cp] {
				continue
			}
			checked[a.cp] = true
			cp, _, _, err := log.ParseCheckpoint([]byte(a.cp), p.Origin, p.Verifier)
			if err != nil {
				t.Fatal(err)
			}
			cons, err := pb.ConsistencyProof(ctx, cp.Size, final.Size)
			if err != nil {
				t.Fatal(err)
			}
			if err := proof.VerifyConsistency(rfc6962.DefaultHasher, cp.Size, final.Size, cons, cp.Hash, final.Hash); err != nil {
				t.Fatalf("checkpoint %d is not consistent with the final %d: %v", cp.Size, final.Size, err)
			}
		}
		t.Logf("verified %d distinct checkpoints against the final one", len(checked))
	})
}

package interop

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
	"time"
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
		var (
			mu   sync.Mutex
			acks []ackedAppend
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
						acks = append(acks, ackedAppend{data, r.Index, r.Checkpoint})
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
		t.Logf("%d cycles, %d acknowledged appends", cycles, len(acks))
		if len(acks) < cycles*10 {
			t.Fatalf("only %d appends acknowledged; the test did not exercise the log", len(acks))
		}
		// A request killed mid-flight may have committed without an answer,
		// so the tree may hold more than what was acknowledged.
		verifyAcknowledged(t, p.BaseURL, p.Origin, p.Verifier, acks, false)
	})
}

package tlog

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestFreeze is the conformance test of Store.Freeze: a frozen log keeps
// its size for every writer on the database and stays readable.
func TestFreeze(t *testing.T) {
	stores(t, func(t *testing.T, open func(t *testing.T) testStore) {
		ctx := context.Background()
		s := open(t)
		l := openTestLog(t, s, "frozen", nil)
		other := openTestLog(t, s, "other", nil)
		appendAll(t, l.Log, 0, 10)
		// A second writer on the same database, as another replica.
		l2 := openTestLog(t, open(t), "frozen", nil)

		st, err := s.Freeze(ctx, "frozen")
		if err != nil || st.Size != 10 || st.Checkpoint == nil {
			t.Fatalf("Freeze = %+v, %v; want size 10", st, err)
		}
		again, err := s.Freeze(ctx, "frozen")
		if err != nil || again.Size != 10 {
			t.Fatalf("second Freeze = %+v, %v; want size 10", again, err)
		}
		for _, w := range []*Log{l.Log, l2.Log} {
			if _, err := w.Append(ctx, Entry{Data: []byte("late")}); !errors.Is(err, ErrFrozen) {
				t.Fatalf("append to a frozen log: %v, want ErrFrozen", err)
			}
		}
		err = s.Commit(ctx, "frozen", func(tx Tx) error {
			_, err := tx.State()
			return err
		})
		if !errors.Is(err, ErrFrozen) {
			t.Fatalf("Tx.State on a frozen log: %v, want ErrFrozen", err)
		}
		if cp := checkLog(t, l); cp.Size != 10 {
			t.Fatalf("frozen log has size %d, want 10", cp.Size)
		}
		// Other logs are not affected; unknown logs cannot be frozen.
		appendAll(t, other.Log, 0, 3)
		if _, err := s.Freeze(ctx, "missing"); !errors.Is(err, ErrNotFound) {
			t.Fatalf("Freeze of a missing log: %v, want ErrNotFound", err)
		}
	})
}

// TestFreezeWhileWriting freezes a log while two sequencers append to it:
// every acknowledged entry is within the size Freeze returns, every other
// append fails with ErrFrozen, and the size never changes afterwards.
func TestFreezeWhileWriting(t *testing.T) {
	stores(t, func(t *testing.T, open func(t *testing.T) testStore) {
		ctx := context.Background()
		writers := []*Log{openTestLog(t, open(t), "busy", nil).Log, openTestLog(t, open(t), "busy", nil).Log}
		s := open(t)
		var (
			wg      sync.WaitGroup
			mu      sync.Mutex
			acked   []uint64
			refused atomic.Int64
			stop    atomic.Bool
		)
		for w, l := range writers {
			for g := 0; g < 4; g++ {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for i := 0; !stop.Load(); i++ {
						r, err := l.Append(ctx, Entry{Data: entryData(100000*(4*w+g) + i)})
						switch {
						case errors.Is(err, ErrFrozen):
							refused.Add(1)
						case err != nil:
							t.Errorf("append: %v", err)
							return
						default:
							mu.Lock()
							acked = append(acked, r.Index)
							mu.Unlock()
						}
					}
				}()
			}
		}
		// Freeze once appends are being acknowledged, and stop once the
		// writers have met the frozen log: by counts, not by sleeping, so a
		// loaded machine cannot make the test miss the race.
		waitUntil := func(what string, cond func() bool) {
			deadline := time.Now().Add(30 * time.Second)
			for !cond() {
				if time.Now().After(deadline) {
					stop.Store(true)
					wg.Wait()
					t.Fatalf("gave up waiting for %s", what)
				}
				time.Sleep(5 * time.Millisecond)
			}
		}
		waitUntil("acknowledged appends", func() bool { mu.Lock(); defer mu.Unlock(); return len(acked) >= 20 })
		st, err := s.Freeze(ctx, "busy")
		if err != nil {
			t.Fatal(err)
		}
		waitUntil("refused appends", func() bool { return refused.Load() >= 8 })
		stop.Store(true)
		wg.Wait()
		if st.Size == 0 || refused.Load() == 0 {
			t.Fatalf("frozen at %d with %d refused appends: the test did not race", st.Size, refused.Load())
		}
		seen := map[uint64]bool{}
		for _, idx := range acked {
			if idx >= st.Size {
				t.Fatalf("append acknowledged at index %d, past the frozen size %d", idx, st.Size)
			}
			if seen[idx] {
				t.Fatalf("index %d acknowledged twice", idx)
			}
			seen[idx] = true
		}
		if uint64(len(acked)) != st.Size {
			t.Fatalf("%d acknowledged entries, frozen size %d", len(acked), st.Size)
		}
		if now, err := s.State(ctx, "busy"); err != nil || now.Size != st.Size {
			t.Fatalf("size after freeze %+v %v, want %d", now, err, st.Size)
		}
	})
}

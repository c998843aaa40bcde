package fsck_test

import (
	"context"
	"crypto/ed25519"
	"fmt"
	"os"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/hallmark-dev/hallmark/internal/pgtest"
	"github.com/hallmark-dev/hallmark/tlog"
	"github.com/hallmark-dev/hallmark/tlog/format"
	"github.com/hallmark-dev/hallmark/tlog/fsck"
)

// BenchmarkCheck measures fsck on PostgreSQL over a log of
// FSCK_BENCH_ENTRIES (default 100,000) 500-byte entries, with and without
// the per-entry deduplication check:
//
//	FSCK_BENCH_ENTRIES=200000 scripts/with-postgres.sh go test -run '^$' -bench Check -benchtime 1x ./tlog/fsck
func BenchmarkCheck(b *testing.B) {
	n := 100000
	if s := os.Getenv("FSCK_BENCH_ENTRIES"); s != "" {
		n, _ = strconv.Atoi(s)
	}
	s, err := tlog.OpenPG(context.Background(), pgtest.URL(b))
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	key := ed25519.NewKeyFromSeed(make([]byte, ed25519.SeedSize))
	signer, _ := format.NewNoteSigner(origin, key)
	verifier, _ := format.NewNoteVerifier(origin, key.Public())
	ctx := context.Background()
	l, err := tlog.Open(ctx, s, tlog.Config{Name: logName, Origin: origin, Signer: signer, MaxPending: 1 << 20,
		Index: s, History: s})
	if err != nil {
		b.Fatal(err)
	}
	start := time.Now()
	var wg sync.WaitGroup
	sem := make(chan struct{}, 2048)
	pad := make([]byte, 480)
	for i := 0; i < n; i++ {
		wg.Add(1)
		sem <- struct{}{}
		go func(i int) {
			defer wg.Done()
			defer func() { <-sem }()
			if _, err := l.Append(ctx, tlog.Entry{Data: fmt.Appendf(nil, "%019d%s", i, pad)}); err != nil {
				b.Error(err)
			}
		}(i)
	}
	wg.Wait()
	l.Close()
	b.Logf("filled %d entries in %s", n, time.Since(start).Round(time.Millisecond))
	for _, tc := range []struct {
		name     string
		skip     bool
		parallel int
	}{{"keys-serial", false, 1}, {"keys-parallel-4", false, 4}, {"keys-parallel-16", false, 16}, {"skip-keys", true, 16}} {
		b.Run(tc.name, func(b *testing.B) {
			for b.Loop() {
				rep, err := fsck.Check(ctx, s, fsck.Options{Name: logName, Origin: origin, Verifier: verifier, SkipKeys: tc.skip, LookupConcurrency: tc.parallel})
				if err != nil || !rep.OK() {
					b.Fatal(err, rep.Problems)
				}
				b.ReportMetric(float64(rep.Entries)/rep.Elapsed.Seconds(), "entries/s")
				b.ReportMetric(float64(rep.Checkpoints), "checkpoints")
			}
		})
	}
}

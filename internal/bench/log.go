package bench

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/binary"
	"flag"
	"fmt"
	"os"
	"runtime"
	"runtime/pprof"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hallmark-dev/hallmark/tlog"
	"github.com/hallmark-dev/hallmark/tlog/format"
)

// Log measures the log engine itself (tlog.Log on SQLite or PostgreSQL):
// a closed loop of concurrent submitters, an open loop at a fixed rate, and
// both again after the log holds -at entries.
func Log(args []string) error {
	fs := flag.NewFlagSet("log", flag.ExitOnError)
	store := benchStoreFlags(fs, "sqlite", "store to measure")
	n := fs.Int("entries", 100000, "entries per measured run")
	size := fs.Int("entry-size", 500, "bytes per entry")
	conc := fs.Int("concurrency", 2048, "closed-loop concurrent submitters")
	rate := fs.Int("rate", 10000, "offered rate (entries/s) of the open-loop latency run")
	prefill := fs.Int("at", 1000000, "also measure after the log holds this many entries (0 to skip)")
	maxSize := fs.Int("batch-max-size", tlog.DefaultBatchMaxSize, "batch max size")
	maxAge := fs.Duration("batch-max-age", tlog.DefaultBatchMaxAge, "batch max age")
	cpuprofile := fs.String("cpuprofile", "", "write a CPU profile to this file")
	fs.Parse(args)
	if *cpuprofile != "" {
		f, err := os.Create(*cpuprofile)
		if err != nil {
			return err
		}
		pprof.StartCPUProfile(f)
		defer pprof.StopCPUProfile()
	}

	ctx := context.Background()
	s, cleanup, err := store.open(ctx)
	if err != nil {
		return err
	}
	defer cleanup()

	_, key, _ := ed25519.GenerateKey(rand.Reader)
	name := fmt.Sprintf("bench-%d", time.Now().UnixNano())
	signer, err := format.NewNoteSigner("bench.example/"+name, key)
	if err != nil {
		return err
	}
	l, err := tlog.Open(ctx, s, tlog.Config{Name: name, Origin: "bench.example/" + name, Signer: signer,
		BatchMaxSize: *maxSize, BatchMaxAge: *maxAge, MaxPending: 1 << 20, Index: s, History: s})
	if err != nil {
		return err
	}
	defer l.Close()

	fmt.Printf("hallmark-bench log: store=%s entries=%d entry-size=%dB batch=%d/%s cpus=%d %s\n",
		*store.kind, *n, *size, *maxSize, *maxAge, runtime.NumCPU(), cpuModel())
	var seq atomic.Uint64
	b := &bench{log: l, size: *size, seq: &seq}

	empty := b.closedLoop(ctx, *n, *conc, "")
	empty.print("empty log, closed loop (max throughput)")
	open := b.openLoop(ctx, *n, *rate)
	open.print(fmt.Sprintf("empty log, open loop at %d/s offered", *rate))
	if *prefill > 0 {
		cp, _ := l.Checkpoint(ctx)
		if need := *prefill - int(cp.Size); need > 0 {
			b.closedLoop(ctx, need, *conc, fmt.Sprintf("filling to %d entries", *prefill))
		}
		cp, _ = l.Checkpoint(ctx)
		at := b.closedLoop(ctx, *n, *conc, "")
		at.print(fmt.Sprintf("at %d entries, closed loop", cp.Size))
		fmt.Printf("throughput at %d entries vs empty: %.1f%%\n", cp.Size, 100*at.rate()/empty.rate())
		open := b.openLoop(ctx, *n, *rate)
		open.print(fmt.Sprintf("at %d entries, open loop at %d/s offered", cp.Size, *rate))
	}
	return nil
}

type bench struct {
	log  *tlog.Log
	size int
	seq  *atomic.Uint64
}

type result struct {
	n       int
	errors  int
	elapsed time.Duration
	lat     []time.Duration
}

func (r *result) rate() float64 { return float64(r.n) / r.elapsed.Seconds() }

func (r *result) print(what string) {
	slices.Sort(r.lat)
	q := func(p float64) time.Duration {
		if len(r.lat) == 0 {
			return 0
		}
		return r.lat[min(len(r.lat)-1, int(p*float64(len(r.lat))))].Round(100 * time.Microsecond)
	}
	fmt.Printf("%-45s %8.0f entries/s  latency p50 %v p90 %v p99 %v max %v  errors %d\n",
		what+":", r.rate(), q(0.50), q(0.90), q(0.99), q(1), r.errors)
}

// one appends a fresh entry and builds its inclusion proof: the work a
// client waits for.
func (b *bench) one(ctx context.Context) (time.Duration, error) {
	data := make([]byte, b.size)
	rand.Read(data)
	binary.BigEndian.PutUint64(data, b.seq.Add(1))
	start := time.Now()
	r, err := b.log.Append(ctx, tlog.Entry{Data: data})
	if err != nil {
		return 0, err
	}
	if _, err := b.log.InclusionProof(ctx, r.Index, r.Checkpoint.Size); err != nil {
		return 0, err
	}
	return time.Since(start), nil
}

func (b *bench) closedLoop(ctx context.Context, n, conc int, progress string) *result {
	res := &result{lat: make([]time.Duration, 0, n)}
	var mu sync.Mutex
	var next atomic.Int64
	var wg sync.WaitGroup
	start := time.Now()
	stop := make(chan struct{})
	if progress != "" {
		go func() {
			t := time.NewTicker(5 * time.Second)
			defer t.Stop()
			for {
				select {
				case <-stop:
					return
				case <-t.C:
					done := next.Load()
					el := time.Since(start)
					rate := float64(done) / el.Seconds()
					eta := time.Duration(float64(int64(n)-done)/rate) * time.Second
					fmt.Printf("  %s: %d/%d (%.0f/s, ETA %v)\n", progress, done, n, rate, eta.Round(time.Second))
				}
			}
		}()
	}
	for w := 0; w < conc; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for next.Add(1) <= int64(n) {
				d, err := b.one(ctx)
				mu.Lock()
				if err != nil {
					res.errors++
				} else {
					res.lat = append(res.lat, d)
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	close(stop)
	res.elapsed = time.Since(start)
	res.n = len(res.lat)
	return res
}

func (b *bench) openLoop(ctx context.Context, n, rate int) *result {
	res := &result{lat: make([]time.Duration, 0, n)}
	var mu sync.Mutex
	var wg sync.WaitGroup
	start := time.Now()
	interval := time.Second / time.Duration(rate)
	for i := 0; i < n; i++ {
		// Submit on schedule regardless of how fast answers come back.
		if d := time.Until(start.Add(time.Duration(i) * interval)); d > 0 {
			time.Sleep(d)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			d, err := b.one(ctx)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				res.errors++
				return
			}
			res.lat = append(res.lat, d)
		}()
	}
	wg.Wait()
	res.elapsed = time.Since(start)
	res.n = len(res.lat)
	return res
}

func numCPU() int { return runtime.NumCPU() }

func firstNonEmpty(s ...string) string {
	for _, x := range s {
		if x != "" {
			return x
		}
	}
	return ""
}

func cpuModel() string {
	b, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		return ""
	}
	for _, line := range strings.Split(string(b), "\n") {
		if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
			return "(" + strings.TrimSpace(v) + ")"
		}
	}
	return ""
}

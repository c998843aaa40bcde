package bench

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/binary"
	"encoding/pem"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/hallmark-dev/hallmark/api"
	"github.com/hallmark-dev/hallmark/audit"
	"github.com/hallmark-dev/hallmark/audit/audittest"
	"github.com/hallmark-dev/hallmark/tlog"
	"github.com/hallmark-dev/hallmark/tlog/format"
)

// Monitor measures how fast `hallmark monitor` catches up on a log:
// it builds a log of Rekor v2 hashedrekord entries signed with Fulcio-style
// certificates, serves it over HTTP on loopback, and times a monitor's
// first poll (verify checkpoint, scan every entry bundle, recompute the
// root, check every certificate against identity rules).
func Monitor(args []string) error {
	fs := flag.NewFlagSet("monitor", flag.ExitOnError)
	n := fs.Int("entries", 1_000_000, "entries in the log")
	source := fs.String("source", "memory", "memory: tiles served from memory (a CDN's view); engine: hallmark-log's engine and HTTP handlers on SQLite or PostgreSQL")
	store := fs.String("store", "sqlite", "with --source engine: sqlite or postgres (HALLMARK_DATABASE_URL or HALLMARK_TEST_DATABASE_URL)")
	certs := fs.Int("certificates", 4096, "distinct signing certificates in the entries")
	fetchers := fs.Int("fetchers", 16, "concurrent entry bundle fetches")
	parsers := fs.Int("parsers", 0, "parallel bundle parsers (default: GOMAXPROCS)")
	noRules := fs.Bool("no-identity-rules", false, "scan without identity rules (skips certificate parsing)")
	cpuprofile := fs.String("cpuprofile", "", "write a CPU profile of the catch-up to this file")
	fs.Parse(args)
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))

	dir, err := os.MkdirTemp("", "hallmark-monitor-bench")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	pub, key, _ := ed25519.GenerateKey(rand.Reader)
	const origin = "bench.example/log"
	signer, err := format.NewNoteSigner(origin, key)
	if err != nil {
		return err
	}

	fmt.Printf("hallmark-bench monitor: source=%s entries=%d certificates=%d fetchers=%d parsers=%d cpus=%d %s\n",
		*source, *n, *certs, *fetchers, *parsers, runtime.NumCPU(), cpuModel())
	start := time.Now()
	gen, err := newEntryGenerator(*certs)
	if err != nil {
		return err
	}
	var handler http.Handler
	prefix := "" // path of the log on the test server
	switch *source {
	case "memory":
		l := audittest.NewTilesLog(origin, signer)
		batch := make([][]byte, 0, 4096)
		for i := 0; i < *n; i++ {
			batch = append(batch, gen.entry(uint64(i)))
			if len(batch) == cap(batch) || i == *n-1 {
				l.Append(batch...)
				batch = batch[:0]
			}
		}
		handler = l
	case "engine":
		h, closeFn, err := engineLog(dir, *store, key, origin, *n, gen)
		if err != nil {
			return err
		}
		defer closeFn()
		handler, prefix = h, "/log"
	default:
		return fmt.Errorf("unknown source %q", *source)
	}
	srv := httptest.NewServer(handler)
	defer srv.Close()
	fmt.Printf("  setup: log of %d entries (%.0f bytes each on average) built in %v\n",
		*n, float64(gen.bytes.Load())/float64(*n), time.Since(start).Round(100*time.Millisecond))

	der, _ := x509.MarshalPKIXPublicKey(pub)
	pubFile := filepath.Join(dir, "log.pub")
	os.WriteFile(pubFile, pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}), 0o644)
	rules := `
identities:
  watch: [{subject: 'release@acme\.example'}]
  allow: [{issuer: 'https://ci\.example'}]`
	if *noRules {
		rules = ""
	}
	cfgYAML := fmt.Sprintf("state: {file: %q}\nscan: {fetchers: %d, parsers: %d}%s\nlogs:\n  - {name: bench, kind: tiles, url: %q, origin: %q, public_key_file: %q}\n",
		filepath.Join(dir, "state.json"), *fetchers, *parsers, rules, srv.URL+prefix, origin, pubFile)
	cfg, err := audit.ParseMonitorConfig([]byte(cfgYAML))
	if err != nil {
		return err
	}
	reg := prometheus.NewRegistry()
	m, err := audit.NewMonitor(context.Background(), cfg, logger, reg)
	if err != nil {
		return err
	}
	defer m.Close()
	if *cpuprofile != "" {
		f, err := os.Create(*cpuprofile)
		if err != nil {
			return err
		}
		pprof.StartCPUProfile(f)
		defer pprof.StopCPUProfile()
	}
	runtime.GC()
	cpu0 := cpuTime()
	start = time.Now()
	if err := m.Poll(context.Background()); err != nil {
		return err
	}
	el := time.Since(start)
	cpu := cpuTime() - cpu0
	checked := counterValue(reg, "hallmark_monitor_certificates_checked_total")
	scanned := counterValue(reg, "hallmark_monitor_entries_scanned_total")
	if int(scanned) != *n {
		return fmt.Errorf("scanned %v entries, want %d", scanned, *n)
	}
	fmt.Printf("  catch-up: %d entries in %v = %.0f entries/s (%.0f certificates checked, %d alerts)\n",
		*n, el.Round(10*time.Millisecond), float64(*n)/el.Seconds(), checked, m.Alerts())
	// CPU time does not depend on what else runs on the machine: it bounds
	// the rate on this many otherwise idle cores.
	fmt.Printf("  cpu: %.1f s user+sys for monitor and server (%.1f µs per entry): %.0f entries/s on %d idle cores\n",
		cpu.Seconds(), float64(cpu.Microseconds())/float64(*n), float64(*n)/cpu.Seconds()*float64(runtime.NumCPU()), runtime.NumCPU())
	if load, err := os.ReadFile("/proc/loadavg"); err == nil {
		fmt.Printf("  load average during the run: %s", load)
	}
	if m.Alerts() != 0 {
		return errors.New("the benchmark log raised alerts")
	}
	return nil
}

func counterValue(reg *prometheus.Registry, name string) float64 {
	mfs, _ := reg.Gather()
	total := 0.0
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			total += m.GetCounter().GetValue()
		}
	}
	return total
}

// entryGenerator makes distinct hashedrekord 0.0.2 entries, cycling through
// a set of certificates (real Fulcio-style certificates; each entry gets
// its own artifact digest, and the certificate's signature bytes).
type entryGenerator struct {
	leaves []*audittest.Leaf
	sigs   [][]byte
	bytes  atomic.Int64
}

func newEntryGenerator(n int) (*entryGenerator, error) {
	ca, err := audittest.NewCA()
	if err != nil {
		return nil, err
	}
	g := &entryGenerator{leaves: make([]*audittest.Leaf, n), sigs: make([][]byte, n)}
	var wg sync.WaitGroup
	errs := make(chan error, 1)
	for w := 0; w < runtime.NumCPU(); w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < n; i += runtime.NumCPU() {
				repo := fmt.Sprintf("team-%d/app", i)
				subject := "https://git.example/" + repo + "/.ci/release.yml@refs/heads/main"
				l, err := ca.Issue(subject, "https://ci.example", audittest.CIExtensions(repo, ".ci/release.yml")...)
				if err == nil {
					d := sha256.Sum256([]byte(subject))
					g.sigs[i], err = l.SignDigest(d[:])
				}
				if err != nil {
					select {
					case errs <- err:
					default:
					}
					return
				}
				g.leaves[i] = l
			}
		}()
	}
	wg.Wait()
	select {
	case err := <-errs:
		return nil, err
	default:
	}
	return g, nil
}

func (g *entryGenerator) entry(i uint64) []byte {
	var d [32]byte
	binary.BigEndian.PutUint64(d[:], i)
	d = sha256.Sum256(d[:])
	c := i % uint64(len(g.leaves))
	e := audittest.HashedRekordV2(g.leaves[c].DER, d[:], g.sigs[c])
	g.bytes.Add(int64(len(e)))
	return e
}

// engineLog fills a rekor-v2 log of hallmark-log's engine and returns the
// service's HTTP handler.
func engineLog(dir, store string, key ed25519.PrivateKey, origin string, n int, gen *entryGenerator) (http.Handler, func(), error) {
	der, _ := x509.MarshalPKCS8PrivateKey(key)
	os.WriteFile(filepath.Join(dir, "key.pem"), pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600)
	db := fmt.Sprintf("sqlite: %q", filepath.Join(dir, "log.db"))
	if store == "postgres" {
		u := firstNonEmpty(os.Getenv("HALLMARK_DATABASE_URL"), os.Getenv("HALLMARK_TEST_DATABASE_URL"))
		if u == "" {
			return nil, nil, errors.New("postgres: set HALLMARK_DATABASE_URL (./scripts/with-postgres.sh starts a throwaway server)")
		}
		db = fmt.Sprintf("url: %q", u)
	}
	name := fmt.Sprintf("bench%d", time.Now().UnixNano())
	cfgYAML := fmt.Sprintf("database: {%s}\nlogs:\n  - {name: %s, kind: tiles, url: 'http://%s', key_file: key.pem, batch: {max_size: 4096, max_pending: 65536}}\n", db, name, origin)
	cfgPath := filepath.Join(dir, "hallmark-log.yaml")
	os.WriteFile(cfgPath, []byte(cfgYAML), 0o600)
	cfg, err := tlog.LoadServiceConfig(cfgPath)
	if err != nil {
		return nil, nil, err
	}
	svc, err := api.NewLogService(context.Background(), cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		return nil, nil, err
	}
	l := svc.Log(name)
	var next atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, 1)
	for w := 0; w < 8192; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := next.Add(1) - 1
				if i >= int64(n) {
					return
				}
				if _, err := l.Append(context.Background(), tlog.Entry{Data: gen.entry(uint64(i))}); err != nil {
					select {
					case errs <- err:
					default:
					}
					return
				}
			}
		}()
	}
	wg.Wait()
	select {
	case err := <-errs:
		svc.Close()
		return nil, nil, err
	default:
	}
	return svc.Handler(), svc.Close, nil
}

// cpuTime is the process's user+sys CPU time.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

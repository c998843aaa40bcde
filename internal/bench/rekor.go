package bench

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net"
	"net/http"
	"net/http/httptest"
	neturl "net/url"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hallmark-dev/hallmark/api"
	"github.com/hallmark-dev/hallmark/tlog"
	"github.com/hallmark-dev/hallmark/tlog/rekorv1"
	"github.com/hallmark-dev/hallmark/tlog/rekorv2"
)

// Rekor measures POST /api/v{1,2}/log/entries under a realistic mix of
// signers (issue 22; docs/BENCHMARKS.md, "Realistic write mix"): entries
// of the kinds --mix names, key-based ones from --keys distinct client
// keys, keyless ones each with a fresh key and a certificate for one of
// --identities identities from an in-process CA (see mixGenerator). The
// clients sign as they go, or with --presign before the clock starts.
//
// The log is a running hallmark-log (--url), or with --inprocess a
// hallmark-log service started in this process on SQLite or PostgreSQL;
// then the closed loop is profiled and the server's CPU per entry is
// reported by component (cpusplit.go), and --fill measures again after
// the log holds that many entries of the same mix.
//
// It runs a closed loop (--concurrency clients, as fast as the log
// answers) and an open loop (--rate entries/s offered; latency counted
// from each request's scheduled start, so a stalled server is not
// hidden), and reports entries/s, latency percentiles and failures by
// HTTP status with the first answer of each.
func Rekor(args []string) error {
	fs := flag.NewFlagSet("rekor", flag.ExitOnError)
	apiVersion := fs.String("api", "v1", "Rekor API: v1 or v2")
	url := fs.String("url", "http://127.0.0.1:3000", "base URL of a running log, plain HTTP (without --inprocess)")
	inprocess := fs.String("inprocess", "", "start hallmark-log in this process with a new log on sqlite or postgres (--database-url, $HALLMARK_DATABASE_URL or $HALLMARK_TEST_DATABASE_URL) instead of using --url")
	dbURL := fs.String("database-url", "", "PostgreSQL URL for --inprocess postgres")
	n := fs.Int("entries", 20000, "entries per measured run")
	conc := fs.Int("concurrency", 256, "closed-loop concurrent clients")
	rate := fs.Int("rate", 1000, "offered rate (entries/s) of the open-loop run; 0 skips it")
	mixFlag := fs.String("mix", "", "entry kinds and their weights, kind=weight,...; kinds: "+strings.Join(kindNames[:], ", ")+
		" (dsse and intoto are keyless; intoto is v1's 0.0.2; default v1 "+defaultMix["v1"]+", v2 "+defaultMix["v2"]+")")
	keys := fs.Int("keys", 512, "distinct client keys of the key-based entries")
	identities := fs.Int("identities", 5000, "distinct keyless identities (2/3 GitHub Actions workflows, 1/3 emails)")
	presign := fs.Bool("presign", false, "sign every request before the clock starts (default: each client signs, and certifies its key, as it goes)")
	fill := fs.Int("fill", 0, "with --inprocess: then fill the log to this many entries with the same mix (canonicalised and appended in process, no HTTP) and measure again")
	cpuprofile := fs.String("cpuprofile", "", "with --inprocess: also write the CPU profile of the closed loop (and of the one after --fill, FILE.fill) to this file")
	fs.Parse(args)
	if *apiVersion != "v1" && *apiVersion != "v2" {
		return errors.New("--api must be v1 or v2")
	}
	if *inprocess == "" && (*fill > 0 || *cpuprofile != "") {
		return errors.New("--fill and --cpuprofile need --inprocess")
	}
	m, err := parseMix(firstNonEmpty(*mixFlag, defaultMix[*apiVersion]), *apiVersion)
	if err != nil {
		return err
	}
	g, err := newMixGenerator(*apiVersion, m, *keys, *identities)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	target := &rekorTarget{}
	if *inprocess != "" {
		if target, err = startRekorLog(ctx, *apiVersion, *inprocess, *dbURL); err != nil {
			return err
		}
		defer target.close()
	} else if target.addr, target.path, err = parseLogURL(*url, *apiVersion); err != nil {
		return err
	}
	p := &poster{addr: target.addr, path: target.path, idle: make(chan *rawConn, 4096)}
	signing := "clients sign as they go"
	if *presign {
		signing = "pre-signed"
	}
	where := "POST http://" + target.addr + target.path
	if *inprocess != "" {
		where = fmt.Sprintf("in-process hallmark-log on %s, %s", *inprocess, where)
	}
	fmt.Printf("hallmark-bench rekor: %s, mix %s, %d keys, %d identities, %s, GOMAXPROCS=%d, cpus=%d %s\n",
		where, m, *keys, *identities, signing, runtime.GOMAXPROCS(0), numCPU(), cpuModel())
	printLoad("at start")

	var seq atomic.Uint64 // entry numbers: every run signs new artifacts
	run := func(what string, count, conc, rate int, profileTo string) (*rekorResult, error) {
		first := seq.Add(uint64(count)) - uint64(count)
		next := func(i uint64) ([]byte, error) { b, _, err := g.body(ctx, first+i); return b, err }
		if *presign {
			bodies, err := g.bodies(ctx, first, count)
			if err != nil {
				return nil, err
			}
			next = func(i uint64) ([]byte, error) { return bodies[i], nil }
		}
		// Connections idle since the last run (a fill, a pre-signing) may
		// have passed the server's idle timeout: start afresh.
		p.closeIdle()
		var r *rekorResult
		refused0 := target.refusals()
		load := func() { r = rekorLoad(p, next, count, conc, rate); r.inProcess = target.svc != nil }
		defer func() { printRefusals(refused0, target.refusals()) }()
		if profileTo == "" || target.svc == nil {
			cpu0 := cpuTime()
			load()
			r.cpu = cpuTime() - cpu0
			r.print(what)
			return r, nil
		}
		var db0 time.Duration
		dbCPU := target.dbCPU
		db0, _ = dbCPU()
		cpu0 := cpuTime()
		prof, err := profileWindow(load)
		r.cpu = cpuTime() - cpu0
		db1, dbOK := dbCPU()
		if err != nil {
			return nil, err
		}
		r.print(what)
		if profileTo != "-" {
			if err := os.WriteFile(profileTo, prof.Bytes(), 0o644); err != nil {
				return nil, err
			}
		}
		split, err := splitProfile(prof)
		if err != nil {
			return nil, err
		}
		extra := map[string]time.Duration{}
		if dbOK {
			extra["PostgreSQL server processes (/proc, not profiled)"] = db1 - db0
		}
		split.print(os.Stdout, r.n, extra)
		return r, nil
	}
	// "-": profile, but keep the profile only for its split.
	profileTo, fillProfileTo := "-", "-"
	if *cpuprofile != "" {
		profileTo, fillProfileTo = *cpuprofile, *cpuprofile+".fill"
	}

	// Warm up: connections, the database's caches, the heap.
	warm := min(*n/10, 2000)
	if _, err := run("warm-up", warm, *conc, 0, ""); err != nil {
		return err
	}
	empty, err := run(fmt.Sprintf("closed loop, %d clients", *conc), *n, *conc, 0, profileTo)
	if err != nil {
		return err
	}
	if *rate > 0 {
		if _, err := run(fmt.Sprintf("open loop at %d/s offered", *rate), min(*n, *rate*20), 0, *rate, ""); err != nil {
			return err
		}
	}
	if *fill > 0 {
		size, err := target.fill(ctx, g, &seq, uint64(*fill))
		if err != nil {
			return err
		}
		at, err := run(fmt.Sprintf("at %d entries, closed loop, %d clients", size, *conc), *n, *conc, 0, fillProfileTo)
		if err != nil {
			return err
		}
		fmt.Printf("throughput at %d entries vs the empty log: %.1f%%\n", size, 100*at.rate()/empty.rate())
		if *rate > 0 {
			if _, err := run(fmt.Sprintf("at %d entries, open loop at %d/s offered", size, *rate), min(*n, *rate*20), 0, *rate, ""); err != nil {
				return err
			}
		}
	}
	printLoad("at end")
	return nil
}

// parseLogURL is the address and entries path of a log's base URL.
func parseLogURL(raw, apiVersion string) (addr, path string, err error) {
	u, err := neturl.Parse(raw)
	if err != nil {
		return "", "", fmt.Errorf("--url: %w", err)
	}
	if u.Scheme != "http" || u.Host == "" {
		return "", "", fmt.Errorf("--url %q: the load generator speaks plain HTTP/1.1 only (http://host:port/...)", raw)
	}
	addr = u.Host
	if u.Port() == "" {
		addr = net.JoinHostPort(u.Hostname(), "80")
	}
	return addr, strings.TrimSuffix(u.Path, "/") + "/api/" + apiVersion + "/log/entries", nil
}

// bodies signs entries first..first+count-1 on every core.
func (g *mixGenerator) bodies(ctx context.Context, first uint64, count int) ([][]byte, error) {
	out := make([][]byte, count)
	var next atomic.Int64
	var wg sync.WaitGroup
	var errOnce sync.Once
	var firstErr error
	for range runtime.GOMAXPROCS(0) {
		wg.Go(func() {
			for i := next.Add(1) - 1; i < int64(count); i = next.Add(1) - 1 {
				b, _, err := g.body(ctx, first+uint64(i))
				if err != nil {
					errOnce.Do(func() { firstErr = err })
					return
				}
				out[i] = b
			}
		})
	}
	wg.Wait()
	return out, firstErr
}

// rekorTarget is the log under test.
type rekorTarget struct {
	addr, path string
	svc        *api.LogService // in process only
	log        *tlog.Log
	apiVersion string
	dbCPU      func() (time.Duration, bool)
	close      func()
}

// startRekorLog starts a hallmark-log service in this process, as
// hallmark-log runs it (admission, limits, timeouts), with one new log.
func startRekorLog(ctx context.Context, apiVersion, store, dbURL string) (*rekorTarget, error) {
	dir, err := os.MkdirTemp("", "hallmark-bench-rekor")
	if err != nil {
		return nil, err
	}
	t := &rekorTarget{apiVersion: apiVersion, dbCPU: func() (time.Duration, bool) { return 0, false }}
	t.close = func() { os.RemoveAll(dir) }
	var db string
	switch store {
	case "sqlite":
		db = fmt.Sprintf("sqlite: %q", filepath.Join(dir, "log.db"))
	case "postgres":
		url := firstNonEmpty(dbURL, os.Getenv("HALLMARK_DATABASE_URL"), os.Getenv("HALLMARK_TEST_DATABASE_URL"))
		if url == "" {
			t.close()
			return nil, errors.New("--inprocess postgres: set --database-url or HALLMARK_DATABASE_URL (scripts/with-postgres.sh starts a throwaway server)")
		}
		db = fmt.Sprintf("url: %q", url)
		t.dbCPU = postgresCPU(ctx, url)
	default:
		t.close()
		return nil, fmt.Errorf("--inprocess must be sqlite or postgres, not %q", store)
	}
	keyType, kind := "ecdsa-p256", "rekor-v1"
	if apiVersion == "v2" {
		keyType, kind = "ed25519", "rekor-v2"
	}
	keyPEM, err := tlog.GenerateKey(keyType)
	if err == nil {
		err = os.WriteFile(filepath.Join(dir, "log.key"), keyPEM, 0o600)
	}
	if err != nil {
		t.close()
		return nil, err
	}
	// A new name each run: a PostgreSQL database may hold earlier runs.
	name := fmt.Sprintf("rekorbench%d", time.Now().UnixNano())
	cfg, err := tlog.ParseServiceConfig(fmt.Appendf(nil, `
listen: {http: "127.0.0.1:0", grpc: "off"}
database: {%s}
logs:
  - {name: %s, kind: %s, url: "http://rekor.bench.example", key_file: %q, rekor: {tree_id: 1}}
`, db, name, kind, filepath.Join(dir, "log.key")))
	if err != nil {
		t.close()
		return nil, err
	}
	svc, err := api.NewLogService(ctx, cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.close()
		return nil, err
	}
	ls, err := api.ListenConfig(cfg.Listen)
	if err != nil {
		svc.Close()
		t.close()
		return nil, err
	}
	sctx, stop := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { defer close(done); svc.Serve(sctx, ls, svc.Handler()) }()
	rm := t.close
	t.close = func() { stop(); <-done; svc.Close(); rm() }
	t.svc, t.log = svc, svc.Log(name)
	t.addr, t.path = ls.HTTP.Addr().String(), "/api/"+apiVersion+"/log/entries"
	return t, nil
}

// refusals are the server's counters of refused or failed work (the
// admission layer's refusals, the queue's pushbacks, errors), by series,
// read from its /metrics; nil when the log is not in process.
func (t *rekorTarget) refusals() map[string]float64 {
	if t.svc == nil {
		return nil
	}
	rec := httptest.NewRecorder()
	t.svc.MetricsHandler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	out := map[string]float64{}
	for line := range strings.Lines(rec.Body.String()) {
		series, value, ok := strings.Cut(strings.TrimSpace(line), " ")
		name, _, _ := strings.Cut(series, "{")
		if !ok || strings.HasPrefix(series, "#") || !strings.HasSuffix(name, "_total") ||
			!containsAny(name, "refused", "rejected", "pushback", "error", "timeout", "failure") {
			continue
		}
		if v, err := strconv.ParseFloat(value, 64); err == nil {
			out[series] = v
		}
	}
	return out
}

func containsAny(s string, subs ...string) bool {
	for _, sub := range subs {
		if strings.Contains(s, sub) {
			return true
		}
	}
	return false
}

// printRefusals prints the counters that grew during a run: why the
// server refused what it refused.
func printRefusals(before, after map[string]float64) {
	for _, series := range slices.Sorted(maps.Keys(after)) {
		if d := after[series] - before[series]; d > 0 {
			fmt.Printf("  server counter %s +%.0f\n", series, d)
		}
	}
}

// progress prints line() every 10 seconds until the returned stop is
// called.
func progress(line func() string) (stop func()) {
	done := make(chan struct{})
	go func() {
		tick := time.NewTicker(10 * time.Second)
		defer tick.Stop()
		for {
			select {
			case <-done:
				return
			case <-tick.C:
				fmt.Printf("  %s\n", line())
			}
		}
	}()
	return func() { close(done) }
}

func sinceRounded(t time.Time) time.Duration { return time.Since(t).Round(100 * time.Millisecond) }

// canonicalEntry is what the API appends for a request body.
func canonicalEntry(apiVersion string, body []byte) (tlog.Entry, error) {
	if apiVersion == "v1" {
		e, err := rekorv1.Canonicalize(body, rekorv1.DefaultOptions())
		if err != nil {
			return tlog.Entry{}, err
		}
		return tlog.Entry{Data: e.Canonical, LeafHash: e.LeafHash(), SearchKeys: e.IndexKeys}, nil
	}
	req, err := rekorv2.ParseCreateEntryJSON(body)
	if err != nil {
		return tlog.Entry{}, err
	}
	e, err := rekorv2.Canonicalize(req, rekorv2.DefaultOptions())
	if err != nil {
		return tlog.Entry{}, err
	}
	return tlog.Entry{Data: e.Canonical, LeafHash: e.LeafHash(), SearchKeys: e.IndexKeys()}, nil
}

// rekorResult is a run's latencies and its failures by HTTP status.
type rekorResult struct {
	result
	cpu       time.Duration // this process's CPU over the run
	inProcess bool
	status    map[int]int    // answers other than 201
	firstBody map[int]string // the first body of each
	transport map[string]int // failures without an answer, by error
}

func (r *rekorResult) print(what string) {
	r.result.print(what)
	fmt.Printf("  this process's CPU (load generator%s): %.0f µs per entry\n", map[bool]string{true: " and server", false: ""}[r.inProcess],
		float64(r.cpu.Microseconds())/float64(max(r.n, 1)))
	for _, c := range slices.Sorted(maps.Keys(r.status)) {
		fmt.Printf("  failed: %d × HTTP %d, first: %s\n", r.status[c], c, r.firstBody[c])
	}
	for e, k := range r.transport {
		fmt.Printf("  failed: %d × %s\n", k, e)
	}
}

// rekorLoad sends count entries (next(i) is entry i's body) through p:
// from conc closed-loop clients, or when rate > 0 on an open-loop
// schedule of rate per second, latency then counted from each entry's
// scheduled start. The load generator runs under the client profiler
// label.
func rekorLoad(p *poster, next func(uint64) ([]byte, error), count, conc, rate int) *rekorResult {
	r := &rekorResult{result: result{lat: make([]time.Duration, 0, count)},
		status: map[int]int{}, firstBody: map[int]string{}, transport: map[string]int{}}
	var mu sync.Mutex
	one := func(i uint64, start time.Time) {
		body, err := next(i)
		status, answer := 0, []byte(nil)
		if err == nil {
			status, answer, err = p.post(body)
		}
		d := time.Since(start)
		mu.Lock()
		defer mu.Unlock()
		switch {
		case err != nil:
			r.errors++
			r.transport[err.Error()]++
		case status != http.StatusCreated:
			r.errors++
			if r.status[status]++; r.status[status] == 1 {
				r.firstBody[status] = strings.TrimSpace(string(answer[:min(len(answer), 300)]))
			}
		default:
			r.lat = append(r.lat, d)
		}
	}
	start := time.Now()
	asClient(func() {
		var wg sync.WaitGroup
		if rate == 0 {
			var n atomic.Int64
			for range conc {
				wg.Go(func() {
					for i := n.Add(1) - 1; i < int64(count); i = n.Add(1) - 1 {
						one(uint64(i), time.Now())
					}
				})
			}
		} else {
			interval := time.Second / time.Duration(rate)
			for i := range count {
				at := start.Add(time.Duration(i) * interval)
				time.Sleep(time.Until(at))
				wg.Go(func() { one(uint64(i), at) })
			}
		}
		wg.Wait()
	})
	r.elapsed = time.Since(start)
	r.n = len(r.lat)
	return r
}

// poster POSTs JSON bodies over a pool of keep-alive HTTP/1.1
// connections, written by hand and read with net/http, like wrk: it
// costs a fraction of net/http's client, leaving the CPU to the server.
type poster struct {
	addr, path string
	idle       chan *rawConn
}

func (p *poster) closeIdle() {
	for {
		select {
		case rc := <-p.idle:
			rc.c.Close()
		default:
			return
		}
	}
}

func (p *poster) post(body []byte) (status int, answer []byte, err error) {
	var rc *rawConn
	conn := "a kept-alive connection"
	select {
	case rc = <-p.idle:
	default:
		c, err := net.Dial("tcp", p.addr)
		if err != nil {
			return 0, nil, fmt.Errorf("connect: %w", plainNetError(err))
		}
		rc = &rawConn{c: c, br: bufio.NewReaderSize(c, 16<<10)}
		conn = "a new connection"
	}
	req := fmt.Appendf(make([]byte, 0, 160+len(body)), "POST %s HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n",
		p.path, p.addr, len(body))
	if _, err := rc.c.Write(append(req, body...)); err != nil {
		rc.c.Close()
		return 0, nil, fmt.Errorf("send the request on %s: %w", conn, plainNetError(err))
	}
	resp, err := http.ReadResponse(rc.br, nil)
	if err != nil {
		rc.c.Close()
		return 0, nil, fmt.Errorf("read the answer's head on %s: %w", conn, plainNetError(err))
	}
	answer, err = io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil || resp.Close {
		rc.c.Close()
	} else {
		select {
		case p.idle <- rc:
		default:
			rc.c.Close()
		}
	}
	if err != nil {
		return 0, nil, fmt.Errorf("read the answer's body (HTTP %d) on %s: %w", resp.StatusCode, conn, plainNetError(err))
	}
	return resp.StatusCode, answer, nil
}

// plainNetError drops the addresses from a network error, so that
// failures group by cause.
func plainNetError(err error) error {
	var op *net.OpError
	if errors.As(err, &op) {
		return op.Err
	}
	return err
}

// drive sends every body once through send, either from conc closed-loop
// clients or, when rate > 0, on an open-loop schedule of rate per second,
// and records the latency of each successful send.
func drive(bodies [][]byte, conc, rate int, send func([]byte) bool) *result {
	res := &result{lat: make([]time.Duration, 0, len(bodies))}
	var mu sync.Mutex
	one := func(body []byte) {
		start := time.Now()
		ok := send(body)
		d := time.Since(start)
		mu.Lock()
		defer mu.Unlock()
		if !ok {
			res.errors++
			return
		}
		res.lat = append(res.lat, d)
	}
	start := time.Now()
	var wg sync.WaitGroup
	if rate == 0 {
		var next atomic.Int64
		for w := 0; w < conc; w++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := next.Add(1) - 1; i < int64(len(bodies)); i = next.Add(1) - 1 {
					one(bodies[i])
				}
			}()
		}
	} else {
		interval := time.Second / time.Duration(rate)
		for i, b := range bodies {
			if d := time.Until(start.Add(time.Duration(i) * interval)); d > 0 {
				time.Sleep(d)
			}
			wg.Add(1)
			go func() { defer wg.Done(); one(b) }()
		}
	}
	wg.Wait()
	res.elapsed = time.Since(start)
	res.n = len(res.lat)
	return res
}

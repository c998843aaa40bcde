package bench

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	mrand "math/rand/v2"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"time"

	"github.com/hallmark-dev/hallmark/api"
	"github.com/hallmark-dev/hallmark/tlog"
	"github.com/hallmark-dev/hallmark/tlog/adopt"
	"github.com/hallmark-dev/hallmark/tlog/format"
	"github.com/hallmark-dev/hallmark/tlog/rekorv1"
)

// Console measures the auditor console's pages on a big Rekor v1
// log: it fills a log with Rekor-shaped entries (the importer of `bench
// import`: keyless and key-signed hashedrekord entries with their search
// keys), serves it with hallmark-log's handler on loopback, and times the
// requests each page makes, in the order the browser makes them. The
// browser's own work (hashing, one signature, a proof of ~20 hashes) is
// not included: it takes a few milliseconds.
func Console(args []string) error {
	fs := flag.NewFlagSet("console", flag.ExitOnError)
	store := benchStoreFlags(fs, "postgres", "store to fill and serve")
	n := fs.Int("entries", 1_000_000, "entries in the log")
	loads := fs.Int("loads", 200, "page loads measured per page")
	fs.Parse(args)
	if *n <= 0 || *loads <= 0 {
		return errors.New("console: --entries and --loads must be positive")
	}
	ctx := context.Background()
	dir, err := os.MkdirTemp("", "hallmark-bench-console")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	if *store.kind == "sqlite" && *store.dir == "" {
		*store.dir = dir
	}
	s, cleanup, err := store.open(ctx)
	if err != nil {
		return err
	}
	keyPEM, err := tlog.GenerateKey("ecdsa-p256")
	if err != nil {
		return err
	}
	keyFile := filepath.Join(dir, "rekor.pem")
	if err := os.WriteFile(keyFile, keyPEM, 0o600); err != nil {
		return err
	}
	key, err := tlog.ParsePrivateKey(keyPEM)
	if err != nil {
		return err
	}
	const hostname = "rekor.bench.example"
	name := fmt.Sprintf("console-bench-%d", time.Now().UnixNano())
	signer, err := format.NewNoteSigner(hostname, key)
	if err != nil {
		return err
	}
	fmt.Printf("hallmark-bench console: store=%s entries=%d loads=%d cpus=%d %s\n", *store.kind, *n, *loads, runtime.NumCPU(), cpuModel())
	start := time.Now()
	l, err := tlog.Open(ctx, s, tlog.Config{Name: name, Origin: hostname + " - 1", Signer: signer,
		Index: s, History: s, Importer: s})
	if err != nil {
		return err
	}
	src, err := newRekorSource(*n, 10, 4096)
	if err != nil {
		return err
	}
	im := &adopt.Importer{Log: l, Store: s, Source: src, IndexKeys: rekorv1.IndexKeysFromCanonical,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}
	if _, err := im.Run(ctx); err != nil {
		return err
	}
	l.Close()
	cleanup()
	fmt.Printf("  filled in %v\n", time.Since(start).Round(time.Second))

	db := fmt.Sprintf("url: %q", store.postgresURL())
	if *store.kind == "sqlite" {
		db = fmt.Sprintf("sqlite: %q", filepath.Join(*store.dir, "bench.db"))
	}
	cfg, err := tlog.ParseServiceConfig(fmt.Appendf(nil, `
database: {%s}
logs:
  - {name: %s, kind: rekor-v1, url: "http://%s", key_file: %q, rekor: {tree_id: 1}}
`, db, name, hostname, keyFile))
	if err != nil {
		return err
	}
	svc, err := api.NewLogService(ctx, cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		return err
	}
	defer svc.Close()
	srv := httptest.NewServer(svc.Handler())
	defer srv.Close()

	get := func(path string) error {
		resp, err := http.Get(srv.URL + path)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("GET %s: %s %s", path, resp.Status, body)
		}
		return nil
	}
	r := mrand.New(mrand.NewPCG(3, 4))
	c := api.ConsolePath + "api/"
	size := uint64(*n)
	pages := []struct {
		name  string
		paths func() []string
	}{
		{"entry page (entry, checkpoint, inclusion proof)", func() []string {
			i := r.Uint64N(size)
			return []string{fmt.Sprintf("%sentry?log=%s&index=%d", c, name, i), "/checkpoint",
				fmt.Sprintf("/proof/inclusion?index=%d&tree_size=%d", i, size)}
		}},
		{"search page, artifact hash (1 result)", func() []string {
			d := sha256.Sum256(fmt.Appendf(nil, "artifact %d", r.IntN(*n)))
			return []string{c + "search?details=1&q=sha256:" + hex.EncodeToString(d[:])}
		}},
		{"search page, email (~244 results, 25 decoded)", func() []string {
			k := 1 + 3*r.IntN(4096/3) // keyless signers: i % 3 != 0
			return []string{c + "search?details=1&q=" + url.QueryEscape(fmt.Sprintf("dev%d@example.com", k))}
		}},
		{"search page, log index", func() []string {
			return []string{fmt.Sprintf("%ssearch?details=1&q=%d", c, r.Uint64N(size))}
		}},
	}
	fmt.Printf("  %-50s %9s %9s %9s %9s\n", "page (server time of its requests)", "p50", "p95", "p99", "max")
	for _, p := range pages {
		d := make([]time.Duration, 0, *loads)
		for range *loads {
			t0 := time.Now()
			for _, path := range p.paths() {
				if err := get(path); err != nil {
					return err
				}
			}
			d = append(d, time.Since(t0))
		}
		slices.Sort(d)
		q := func(f float64) string {
			return d[min(len(d)-1, int(f*float64(len(d))))].Round(10 * time.Microsecond).String()
		}
		fmt.Printf("  %-50s %9s %9s %9s %9s\n", p.name, q(0.50), q(0.95), q(0.99), d[len(d)-1].Round(10*time.Microsecond))
	}
	return nil
}

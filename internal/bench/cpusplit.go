package bench

// The server's CPU per entry by component, from a CPU profile of an
// in-process run (hallmark-bench rekor --inprocess).

import (
	"bytes"
	"cmp"
	"context"
	"fmt"
	"io"
	"maps"
	"runtime/pprof"
	"slices"
	"strings"
	"time"

	"github.com/google/pprof/profile"
)

// The load generator's goroutines carry this profiler label, and so do
// the goroutines they start: every other sample is the server's.
const sideLabel, clientSide = "side", "client"

// asClient runs f with the client profiler label.
func asClient(f func()) {
	pprof.Do(context.Background(), pprof.Labels(sideLabel, clientSide), func(context.Context) { f() })
}

// The components of the server's CPU time. A sample belongs to the first
// frame, from the leaf up, whose package is not neutral (the runtime,
// sync, strings, bytes, reflection, encoding/base64 and the like are
// neutral: their time is their caller's). Cryptography is "verification"
// when an entry-type package (tlog/rekorv1, tlog/rekorv2) or crypto/x509
// called it, else it is the log's own signing and hashing (checkpoint
// signatures, Rekor v1's SET, Merkle hashing). A sample with only neutral
// frames is the runtime's (GC workers, the scheduler, idle syscalls).
const (
	bucketHTTP      = "HTTP/JSON (net/http, encoding/json, protojson)"
	bucketVerify    = "verification (crypto, x509: signatures, certificates)"
	bucketCanon     = "canonical form (tlog/rekorv1, tlog/rekorv2, jcs)"
	bucketPG        = "PostgreSQL client (pgx, PGStore: commit, search keys)"
	bucketSQLite    = "SQLite (modernc, SQLiteStore: commit, search keys)"
	bucketSign      = "log signing and hashing (checkpoint, SET, Merkle)"
	bucketEngine    = "log engine and API (tlog batching, shards, api)"
	bucketRuntime   = "runtime (GC, scheduler)"
	bucketOther     = "other"
	bucketClient    = "load generator (signing, issuing, client HTTP)"
	hallmarkPackage = "github.com/hallmark-dev/hallmark/"
)

var bucketOrder = []string{bucketHTTP, bucketVerify, bucketCanon, bucketPG, bucketSQLite, bucketSign, bucketEngine, bucketRuntime, bucketOther}

// cpuSplit is CPU time by bucket.
type cpuSplit struct {
	server map[string]time.Duration
	client time.Duration
	other  map[string]time.Duration // by the function that put a sample in "other"
}

// splitProfile reads a CPU profile (as runtime/pprof writes it).
func splitProfile(r io.Reader) (*cpuSplit, error) {
	p, err := profile.Parse(r)
	if err != nil {
		return nil, fmt.Errorf("couldn't parse the CPU profile: %w", err)
	}
	vi := -1
	for i, st := range p.SampleType {
		if st.Type == "cpu" && st.Unit == "nanoseconds" {
			vi = i
		}
	}
	if vi < 0 {
		return nil, fmt.Errorf("the profile has no cpu/nanoseconds samples")
	}
	out := &cpuSplit{server: map[string]time.Duration{}, other: map[string]time.Duration{}}
	for _, s := range p.Sample {
		d := time.Duration(s.Value[vi])
		if slices.Contains(s.Label[sideLabel], clientSide) {
			out.client += d
			continue
		}
		var stack []string // leaf first
		for _, loc := range s.Location {
			for _, l := range loc.Line { // innermost inlined function first
				if l.Function != nil {
					stack = append(stack, l.Function.Name)
				}
			}
		}
		b, fn := classify(stack)
		out.server[b] += d
		if b == bucketOther {
			out.other[fn] += d
		}
	}
	return out, nil
}

// classify is the bucket of one sample's stack, leaf first, and the
// function that decided it.
func classify(stack []string) (bucket, fn string) {
	for i, fn := range stack {
		switch owner(fn) {
		case "":
			continue
		case "crypto":
			for _, caller := range stack[i+1:] {
				if o := owner(caller); o == bucketCanon || strings.HasPrefix(caller, "crypto/x509.") {
					return bucketVerify, fn
				}
			}
			return bucketSign, fn
		default:
			return owner(fn), fn
		}
	}
	return bucketRuntime, ""
}

// owner is the bucket of a function by its package, "crypto" for
// cryptography (refined by classify), "" for neutral packages.
func owner(fn string) string {
	has := func(prefixes ...string) bool {
		for _, p := range prefixes {
			if strings.HasPrefix(fn, p) {
				return true
			}
		}
		return false
	}
	switch {
	case !strings.Contains(fn, "."):
		// Assembly without a package (p256MulInternal, indexbytebody):
		// its caller's.
		return ""
	case has("crypto/", "golang.org/x/crypto/", "vendor/golang.org/x/crypto/", "math/big.", "encoding/asn1."):
		return "crypto"
	case has("encoding/json", "google.golang.org/protobuf/", "net/http", "net/textproto", "net/url", "mime", "vendor/golang.org/x/net/http"):
		return bucketHTTP
	case has("github.com/jackc/"):
		return bucketPG
	case has("modernc.org/", "database/sql"):
		return bucketSQLite
	case has("github.com/gowebpki/jcs"):
		return bucketCanon
	case has("github.com/transparency-dev/", "golang.org/x/mod/sumdb"):
		return bucketSign
	case has(hallmarkPackage):
		name := strings.TrimPrefix(fn, hallmarkPackage)
		switch {
		case strings.HasPrefix(name, "tlog/rekorv1/shards"):
			return bucketEngine
		case has(hallmarkPackage+"tlog/rekorv1", hallmarkPackage+"tlog/rekorv2"):
			return bucketCanon
		case strings.Contains(name, "PGStore") || strings.Contains(name, "pgTx") || strings.HasPrefix(name, "tlog.searchHash"):
			return bucketPG
		case strings.Contains(name, "SQLiteStore") || strings.Contains(name, "sqlite"):
			return bucketSQLite
		case strings.HasPrefix(name, "tlog/format"):
			return bucketSign
		}
		return bucketEngine
	case has("runtime", "internal/", "sync", "bytes.", "strings.", "strconv.", "unicode", "reflect.", "sort.", "slices.",
		"maps.", "math", "fmt.", "io.", "errors.", "context.", "time.", "encoding/base64", "encoding/hex", "encoding/pem",
		"encoding/binary", "hash", "iter.", "regexp", "unique.", "weak.", "net.", "os.", "syscall.", "bufio."):
		// Sockets, files and buffers are their caller's: net/http's or
		// pgx's connection, SQLite's file.
		return ""
	}
	return bucketOther
}

// print writes the server's split per entry, and the client's.
func (c *cpuSplit) print(w io.Writer, entries int, extra map[string]time.Duration) {
	var total time.Duration
	for _, d := range c.server {
		total += d
	}
	for _, d := range extra {
		total += d
	}
	per := func(d time.Duration) float64 { return float64(d.Microseconds()) / float64(max(entries, 1)) }
	fmt.Fprintf(w, "  server CPU per entry, from a CPU profile of the closed loop (%d entries): %.0f µs\n", entries, per(total))
	row := func(name string, d time.Duration) {
		fmt.Fprintf(w, "    %-60s %7.1f µs %5.1f%%\n", name, per(d), 100*float64(d)/float64(max(total, 1)))
	}
	for _, b := range bucketOrder {
		if d := c.server[b]; d > 0 {
			row(b, d)
		}
	}
	for name, d := range extra {
		row(name, d)
	}
	if len(c.other) > 0 {
		fns := slices.SortedFunc(maps.Keys(c.other), func(a, b string) int { return cmp.Compare(c.other[b], c.other[a]) })
		for i, fn := range fns[:min(len(fns), 3)] {
			fns[i] = fmt.Sprintf("%s %.1f µs", fn, per(c.other[fn]))
		}
		fmt.Fprintf(w, "    (most of other: %s)\n", strings.Join(fns[:min(len(fns), 3)], ", "))
	}
	fmt.Fprintf(w, "    (%s: %.1f µs per entry, not counted above)\n", bucketClient, per(c.client))
}

// profileWindow profiles the CPU while f runs and returns the profile.
func profileWindow(f func()) (*bytes.Buffer, error) {
	var buf bytes.Buffer
	if err := pprof.StartCPUProfile(&buf); err != nil {
		return nil, fmt.Errorf("couldn't start the CPU profile: %w", err)
	}
	f()
	pprof.StopCPUProfile()
	return &buf, nil
}

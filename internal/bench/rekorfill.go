package bench

// Filling a log with the realistic mix fast enough to reach 1,000,000
// entries on a shared 2-core machine: signing, certifying and verifying
// every filled entry costs ~1 ms of CPU, so --fill appends entries made
// from templates instead.

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hallmark-dev/hallmark/tlog"
)

// fillTemplate is one signer's canonical entry, accepted by the entry
// type layer as the API accepts it, and what changes from one of the
// signer's entries to the next: the strings that name the artifact (its
// digest and, for attestations, the statement's hash, in hex and base64)
// and the search keys that differ between two real entries of the signer
// (artifact, statement, envelope, and for keyless signers the fresh
// certificate's fingerprint). Keys the two share (the long-lived key's
// fingerprint, the identity) stay shared, so the search index grows as
// with real traffic: by identities and keys, not only by entries.
type fillTemplate struct {
	data     []byte
	vary     []string // substrings of data (and keys) unique to an entry
	shared   []string // search keys common to the signer's entries
	perEntry []string // search keys unique to an entry
}

// newFillTemplate makes template j (of the entries first+j) from two real
// entries of the same signer, artifacts first+j and first+j+offset.
func newFillTemplate(ctx context.Context, g *mixGenerator, apiVersion string, i, offset uint64) (*fillTemplate, error) {
	k, key, id := g.pick(i)
	var entries [2]tlog.Entry
	for n, seq := range []uint64{i, i + offset} {
		body, err := g.bodyFor(ctx, k, key, id, seq)
		if err != nil {
			return nil, err
		}
		if entries[n], err = canonicalEntry(apiVersion, body); err != nil {
			return nil, fmt.Errorf("%s entry %d not accepted: %w", k, seq, err)
		}
	}
	t := &fillTemplate{data: entries[0].Data}
	digest, payloadHash := g.artifact(k, id, i)
	for _, b := range [][]byte{digest, payloadHash} {
		for _, s := range []string{hex.EncodeToString(b), base64.StdEncoding.EncodeToString(b)} {
			if len(b) > 0 && bytes.Contains(t.data, []byte(s)) {
				t.vary = append(t.vary, s)
			}
		}
	}
	if len(t.vary) == 0 {
		return nil, fmt.Errorf("%s entry %d: the canonical entry names neither the artifact's digest nor the statement's hash", k, i)
	}
	for _, key := range entries[0].SearchKeys {
		if slices.Contains(entries[1].SearchKeys, key) {
			t.shared = append(t.shared, key)
		} else {
			t.perEntry = append(t.perEntry, key)
		}
	}
	return t, nil
}

// entry is the template's n-th filled entry: every varying string
// replaced by one derived from it and n (same encoding, same length).
func (t *fillTemplate) entry(n uint64) tlog.Entry {
	derive := func(s string) string {
		h := sha256.Sum256(fmt.Appendf(nil, "%s/%d", s, n))
		if _, err := hex.DecodeString(s); err == nil {
			return hex.EncodeToString(h[:])[:len(s)]
		}
		return base64.StdEncoding.EncodeToString(h[:])[:len(s)]
	}
	data := t.data
	pairs := make([]string, 0, 2*len(t.vary))
	for _, v := range t.vary {
		d := derive(v)
		data = bytes.ReplaceAll(data, []byte(v), []byte(d))
		pairs = append(pairs, strings.ToLower(v), strings.ToLower(d))
	}
	r := strings.NewReplacer(pairs...)
	keys := slices.Clone(t.shared)
	for _, k := range t.perEntry {
		if nk := r.Replace(k); nk != k {
			keys = append(keys, nk)
			continue
		}
		// A key of the entry's own (an envelope's hash, a fresh
		// certificate's fingerprint): another of the same shape.
		prefix, rest := "", k
		if i := strings.LastIndexByte(k, ':'); i >= 0 {
			prefix, rest = k[:i+1], k[i+1:]
		}
		keys = append(keys, prefix+strings.ToLower(derive(rest)))
	}
	return tlog.Entry{Data: data, SearchKeys: keys}
}

// fill appends entries of the mix straight to the log, without HTTP,
// until it holds size entries, and returns its size. The entries come
// from one template per signer drawn (fillTemplate): as many distinct
// keys and identities, entry kinds and sizes, and search keys per entry
// as real traffic, at a fraction of the CPU. Their signatures do not
// verify (the log never verifies stored entries again); the entries the
// benchmark then measures are real.
func (t *rekorTarget) fill(ctx context.Context, g *mixGenerator, seq *atomic.Uint64, size uint64) (uint64, error) {
	cp, err := t.log.Checkpoint(ctx)
	if err != nil {
		return 0, err
	}
	if cp.Size >= size {
		return cp.Size, nil
	}
	need := size - cp.Size
	// Enough templates for every key and identity to sign some entries.
	nt := min(need, uint64(2*(len(g.keys)+len(g.ids))))
	first := seq.Add(2*nt) - 2*nt
	start := time.Now()
	templates := make([]*fillTemplate, nt)
	if err := parallel(int(nt), runtime.GOMAXPROCS(0), func(j int) (err error) {
		templates[j], err = newFillTemplate(ctx, g, t.apiVersion, first+uint64(j), nt)
		return err
	}); err != nil {
		return 0, fmt.Errorf("fill: %w", err)
	}
	fmt.Printf("  fill: %d templates made in %v\n", nt, sinceRounded(start))
	var done atomic.Uint64
	stop := progress(func() string {
		d := done.Load()
		return fmt.Sprintf("filling to %d: %d/%d appended (%.0f/s)", size, d, need, float64(d)/time.Since(start).Seconds())
	})
	// Enough appenders to fill the engine's batches.
	err = parallel(int(need), 1024, func(i int) error {
		_, err := t.log.Append(ctx, templates[uint64(i)%nt].entry(first+uint64(i)))
		done.Add(1)
		return err
	})
	stop()
	if err != nil {
		return 0, fmt.Errorf("fill: %w", err)
	}
	if cp, err = t.log.Checkpoint(ctx); err != nil {
		return 0, err
	}
	fmt.Printf("  filled to %d entries in %v\n", cp.Size, sinceRounded(start))
	return cp.Size, nil
}

// parallel calls f(0..n-1) from workers goroutines and returns the first
// error (the others stop taking work).
func parallel(n, workers int, f func(int) error) error {
	var next atomic.Int64
	var failed atomic.Bool
	var once sync.Once
	var first error
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for i := next.Add(1) - 1; i < int64(n) && !failed.Load(); i = next.Add(1) - 1 {
				if err := f(int(i)); err != nil {
					once.Do(func() { first = err })
					failed.Store(true)
				}
			}
		})
	}
	wg.Wait()
	return first
}

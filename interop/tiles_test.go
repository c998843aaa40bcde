package interop

import (
	"bytes"
	"context"
	"fmt"
	"net/url"
	"os"
	"sync"
	"testing"

	"github.com/transparency-dev/formats/log"
	"github.com/transparency-dev/merkle/proof"
	"github.com/transparency-dev/merkle/rfc6962"
	"github.com/transparency-dev/tessera/client"

	"github.com/hallmark-dev/hallmark/internal/pgtest"
)

// stores runs f with a SQLite-backed and a PostgreSQL-backed server.
func stores(t *testing.T, f func(t *testing.T, dbURL string)) {
	t.Run("sqlite", func(t *testing.T) { f(t, "") })
	t.Run("postgres", func(t *testing.T) { f(t, pgtest.URL(t)) })
}

func appendMany(t *testing.T, base string, from, n int) map[string]*appendResponse {
	t.Helper()
	var mu sync.Mutex
	out := map[string]*appendResponse{}
	var wg sync.WaitGroup
	sem := make(chan struct{}, 64)
	for i := from; i < from+n; i++ {
		wg.Add(1)
		sem <- struct{}{}
		go func(i int) {
			defer wg.Done()
			defer func() { <-sem }()
			data := fmt.Appendf(nil, "interop entry %d %s", i, bytes.Repeat([]byte{'.'}, i%500))
			r, err := appendEntry(context.Background(), base, data)
			if err != nil {
				t.Error(err)
				return
			}
			mu.Lock()
			out[string(data)] = r
			mu.Unlock()
		}(i)
	}
	wg.Wait()
	return out
}

// TestTesseraClientReadsLog appends entries over HTTP, then reads the log
// the way a monitor does, with tessera's client: checkpoint, tiles, entry
// bundles, inclusion of every entry, consistency between checkpoints.
func TestTesseraClientReadsLog(t *testing.T) {
	stores(t, func(t *testing.T, dbURL string) {
		p := startTilesLog(t, dbURL, "max_age: 20ms")
		ctx := context.Background()
		u, _ := url.Parse(p.BaseURL + "/")
		f, err := client.NewHTTPFetcher(u, nil)
		if err != nil {
			t.Fatal(err)
		}
		acks := appendMany(t, p.BaseURL, 0, 300)
		cp1, _, _, err := client.FetchCheckpoint(ctx, f.ReadCheckpoint, p.Verifier, p.Origin)
		if err != nil {
			t.Fatal(err)
		}
		for k, v := range appendMany(t, p.BaseURL, 300, 600) {
			acks[k] = v
		}
		cp2, _, _, err := client.FetchCheckpoint(ctx, f.ReadCheckpoint, p.Verifier, p.Origin)
		if err != nil {
			t.Fatal(err)
		}
		if cp1.Size != 300 || cp2.Size != 900 {
			t.Fatalf("checkpoint sizes %d, %d; want 300, 900", cp1.Size, cp2.Size)
		}

		// Every acknowledged entry: its own proof verifies against its own
		// checkpoint, and the entry is where the log says it is.
		pb, err := client.NewProofBuilder(ctx, cp2.Size, f.ReadTile)
		if err != nil {
			t.Fatal(err)
		}
		for data, ack := range acks {
			ackCP, _, _, err := log.ParseCheckpoint([]byte(ack.Checkpoint), p.Origin, p.Verifier)
			if err != nil {
				t.Fatalf("append response checkpoint: %v", err)
			}
			leaf := rfc6962.DefaultHasher.HashLeaf([]byte(data))
			if err := proof.VerifyInclusion(rfc6962.DefaultHasher, ack.Index, ackCP.Size, leaf, ack.InclusionProof, ackCP.Hash); err != nil {
				t.Fatalf("append response proof for %d: %v", ack.Index, err)
			}
			bundle, err := client.GetEntryBundle(ctx, f.ReadEntryBundle, ack.Index/256, cp2.Size)
			if err != nil {
				t.Fatal(err)
			}
			if got := bundle.Entries[ack.Index%256]; !bytes.Equal(got, []byte(data)) {
				t.Fatalf("entry %d: bundle has %q", ack.Index, got)
			}
			ip, err := pb.InclusionProof(ctx, ack.Index)
			if err != nil {
				t.Fatal(err)
			}
			if err := proof.VerifyInclusion(rfc6962.DefaultHasher, ack.Index, cp2.Size, leaf, ip, cp2.Hash); err != nil {
				t.Fatalf("tile-built proof for %d: %v", ack.Index, err)
			}
		}
		cons, err := pb.ConsistencyProof(ctx, cp1.Size, cp2.Size)
		if err != nil {
			t.Fatal(err)
		}
		if err := proof.VerifyConsistency(rfc6962.DefaultHasher, cp1.Size, cp2.Size, cons, cp1.Hash, cp2.Hash); err != nil {
			t.Fatalf("consistency %d→%d: %v", cp1.Size, cp2.Size, err)
		}
		// The log state tracker, as monitors use it, follows the log.
		lst, err := client.NewLogStateTracker(ctx, f.ReadTile, nil, p.Verifier, p.Origin, client.UnilateralConsensus(f.ReadCheckpoint))
		if err != nil {
			t.Fatal(err)
		}
		appendMany(t, p.BaseURL, 900, 50)
		if _, _, _, err := lst.Update(ctx); err != nil {
			t.Fatalf("state tracker update: %v", err)
		}
		if got := lst.Latest().Size; got != 950 {
			t.Fatalf("tracker at %d, want 950", got)
		}
	})
}

// pgURLOrSQLite returns a fresh PostgreSQL database URL when one is
// configured (always in CI), else "" for SQLite.
func pgURLOrSQLite(t *testing.T) string {
	if os.Getenv("HALLMARK_TEST_DATABASE_URL") == "" && os.Getenv("CI") != "true" {
		return ""
	}
	return pgtest.URL(t)
}

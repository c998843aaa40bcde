package interop

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/transparency-dev/merkle/proof"
	"github.com/transparency-dev/merkle/rfc6962"
	"github.com/transparency-dev/tessera/client"
)

// TestReadOnlyReplicaOnStandby clones a primary that a hallmark-log writes
// to into a streaming standby with pg_basebackup, points a read-only
// hallmark-log at the standby, keeps writing to the primary, and checks
// that the read-only replica follows and serves the same checkpoint,
// tiles, entries and proofs as the primary's replica, and that tessera's
// client verifies its proofs. Writes to it are refused, and hallmark fsck
// passes on the standby.
func TestReadOnlyReplicaOnStandby(t *testing.T) {
	primary := newPrimary(t)
	primary.psql("postgres", "CREATE DATABASE hallmark")
	h := newHALog(t)
	rw := h.addReplica(primary.url("hallmark"), "")
	appendMany(t, rw.BaseURL, 0, 600)

	standby := newStandby(t, primary)
	if got := standby.psql("postgres", "SELECT pg_is_in_recovery()"); strings.TrimSpace(got) != "t" {
		t.Fatalf("the clone is not a standby: pg_is_in_recovery = %q", got)
	}
	ro := h.addReplica(standby.url("hallmark"), "read_only: true")

	// Writes go on while the replica serves: it must follow.
	acks := appendMany(t, rw.BaseURL, 600, 900)
	ctx := context.Background()
	fetcher := func(base string) *client.HTTPFetcher {
		u, _ := url.Parse(base + "/")
		f, _ := client.NewHTTPFetcher(u, nil)
		return f
	}
	fp, fr := fetcher(rw.BaseURL), fetcher(ro.BaseURL)
	want, wantRaw, _, err := client.FetchCheckpoint(ctx, fp.ReadCheckpoint, h.verifier, h.origin)
	if err != nil {
		t.Fatal(err)
	}
	if want.Size != 1500 {
		t.Fatalf("primary tree size %d, want 1500", want.Size)
	}
	start := time.Now()
	for {
		got, gotRaw, _, err := client.FetchCheckpoint(ctx, fr.ReadCheckpoint, h.verifier, h.origin)
		if err != nil {
			t.Fatal(err)
		}
		if got.Size == want.Size {
			if !bytes.Equal(gotRaw, wantRaw) {
				t.Fatalf("same size, different checkpoints:\n%s\n%s", gotRaw, wantRaw)
			}
			break
		}
		if time.Since(start) > 30*time.Second {
			t.Fatalf("the read-only replica is stuck at size %d, the primary is at %d", got.Size, want.Size)
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Logf("read-only replica on the standby caught up with size %d in %s", want.Size, time.Since(start).Round(time.Millisecond))

	// The same bytes for tiles, bundles and proofs, from both.
	paths := []string{"tile/0/000", "tile/0/005.p/220", "tile/1/000.p/5", "tile/entries/002", "tile/entries/005.p/220",
		"proof/consistency?first_size=600&second_size=1500", "proof/consistency?first_size=1&second_size=1499"}
	for _, i := range []int{0, 255, 256, 599, 600, 1234, 1499} {
		paths = append(paths, fmt.Sprintf("proof/inclusion?index=%d&tree_size=1500", i), fmt.Sprintf("proof/inclusion?index=%d&tree_size=%d", i, i+1))
	}
	for _, p := range paths {
		a, b := standbyGet(t, rw.BaseURL+"/"+p), standbyGet(t, ro.BaseURL+"/"+p)
		if !bytes.Equal(a, b) {
			t.Fatalf("GET %s differs:\nprimary: %s\nstandby: %s", p, a, b)
		}
	}
	// A client verifies the replica's proofs against the primary's checkpoint.
	pb, err := client.NewProofBuilder(ctx, want.Size, fr.ReadTile)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for data, a := range acks {
		if n++; n > 50 {
			break
		}
		p, err := pb.InclusionProof(ctx, a.Index)
		if err != nil {
			t.Fatal(err)
		}
		if err := proof.VerifyInclusion(rfc6962.DefaultHasher, a.Index, want.Size, rfc6962.DefaultHasher.HashLeaf([]byte(data)), p, want.Hash); err != nil {
			t.Fatalf("inclusion of %d from the read-only replica: %v", a.Index, err)
		}
	}

	resp, err := http.Post(ro.BaseURL+"/entries", "", strings.NewReader("to the standby"))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed || !strings.Contains(string(body), "read-only") {
		t.Fatalf("append on the read-only replica: %d %s", resp.StatusCode, body)
	}
	runFsck(t, ro.config, true)

	// hallmark migrate refuses, with a clear error, both a read-only
	// replica's configuration and a writable one that names the standby.
	// Neither writes (the standby could not take it anyway; the primary's
	// schema version is checked below).
	version := primary.psql("hallmark", "SELECT max(version_id) FROM goose_db_version")
	for _, c := range []struct{ config, want string }{
		{ro.config, "read-only replica"},
		{h.addReplicaConfig(standby.url("hallmark"), "").config, "standby"},
	} {
		out, err := exec.Command(hallmarkBinary(t, "hallmark"), "migrate", "--config", c.config).CombinedOutput()
		if err == nil || !strings.Contains(string(out), c.want) {
			t.Fatalf("hallmark migrate on %s: err %v, want a refusal mentioning %q:\n%s", c.config, err, c.want, out)
		}
		t.Logf("hallmark migrate refuses: %s", strings.TrimSpace(string(out)))
	}
	if got := primary.psql("hallmark", "SELECT max(version_id) FROM goose_db_version"); got != version {
		t.Fatalf("schema version changed from %s to %s", version, got)
	}
}

func standbyGet(t *testing.T, u string) []byte {
	t.Helper()
	resp, err := httpClient.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		t.Fatalf("GET %s: %d %s", u, resp.StatusCode, b)
	}
	return b
}

package interop

import (
	"context"
	"fmt"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/transparency-dev/formats/log"
	"github.com/transparency-dev/merkle/proof"
	"github.com/transparency-dev/merkle/rfc6962"
	"github.com/transparency-dev/tessera/client"
)

// TestBackupRestore takes a pg_dump of a log's database while writers are
// appending, restores it into a new cluster, and checks that hallmark fsck
// passes on the restore, that the restored tree is a prefix of the live one
// (its checkpoint is one the live log signed, consistent with the live
// log's latest), and that a hallmark-log on the restore resumes from that
// checkpoint: new appends extend the same tree consistently. Finally a
// corrupted tile in the restore makes fsck fail, naming the tile.
func TestBackupRestore(t *testing.T) {
	if testing.Short() {
		t.Skip("long")
	}
	primary := newPrimary(t)
	primary.psql("postgres", "CREATE DATABASE hallmark")
	h := newHALog(t)
	live := h.addReplica(primary.url("hallmark"), "")

	ctx, cancel := context.WithCancel(context.Background())
	clients := &haClients{}
	wg := clients.run(ctx, 16, func() []string { return []string{live.BaseURL} }, 30*time.Second)
	time.Sleep(3 * time.Second)
	dump := filepath.Join(primary.dir, "hallmark.dump")
	start := time.Now()
	primary.mustRun("pg_dump", "-h", "127.0.0.1", "-p", fmt.Sprint(primary.port), "-U", "postgres", "-Fc", "-f", dump, "hallmark")
	dumpTime := time.Since(start)
	time.Sleep(2 * time.Second)
	cancel()
	wg.Wait()
	if len(clients.failures) > 0 {
		t.Fatalf("writes failed: %v", clients.failures[0])
	}

	restored := newPrimary(t)
	restored.psql("postgres", "CREATE DATABASE hallmark")
	restored.mustRun("pg_restore", "-h", "127.0.0.1", "-p", fmt.Sprint(restored.port), "-U", "postgres", "-d", "hallmark", "--no-owner", "--exit-on-error", dump)
	// fsck before anything serves the restore.
	rcfg := writeReplicaConfig(t, h, restored.url("hallmark"))
	runFsck(t, rcfg, true)

	ctx = context.Background()
	fetch := func(base string) (*log.Checkpoint, *client.HTTPFetcher) {
		u, _ := url.Parse(base + "/")
		f, _ := client.NewHTTPFetcher(u, nil)
		cp, _, _, err := client.FetchCheckpoint(ctx, f.ReadCheckpoint, h.verifier, h.origin)
		if err != nil {
			t.Fatal(err)
		}
		return cp, f
	}
	liveCP, liveF := fetch(live.BaseURL)
	back := h.addReplica(restored.url("hallmark"), "")
	backCP, backF := fetch(back.BaseURL)
	t.Logf("pg_dump took %s under load; live tree %d entries (%d acknowledged), restored tree %d entries",
		dumpTime.Round(time.Millisecond), liveCP.Size, len(clients.acks), backCP.Size)
	if backCP.Size == 0 || backCP.Size >= liveCP.Size {
		t.Fatalf("the dump should hold a strict, non-empty prefix of the log: restored %d, live %d", backCP.Size, liveCP.Size)
	}
	// The restored tree is a prefix of the live tree.
	livePB, _ := client.NewProofBuilder(ctx, liveCP.Size, liveF.ReadTile)
	cons, err := livePB.ConsistencyProof(ctx, backCP.Size, liveCP.Size)
	if err != nil {
		t.Fatal(err)
	}
	if err := proof.VerifyConsistency(rfc6962.DefaultHasher, backCP.Size, liveCP.Size, cons, backCP.Hash, liveCP.Hash); err != nil {
		t.Fatalf("the restored checkpoint is not consistent with the live log: %v", err)
	}
	// Every acknowledged entry below the restored size is there, at its index.
	inBackup := 0
	for _, a := range clients.acks {
		if a.index >= backCP.Size {
			continue
		}
		bundle, err := client.GetEntryBundle(ctx, backF.ReadEntryBundle, a.index/256, backCP.Size)
		if err != nil {
			t.Fatal(err)
		}
		if got := string(bundle.Entries[a.index%256]); got != a.data {
			t.Fatalf("restored entry %d is %q, acknowledged %q", a.index, got, a.data)
		}
		inBackup++
	}

	// The restored log resumes from its last checkpoint.
	added := appendMany(t, back.BaseURL, 1_000_000, 300)
	for _, r := range added {
		if r.Duplicate || r.Index < backCP.Size {
			t.Fatalf("a new entry got index %d (duplicate %v) below the restored size %d", r.Index, r.Duplicate, backCP.Size)
		}
	}
	newCP, newF := fetch(back.BaseURL)
	if newCP.Size != backCP.Size+300 {
		t.Fatalf("after 300 appends the restored log has %d entries, want %d", newCP.Size, backCP.Size+300)
	}
	newPB, _ := client.NewProofBuilder(ctx, newCP.Size, newF.ReadTile)
	if cons, err = newPB.ConsistencyProof(ctx, backCP.Size, newCP.Size); err != nil {
		t.Fatal(err)
	}
	if err := proof.VerifyConsistency(rfc6962.DefaultHasher, backCP.Size, newCP.Size, cons, backCP.Hash, newCP.Hash); err != nil {
		t.Fatalf("the resumed log is not consistent with the restored checkpoint: %v", err)
	}
	t.Logf("%d acknowledged entries verified in the restore; resumed from %d to %d consistently", inBackup, backCP.Size, newCP.Size)
	runFsck(t, rcfg, true)

	// A corrupted tile makes fsck fail, saying which.
	restored.psql("hallmark", "UPDATE tiles SET data = set_byte(data, 5, get_byte(data, 5) # 1) WHERE level = 0 AND idx = 1")
	out := runFsck(t, rcfg, false)
	if !strings.Contains(out, "tile 0/1: hash 0 differs") {
		t.Fatalf("fsck output does not name the corrupted tile:\n%s", out)
	}
}

// writeReplicaConfig writes a configuration for one more replica of h's
// log on dbURL without starting it, and returns its path.
func writeReplicaConfig(t *testing.T, h *haLog, dbURL string) string {
	t.Helper()
	p := h.addReplicaConfig(dbURL, "")
	return p.config
}

package interop

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/transparency-dev/formats/log"
	"github.com/transparency-dev/tessera/client"
	"golang.org/x/mod/sumdb/note"

	"github.com/hallmark-dev/hallmark/internal/pgtest"
	"github.com/hallmark-dev/hallmark/tlog"
	"github.com/hallmark-dev/hallmark/tlog/format"
)

// haLog is one tiles log served by several hallmark-log processes that
// share a database, as replicas behind a load balancer would.
type haLog struct {
	t        *testing.T
	dir      string
	keyFile  string
	origin   string
	verifier note.Verifier
	replicas []*logProc
	configs  int
}

const (
	haLogName = "ha"
	haLogURL  = "https://ha.example.com/log" // the public URL: same for every replica
	haOrigin  = "ha.example.com/log"
)

func newHALog(t *testing.T) *haLog {
	t.Helper()
	dir := t.TempDir()
	keyPEM, err := tlog.GenerateKey("ed25519")
	if err != nil {
		t.Fatal(err)
	}
	h := &haLog{t: t, dir: dir, keyFile: filepath.Join(dir, "log.pem"), origin: haOrigin}
	if err := os.WriteFile(h.keyFile, keyPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	key, _ := tlog.ParsePrivateKey(keyPEM)
	if h.verifier, err = format.NewNoteVerifier(haOrigin, key.Public()); err != nil {
		t.Fatal(err)
	}
	return h
}

// addReplica writes a configuration for one more replica on dbURL (extra is
// more top-level YAML, e.g. "read_only: true") and starts it.
func (h *haLog) addReplica(dbURL, extra string) *logProc {
	h.t.Helper()
	p := h.addReplicaConfig(dbURL, extra)
	p.start()
	h.t.Cleanup(p.kill)
	h.replicas = append(h.replicas, p)
	return p
}

// addReplicaConfig writes the configuration of one more replica.
func (h *haLog) addReplicaConfig(dbURL, extra string) *logProc {
	h.t.Helper()
	h.configs++
	n := h.configs
	dir := filepath.Join(h.dir, fmt.Sprintf("replica%d", n))
	if err := os.MkdirAll(dir, 0o700); err != nil {
		h.t.Fatal(err)
	}
	p := &logProc{t: h.t, dir: dir, addr: freeAddr(h.t), Origin: h.origin, Verifier: h.verifier}
	p.BaseURL = "http://" + p.addr + "/log"
	cfg := fmt.Sprintf(`listen: {http: %q, grpc: "off"}
database: {url: %q}
%s
logs:
  - name: %s
    kind: tiles
    url: %s
    origin: %s
    key_file: %s
    batch: {max_age: 10ms}
`, p.addr, dbURL, extra, haLogName, haLogURL, haOrigin, h.keyFile)
	p.config = filepath.Join(dir, "hallmark-log.yaml")
	if err := os.WriteFile(p.config, []byte(cfg), 0o600); err != nil {
		h.t.Fatal(err)
	}
	return p
}

// haClients runs writers that append unique entries until ctx ends. A
// failed append is retried, with the same entry, on the next replica
// (duplicates return the existing index, so retries are safe) until it
// succeeds or giveUp passes; only then is it a failure.
type haClients struct {
	mu       sync.Mutex
	acks     []ackedAppend
	retries  atomic.Int64
	failures []string
}

func (c *haClients) run(ctx context.Context, writers int, bases func() []string, giveUp time.Duration) *sync.WaitGroup {
	var wg sync.WaitGroup
	for w := 0; w < writers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(w), 7))
			for seq := 0; ctx.Err() == nil; seq++ {
				data := fmt.Sprintf("writer %d seq %d", w, seq)
				start := time.Now()
				for attempt := 0; ; attempt++ {
					bs := bases()
					base := bs[(rng.IntN(len(bs))+attempt)%len(bs)]
					// Each attempt gets its own deadline, not the load's:
					// the last entries finish even after the load stops.
					actx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
					r, err := appendEntry(actx, base, []byte(data))
					cancel()
					if err == nil {
						c.mu.Lock()
						c.acks = append(c.acks, ackedAppend{data, r.Index, r.Checkpoint})
						c.mu.Unlock()
						break
					}
					if time.Since(start) > giveUp {
						c.mu.Lock()
						c.failures = append(c.failures, fmt.Sprintf("%s: %v", data, err))
						c.mu.Unlock()
						break
					}
					c.retries.Add(1)
					time.Sleep(time.Duration(10*min(attempt+1, 10)) * time.Millisecond)
				}
			}
		}(w)
	}
	return &wg
}

// TestHAReplicasSurviveKills runs three replicas of one log on one
// PostgreSQL under sustained write load and SIGKILLs one of them every few
// seconds, restarting it. Every acknowledged entry must be in the final
// tree at its index, exactly once; every checkpoint handed out must be
// consistent with the final one (one tree, never a fork); no client write
// may fail once retried on another replica; and hallmark fsck must pass.
func TestHAReplicasSurviveKills(t *testing.T) {
	if testing.Short() {
		t.Skip("long")
	}
	dbURL := pgtest.URL(t)
	h := newHALog(t)
	for i := 0; i < 3; i++ {
		h.addReplica(dbURL, "")
	}
	var live sync.Map // base URL -> true while the replica is up
	for _, p := range h.replicas {
		live.Store(p.BaseURL, true)
	}
	bases := func() []string {
		var out []string
		live.Range(func(k, _ any) bool { out = append(out, k.(string)); return true })
		if len(out) == 0 {
			for _, p := range h.replicas {
				out = append(out, p.BaseURL)
			}
		}
		return out
	}

	const (
		duration = 30 * time.Second
		writers  = 24
	)
	ctx, cancel := context.WithTimeout(context.Background(), duration)
	defer cancel()
	clients := &haClients{}
	start := time.Now()
	wg := clients.run(ctx, writers, bases, 60*time.Second)

	rng := rand.New(rand.NewPCG(11, 12))
	kills := 0
	for ctx.Err() == nil {
		select {
		case <-ctx.Done():
		case <-time.After(time.Duration(2000+rng.IntN(1500)) * time.Millisecond):
		}
		if ctx.Err() != nil {
			break
		}
		p := h.replicas[rng.IntN(len(h.replicas))]
		// Taking it out of the client's list first is not what a load
		// balancer does; keep it in for part of the kills so that clients
		// also hit the dead port and must retry elsewhere.
		if kills%2 == 0 {
			live.Delete(p.BaseURL)
		}
		p.kill()
		kills++
		time.Sleep(time.Duration(200+rng.IntN(600)) * time.Millisecond)
		p.start()
		live.Store(p.BaseURL, true)
	}
	wg.Wait()
	elapsed := time.Since(start)

	clients.mu.Lock()
	defer clients.mu.Unlock()
	t.Logf("%s of load: %d replicas, %d SIGKILLs, %d writers, %d acknowledged appends (%.0f/s), %d retries, %d failures after retry",
		elapsed.Round(time.Millisecond), len(h.replicas), kills, writers, len(clients.acks), float64(len(clients.acks))/elapsed.Seconds(), clients.retries.Load(), len(clients.failures))
	if len(clients.failures) > 0 {
		t.Fatalf("%d writes failed after retrying on other replicas, e.g. %s", len(clients.failures), clients.failures[0])
	}
	if kills < 5 || len(clients.acks) < 1000 || clients.retries.Load() == 0 {
		t.Fatalf("the test did not exercise fail-over: %d kills, %d acks, %d retries", kills, len(clients.acks), clients.retries.Load())
	}
	// Every replica converges on the same checkpoint: replicas that did not
	// write the last batches refresh theirs from the database every second.
	time.Sleep(1100 * time.Millisecond)
	var sizes []uint64
	for _, p := range h.replicas {
		u, _ := url.Parse(p.BaseURL + "/")
		f, _ := client.NewHTTPFetcher(u, nil)
		cp, _, _, err := client.FetchCheckpoint(context.Background(), f.ReadCheckpoint, h.verifier, h.origin)
		if err != nil {
			t.Fatal(err)
		}
		sizes = append(sizes, cp.Size)
	}
	if sizes[0] != sizes[1] || sizes[1] != sizes[2] {
		t.Fatalf("replicas serve checkpoints of sizes %v", sizes)
	}
	verifyHATree(t, h, clients.acks)
	runFsck(t, h.replicas[0].config, true)
}

// verifyHATree reads the whole log from the first replica and checks every
// acknowledgement against it. Writers retry until they get an answer, so
// every entry in the tree was acknowledged to exactly one writer. It returns
// the final checkpoint.
func verifyHATree(t *testing.T, h *haLog, acks []ackedAppend) *log.Checkpoint {
	t.Helper()
	return verifyAcknowledged(t, h.replicas[0].BaseURL, h.origin, h.verifier, acks, true)
}

// runFsck runs `hallmark fsck` on a configuration and fails the test unless
// it exits as wanted. It returns the output.
func runFsck(t *testing.T, config string, wantOK bool, args ...string) string {
	t.Helper()
	cmd := exec.Command(hallmarkBinary(t, "hallmark"), append([]string{"fsck", "--config", config}, args...)...)
	out, err := cmd.CombinedOutput()
	var exit *exec.ExitError
	switch {
	case err == nil && !wantOK:
		t.Fatalf("hallmark fsck passed, want a failure:\n%s", out)
	case err != nil && wantOK:
		t.Fatalf("hallmark fsck: %v\n%s", err, out)
	case err != nil && !errors.As(err, &exit):
		t.Fatalf("hallmark fsck didn't run: %v", err)
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	t.Logf("hallmark fsck: %s", lines[len(lines)-1])
	return string(out)
}

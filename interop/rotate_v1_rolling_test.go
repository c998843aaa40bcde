package interop

import (
	"bytes"
	"context"
	"crypto"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	rekorclient "github.com/sigstore/rekor/pkg/client"
	rekorgen "github.com/sigstore/rekor/pkg/generated/client"
	"github.com/sigstore/rekor/pkg/generated/client/entries"
	"github.com/sigstore/rekor/pkg/verify"
	"github.com/sigstore/sigstore/pkg/signature"

	"github.com/hallmark-dev/hallmark/internal/pgtest"
	"github.com/hallmark-dev/hallmark/tlog"
)

// v1Ack is a Rekor v1 write a client got an answer for: the entry UUID and,
// for a 201, the virtual log index it was given (-1 for a 409, whose
// Location names the existing entry).
type v1Ack struct {
	uuid  string
	index int64
}

// TestRekorV1RollingRotation rotates a Rekor v1 log served by three
// replicas on one PostgreSQL with `hallmark log rotate rekor-v1` and a
// ROLLING restart (one replica at a time, SIGKILL and SIGTERM), while
// writers keep uploading hashedrekord entries and retry a failed upload on
// another replica. The first replica to start with the rotated configuration
// freezes the old tree in the database; replicas not restarted yet must then
// refuse writes with 503 (never 500, never a write to the frozen tree).
// Afterwards no write has failed, and every acknowledged entry is at the
// virtual index it was given, with a SET and inclusion proof that Rekor's
// own verifier accepts, and the virtual indices of both trees are unique
// and contiguous.
func TestRekorV1RollingRotation(t *testing.T) {
	if testing.Short() {
		t.Skip("long")
	}
	dbURL := pgtest.URL(t)
	dir := t.TempDir()
	s := &rotationSetup{t: t, dir: dir, master: filepath.Join(dir, "hallmark-log.yaml")}
	for i := 0; i < 3; i++ {
		p := &logProc{t: t, addr: freeAddr(t), dir: filepath.Join(dir, fmt.Sprintf("replica%d", i))}
		p.config = filepath.Join(dir, fmt.Sprintf("replica%d.yaml", i)) // beside the keys
		os.MkdirAll(p.dir, 0o700)
		t.Cleanup(p.kill)
		s.replicas = append(s.replicas, p)
	}
	s.publicURL = "http://" + s.replicas[0].addr
	keyPEM, _ := tlog.GenerateKey("ecdsa-p256")
	os.WriteFile(filepath.Join(dir, "rekor2026.pem"), keyPEM, 0o600)
	oldKey, _ := tlog.ParsePrivateKey(keyPEM)
	os.WriteFile(s.master, fmt.Appendf(nil, `listen: {http: %q, grpc: "off"}
database: {url: %q}
logs:
  - name: rekor2026
    kind: rekor-v1
    url: %s
    key_file: rekor2026.pem
    rekor: {tree_id: 2026}
    batch: {max_age: 10ms}
`, s.replicas[0].addr, dbURL, s.publicURL), 0o600)
	s.syncConfigs()
	for _, p := range s.replicas {
		p.start()
		s.live.Store(p.addr, true)
	}

	// Writers: unique hashedrekord uploads to a live replica; on any
	// failure, the same upload again on the next replica.
	var (
		mu        sync.Mutex
		acks      []v1Ack
		failures  []string
		retries   atomic.Int64
		refused   atomic.Int64 // 503s that say the tree is frozen
		internals atomic.Int64 // 500s: the frozen-tree guard or worse
	)
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for w := 0; w < 6; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			signer := newV1Signer(t)
			for i := 0; ctx.Err() == nil; i++ {
				body, _ := json.Marshal(signer.hashedrekord(t, fmt.Appendf(nil, "writer %d artifact %d", w, i)))
				err := retryWrite(&retries, func(attempt int) error {
					addrs := liveAddrs(&s.live)
					if len(addrs) == 0 {
						return fmt.Errorf("no live replica")
					}
					ack, code, msg, err := postV1Entry(addrs[(w+i+attempt)%len(addrs)], body)
					if err == nil {
						mu.Lock()
						acks = append(acks, ack)
						mu.Unlock()
						return nil
					}
					switch {
					case code == http.StatusServiceUnavailable && strings.Contains(msg, "frozen"):
						refused.Add(1)
					case code == http.StatusInternalServerError:
						internals.Add(1)
					}
					return err
				})
				if err != nil {
					mu.Lock()
					failures = append(failures, err.Error())
					mu.Unlock()
				}
			}
		}(w)
	}

	time.Sleep(2 * time.Second)
	t.Log(strings.TrimSpace(s.hallmark("log", "rotate", "rekor-v1", "--config", s.master,
		"--log", "rekor2026", "--name", "rekor2027", "--tree-id", "2027")))
	// The rolling restart: one replica at a time, the others keep serving
	// (with the old configuration until their turn).
	s.syncConfigs()
	for i, p := range s.replicas {
		s.live.Delete(p.addr)
		if i == 1 {
			p.cmd.Process.Signal(syscall.SIGTERM)
			<-p.exited
		} else {
			p.kill()
		}
		p.start()
		s.live.Store(p.addr, true)
		time.Sleep(1500 * time.Millisecond)
	}
	time.Sleep(time.Second)
	cancel()
	wg.Wait()

	t.Logf("%d writes acknowledged, %d retries, %d refused as frozen (503), %d internal errors (500), %d failures",
		len(acks), retries.Load(), refused.Load(), internals.Load(), len(failures))
	if len(failures) > 0 {
		t.Fatalf("%d writes failed after retrying, e.g. %s", len(failures), failures[0])
	}
	if internals.Load() > 0 {
		t.Fatalf("%d writes got a 500 during the rolling restart", internals.Load())
	}
	if refused.Load() == 0 {
		t.Fatal("no replica with the old configuration refused a write: the test did not exercise the mixed state")
	}

	// Both trees, as every replica now serves them (once the replica's
	// cached checkpoint, up to a second old, has caught up with the others').
	time.Sleep(1500 * time.Millisecond)
	var info struct {
		TreeID         string `json:"treeID"`
		TreeSize       uint64 `json:"treeSize"`
		InactiveShards []struct {
			TreeID   string `json:"treeID"`
			TreeSize uint64 `json:"treeSize"`
		} `json:"inactiveShards"`
	}
	v1GetJSON(t, "http://"+s.replicas[2].addr+"/api/v1/log", &info)
	if info.TreeID != "2027" || len(info.InactiveShards) != 1 || info.InactiveShards[0].TreeID != "2026" {
		t.Fatalf("/api/v1/log after the rotation: %+v", info)
	}
	frozen := info.InactiveShards[0].TreeSize
	total := frozen + info.TreeSize
	if frozen == 0 || info.TreeSize == 0 {
		t.Fatalf("frozen tree %d entries, active tree %d: both should have taken writes", frozen, info.TreeSize)
	}
	newKey, err := tlog.LoadPrivateKey(filepath.Join(dir, "rekor2027.pem"))
	if err != nil {
		t.Fatal(err)
	}
	verifiers := map[string]signature.Verifier{}
	for prefix, key := range map[string]crypto.Signer{fmt.Sprintf("%016x", 2026): oldKey, fmt.Sprintf("%016x", 2027): newKey} {
		if verifiers[prefix], err = signature.LoadVerifier(key.Public(), crypto.SHA256); err != nil {
			t.Fatal(err)
		}
	}

	// Read every virtual index, from every replica in turn, and verify it
	// with Rekor's verifier and the key of its tree: indices are contiguous
	// and each names one entry.
	clients := make([]*rekorgen.Rekor, len(s.replicas))
	for i, p := range s.replicas {
		if clients[i], err = rekorclient.GetRekorClient("http://"+p.addr, rekorclient.WithRetryCount(0)); err != nil {
			t.Fatal(err)
		}
	}
	uuidAt := make([]string, total)
	indexOf := map[string]int64{}
	for idx := uint64(0); idx < total; idx++ {
		resp, err := clients[idx%uint64(len(clients))].Entries.GetLogEntryByIndexContext(context.Background(), entries.NewGetLogEntryByIndexParams().WithLogIndex(int64(idx)))
		if err != nil {
			t.Fatalf("entry at virtual index %d (of %d, %d frozen): %v", idx, total, frozen, err)
		}
		for uuid, e := range resp.Payload {
			if *e.LogIndex != int64(idx) {
				t.Fatalf("entry at virtual index %d says logIndex %d", idx, *e.LogIndex)
			}
			want := fmt.Sprintf("%016x", 2026)
			if idx >= frozen {
				want = fmt.Sprintf("%016x", 2027)
			}
			if !strings.HasPrefix(uuid, want) {
				t.Fatalf("entry at virtual index %d has UUID %s, want tree %s", idx, uuid, want)
			}
			if err := verify.VerifyLogEntry(context.Background(), &e, verifiers[want]); err != nil {
				t.Fatalf("Rekor's verifier rejects the entry at virtual index %d: %v", idx, err)
			}
			if _, dup := indexOf[uuid]; dup {
				t.Fatalf("UUID %s at two virtual indices", uuid)
			}
			uuidAt[idx], indexOf[uuid] = uuid, int64(idx)
		}
	}
	// Every acknowledgement matches the log; every entry was acknowledged,
	// or is the twin, in the other tree, of an acknowledged one (an upload
	// committed by a replica killed before it answered, then retried on a
	// restarted replica after the freeze).
	acked := map[string]bool{}
	for _, a := range acks {
		idx, ok := indexOf[a.uuid]
		if !ok || (a.index >= 0 && idx != a.index) {
			t.Fatalf("acknowledged entry %s at virtual index %d is at %d in the log (found: %v)", a.uuid, a.index, idx, ok)
		}
		acked[a.uuid] = true
	}
	twins := 0
	for idx, uuid := range uuidAt {
		if acked[uuid] {
			continue
		}
		other := fmt.Sprintf("%016x", 2027) + uuid[16:]
		if strings.HasPrefix(uuid, other[:16]) {
			other = fmt.Sprintf("%016x", 2026) + uuid[16:]
		}
		if !acked[other] {
			t.Fatalf("entry %s at virtual index %d was never acknowledged", uuid, idx)
		}
		twins++
	}
	t.Logf("%d entries: %d in the frozen tree, %d in the active one; %d unacknowledged twins", total, frozen, info.TreeSize, twins)

	// The frozen tree never grows again: a write that reaches it fails.
	for _, p := range s.replicas {
		if out, _ := os.ReadFile(filepath.Join(p.dir, "server.log")); bytes.Contains(out, []byte("grew from")) {
			t.Fatalf("replica %s saw the frozen tree grow:\n%s", p.addr, out)
		}
	}
}

// postV1Entry uploads a Rekor v1 proposed entry to a replica. On a 201 or
// 409 it returns the acknowledgement; otherwise an error with the status
// code and message.
func postV1Entry(addr string, body []byte) (v1Ack, int, string, error) {
	resp, err := httpClient.Post("http://"+addr+"/api/v1/log/entries", "application/json", bytes.NewReader(body))
	if err != nil {
		return v1Ack{}, 0, "", err
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	switch resp.StatusCode {
	case http.StatusCreated:
		var m map[string]struct {
			LogIndex int64 `json:"logIndex"`
		}
		if err := json.Unmarshal(raw, &m); err != nil || len(m) != 1 {
			return v1Ack{}, resp.StatusCode, string(raw), fmt.Errorf("bad 201 answer: %v %s", err, raw)
		}
		for uuid, e := range m {
			return v1Ack{uuid: uuid, index: e.LogIndex}, resp.StatusCode, "", nil
		}
	case http.StatusConflict:
		loc := resp.Header.Get("Location")
		return v1Ack{uuid: loc[strings.LastIndex(loc, "/")+1:], index: -1}, resp.StatusCode, "", nil
	}
	return v1Ack{}, resp.StatusCode, string(raw), fmt.Errorf("HTTP %d: %s", resp.StatusCode, raw)
}

package interop

import (
	"bytes"
	"context"
	"crypto"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/transparency-dev/formats/log"
	"github.com/transparency-dev/merkle/compact"
	"github.com/transparency-dev/merkle/proof"
	"github.com/transparency-dev/merkle/rfc6962"
	"github.com/transparency-dev/tessera/client"
	"golang.org/x/mod/sumdb/note"

	"github.com/hallmark-dev/hallmark/tlog"
	"github.com/hallmark-dev/hallmark/tlog/format"
)

var (
	buildOnce sync.Once
	binDir    string
	buildErr  error
)

// hallmarkBinary builds the main module's commands once per test run.
func hallmarkBinary(t testing.TB, name string) string {
	t.Helper()
	buildOnce.Do(func() {
		binDir, buildErr = os.MkdirTemp("", "hallmark-bin")
		if buildErr != nil {
			return
		}
		cmd := exec.Command("go", "build", "-trimpath", "-o", binDir+"/", "./cmd/...")
		cmd.Dir = ".."
		out, err := cmd.CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return filepath.Join(binDir, name)
}

var (
	portsMu     sync.Mutex
	portsHanded = map[string]bool{}
)

// freeAddr returns a loopback address with a port nothing listens on now,
// for a server the test starts. The port is released before the server
// binds it, so the kernel may hand it out again: an address is never
// returned twice in one test run (six in a row for `hallmark dev` once
// collided).
func freeAddr(t testing.TB) string {
	t.Helper()
	portsMu.Lock()
	defer portsMu.Unlock()
	for range 100 {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := l.Addr().String()
		l.Close()
		if !portsHanded[addr] {
			portsHanded[addr] = true
			return addr
		}
	}
	t.Fatal("no unused loopback port after 100 tries")
	return ""
}

// logProc is a running hallmark-log process.
type logProc struct {
	t      testing.TB
	dir    string
	config string
	addr   string
	grpc   string
	Logs   map[string]*servedLog
	cmd    *exec.Cmd
	exited chan struct{}

	// For single-log helpers: the first log's details.
	BaseURL  string
	Origin   string
	Verifier note.Verifier
}

// logSpec describes one log of a test server.
type logSpec struct {
	Name, Kind, Path string
	KeyType          string // ed25519 (default) or ecdsa-p256
	Extra            string // more YAML lines for the log, indented by 4
}

type servedLog struct {
	logSpec
	URL    string
	Origin string
	Key    crypto.Signer
}

// startTilesLog starts hallmark-log with one plain tiles log on the given
// database (a PostgreSQL URL, or "" for SQLite in a temporary directory).
func startTilesLog(t testing.TB, dbURL string, batch string) *logProc {
	return startLogServer(t, dbURL, logSpec{Name: "crash", Kind: "tiles", Path: "/log", Extra: "    batch: {" + batch + "}\n"})
}

func startLogServer(t testing.TB, dbURL string, specs ...logSpec) *logProc {
	t.Helper()
	dir := t.TempDir()
	addr := freeAddr(t)
	p := &logProc{t: t, dir: dir, addr: addr, grpc: freeAddr(t), Logs: map[string]*servedLog{}}
	db := fmt.Sprintf("sqlite: %q", filepath.Join(dir, "log.db"))
	if dbURL != "" {
		db = fmt.Sprintf("url: %q", dbURL)
	}
	cfg := fmt.Sprintf("listen: {http: %q, grpc: %q}\ndatabase: {%s}\nlogs:\n", addr, p.grpc, db)
	for _, s := range specs {
		if s.KeyType == "" {
			s.KeyType = "ed25519"
		}
		keyPEM, err := tlog.GenerateKey(s.KeyType)
		if err != nil {
			t.Fatal(err)
		}
		os.WriteFile(filepath.Join(dir, s.Name+".pem"), keyPEM, 0o600)
		key, _ := tlog.ParsePrivateKey(keyPEM)
		sl := &servedLog{logSpec: s, URL: "http://" + addr + s.Path, Key: key}
		cfg += fmt.Sprintf("  - name: %s\n    kind: %s\n    url: %s\n    key_file: %s.pem\n%s", s.Name, s.Kind, sl.URL, s.Name, s.Extra)
		p.Logs[s.Name] = sl
	}
	p.config = filepath.Join(dir, "hallmark-log.yaml")
	os.WriteFile(p.config, []byte(cfg), 0o600)
	parsed, err := tlog.ParseServiceConfig([]byte(cfg))
	if err != nil {
		t.Fatal(err)
	}
	for _, lc := range parsed.Logs {
		p.Logs[lc.Name].Origin = lc.CheckpointOrigin()
	}
	firstLog := p.Logs[specs[0].Name]
	p.BaseURL, p.Origin = firstLog.URL, firstLog.Origin
	signerName := firstLog.Origin
	if specs[0].Kind == "rekor-v1" {
		signerName = parsed.Logs[0].RekorHostname()
	}
	if p.Verifier, err = format.NewNoteVerifier(signerName, firstLog.Key.Public()); err != nil {
		t.Fatal(err)
	}
	p.start()
	t.Cleanup(p.kill)
	return p
}

func (p *logProc) start() {
	p.t.Helper()
	p.cmd = exec.Command(hallmarkBinary(p.t, "hallmark-log"), "--config", p.config)
	logf, _ := os.OpenFile(filepath.Join(p.dir, "server.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	p.cmd.Stdout, p.cmd.Stderr = logf, logf
	if err := p.cmd.Start(); err != nil {
		p.t.Fatal(err)
	}
	p.exited = make(chan struct{})
	go func() { p.cmd.Wait(); logf.Close(); close(p.exited) }()
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		resp, err := http.Get("http://" + p.addr + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return
			}
		}
		select {
		case <-p.exited:
			out, _ := os.ReadFile(filepath.Join(p.dir, "server.log"))
			p.t.Fatalf("hallmark-log exited at start:\n%s", out)
		case <-time.After(50 * time.Millisecond):
		}
	}
	p.t.Fatal("hallmark-log did not become healthy")
}

// kill sends SIGKILL and waits for the process to exit.
func (p *logProc) kill() {
	if p.cmd != nil && p.cmd.Process != nil {
		p.cmd.Process.Kill()
		<-p.exited
	}
}

type appendResponse struct {
	Index          uint64   `json:"index"`
	Duplicate      bool     `json:"duplicate"`
	TreeSize       uint64   `json:"tree_size"`
	Checkpoint     string   `json:"checkpoint"`
	InclusionProof [][]byte `json:"inclusion_proof"`
}

var httpClient = &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 256}}

func appendEntry(ctx context.Context, base string, data []byte) (*appendResponse, error) {
	req, _ := http.NewRequestWithContext(ctx, "POST", base+"/entries", bytes.NewReader(data))
	resp, err := httpClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != 201 && resp.StatusCode != 200 {
		return nil, fmt.Errorf("append: HTTP %d", resp.StatusCode)
	}
	var r appendResponse
	if err := json.NewDecoder(resp.Body).Decode(&r); err != nil {
		return nil, err
	}
	return &r, nil
}

// clientBinary returns the path of a pinned client binary built by
// `make tools` into HALLMARK_TOOLS_DIR. Missing binaries skip the test,
// except under CI=true, where they fail it.
func clientBinary(t testing.TB, name, version string) string {
	t.Helper()
	dir := os.Getenv("HALLMARK_TOOLS_DIR")
	if dir == "" {
		home, _ := os.UserHomeDir()
		dir = filepath.Join(home, ".cache", "hallmark", "tools")
	}
	p := filepath.Join(dir, name+"-"+version, name)
	if _, err := os.Stat(p); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s %s not found at %s: run `make tools` (CI must run the client tests)", name, version, p)
		}
		t.Skipf("%s %s not built; run `make tools`", name, version)
	}
	return p
}

// run runs a client binary and returns its combined output.
func run(t testing.TB, dir string, env []string, bin string, args ...string) (string, error) {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// ackedAppend is an append a client got an answer for: the entry, the index
// it was given and the checkpoint that came with it.
type ackedAppend struct {
	data  string
	index uint64
	cp    string
}

// verifyAcknowledged reads the whole log at baseURL with tessera's client
// and checks it against what clients were told: no entry twice, the root
// recomputed from the entries equals the final checkpoint's, every
// acknowledged entry sits at the index it was given, and every checkpoint
// handed out is consistent with the final one. With exact, the tree must
// hold nothing but acknowledged entries (writers that retried until they got
// an answer). It returns the final checkpoint.
func verifyAcknowledged(t *testing.T, baseURL, origin string, v note.Verifier, acks []ackedAppend, exact bool) *log.Checkpoint {
	t.Helper()
	ctx := context.Background()
	u, err := url.Parse(baseURL + "/")
	if err != nil {
		t.Fatal(err)
	}
	f, err := client.NewHTTPFetcher(u, nil)
	if err != nil {
		t.Fatal(err)
	}
	final, _, _, err := client.FetchCheckpoint(ctx, f.ReadCheckpoint, v, origin)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]uint64{}
	r := (&compact.RangeFactory{Hash: rfc6962.DefaultHasher.HashChildren}).NewEmptyRange(0)
	for b := uint64(0); b*256 < final.Size; b++ {
		bundle, err := client.GetEntryBundle(ctx, f.ReadEntryBundle, b, final.Size)
		if err != nil {
			t.Fatal(err)
		}
		for i, e := range bundle.Entries {
			idx := b*256 + uint64(i)
			if j, dup := seen[string(e)]; dup {
				t.Fatalf("entry %q at %d and %d", e, j, idx)
			}
			seen[string(e)] = idx
			r.Append(rfc6962.DefaultHasher.HashLeaf(e), nil)
		}
	}
	if root, _ := r.GetRootHash(nil); string(root) != string(final.Hash) {
		t.Fatal("root recomputed from the entries differs from the final checkpoint")
	}
	if exact && uint64(len(acks)) != final.Size {
		t.Fatalf("%d entries acknowledged, the tree holds %d", len(acks), final.Size)
	}
	pb, err := client.NewProofBuilder(ctx, final.Size, f.ReadTile)
	if err != nil {
		t.Fatal(err)
	}
	checked := map[string]bool{}
	for _, a := range acks {
		if got, ok := seen[a.data]; !ok || got != a.index {
			t.Fatalf("acknowledged %q at %d; the log has it at %d (present=%v)", a.data, a.index, got, ok)
		}
		if checked[a.cp] {
			continue
		}
		checked[a.cp] = true
		cp, _, _, err := log.ParseCheckpoint([]byte(a.cp), origin, v)
		if err != nil {
			t.Fatal(err)
		}
		cons, err := pb.ConsistencyProof(ctx, cp.Size, final.Size)
		if err != nil {
			t.Fatal(err)
		}
		if err := proof.VerifyConsistency(rfc6962.DefaultHasher, cp.Size, final.Size, cons, cp.Hash, final.Hash); err != nil {
			t.Fatalf("checkpoint %d handed to a client is not consistent with the final %d: %v", cp.Size, final.Size, err)
		}
	}
	t.Logf("final tree size %d: every acknowledged entry at its index, %d distinct checkpoints consistent with the final one", final.Size, len(checked))
	return final
}

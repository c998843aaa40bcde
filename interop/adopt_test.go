package interop

// Adopting a real Rekor v1.5.4 on a real Trillian v1.7.3 (PostgreSQL
// storage): clients log to Rekor, `hallmark adopt trillian` copies the tree
// (interrupted once, then resumed, then caught up with the tail), Rekor is
// switched off and hallmark-log serves the log at Rekor's address. Old
// bundles, entries, UUIDs, indices, search and consistency with Rekor's
// last checkpoint must all survive, and new entries continue the log.
//
// ADOPT_LEAVES sets how many extra leaves are queued straight into Trillian
// (default 3000) so the import has some length; with ADOPT_LEAVES=200000
// the test doubles as the import benchmark of docs/BENCHMARKS.md (the
// adopt command's summary is logged).

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-openapi/runtime"
	"github.com/google/trillian"
	"github.com/google/trillian/types"
	"github.com/jackc/pgx/v5"
	rekorclient "github.com/sigstore/rekor/pkg/client"
	"github.com/sigstore/rekor/pkg/generated/client/entries"
	"github.com/sigstore/rekor/pkg/generated/models"
	rekortypes "github.com/sigstore/rekor/pkg/types"
	"github.com/transparency-dev/merkle/proof"
	"github.com/transparency-dev/merkle/rfc6962"
	"golang.org/x/mod/sumdb/note"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/hallmark-dev/hallmark/internal/pgtest"
	"github.com/hallmark-dev/hallmark/tlog"
	"github.com/hallmark-dev/hallmark/tlog/adopt"
	"github.com/hallmark-dev/hallmark/tlog/format"
	"github.com/hallmark-dev/hallmark/tlog/rekorv1"
)

// rekorHostname is Rekor's --rekor_server.hostname: the checkpoint origin
// prefix and signer name the adopted log must keep.
const rekorHostname = "rekor.adopt.test"

// bgProc is a background process whose output goes to a file.
type bgProc struct {
	cmd    *exec.Cmd
	log    string
	exited chan struct{}
}

func startProc(t *testing.T, dir, name, bin string, args ...string) *bgProc {
	t.Helper()
	p := &bgProc{log: filepath.Join(dir, name+".log"), exited: make(chan struct{})}
	f, err := os.Create(p.log)
	if err != nil {
		t.Fatal(err)
	}
	p.cmd = exec.Command(bin, args...)
	p.cmd.Dir, p.cmd.Stdout, p.cmd.Stderr = dir, f, f
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	go func() { p.cmd.Wait(); f.Close(); close(p.exited) }()
	t.Cleanup(p.stop)
	return p
}

func (p *bgProc) stop() {
	select {
	case <-p.exited:
	default:
		p.cmd.Process.Kill()
		<-p.exited
	}
}

func (p *bgProc) output() string { b, _ := os.ReadFile(p.log); return string(b) }

// waitFor polls f until it succeeds, or fails the test with the process's
// output after a minute.
func waitFor(t *testing.T, what string, p *bgProc, f func() error) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for {
		err := f()
		if err == nil {
			return
		}
		select {
		case <-p.exited:
			t.Fatalf("%s: process exited: %v\n%s", what, err, p.output())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: %v\n%s", what, err, p.output())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// applyTrillianSchema creates Trillian's PostgreSQL tables, from the
// schema in the module cache of the Trillian version the tools are built at.
func applyTrillianSchema(t *testing.T, dbURL string) {
	t.Helper()
	dir, err := exec.Command("go", "list", "-m", "-f", "{{.Dir}}", "github.com/google/trillian").Output()
	if err != nil {
		t.Fatalf("go list trillian: %v", err)
	}
	schema, err := os.ReadFile(filepath.Join(strings.TrimSpace(string(dir)), "storage", "postgresql", "schema", "storage.sql"))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, string(schema)); err != nil { // no arguments: simple protocol, many statements
		t.Fatalf("trillian schema: %v", err)
	}
}

// rekorStack is Trillian (log server and signer) with Rekor in front.
type rekorStack struct {
	dir          string
	trillianAddr string
	treeID       int64
	addr         string // Rekor's host:port, later hallmark-log's
	url          string
	keyFile      string
	keyPEM       []byte // Rekor's public key, PEM
	rekor        *bgProc
	logClient    trillian.TrillianLogClient
}

func startRekorStack(t *testing.T, dbURL string) *rekorStack {
	trillianServer := clientBinary(t, "trillian_log_server", "v1.7.3")
	trillianSigner := clientBinary(t, "trillian_log_signer", "v1.7.3")
	createTree := clientBinary(t, "createtree", "v1.7.3")
	rekorServer := clientBinary(t, "rekor-server", "v1.5.4")
	applyTrillianSchema(t, dbURL)

	s := &rekorStack{dir: t.TempDir(), trillianAddr: freeAddr(t), addr: freeAddr(t)}
	s.url = "http://" + s.addr
	storage := []string{"--storage_system=postgresql", "--postgresql_uri=" + dbURL, "--quota_system=noop"}
	server := startProc(t, s.dir, "trillian_log_server", trillianServer,
		append(storage, "--rpc_endpoint="+s.trillianAddr, "--http_endpoint=")...)
	startProc(t, s.dir, "trillian_log_signer", trillianSigner,
		append(storage, "--rpc_endpoint="+freeAddr(t), "--http_endpoint=", "--force_master", "--election_system=noop",
			"--sequencer_interval=50ms")...)
	waitFor(t, "createtree", server, func() error {
		out, err := exec.Command(createTree, "--admin_server="+s.trillianAddr, "--display_name=rekor").Output()
		if err != nil {
			return err
		}
		s.treeID, err = strconv.ParseInt(strings.TrimSpace(string(out)), 10, 64)
		return err
	})
	conn, err := grpc.NewClient(s.trillianAddr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	s.logClient = trillian.NewTrillianLogClient(conn)

	// Rekor's signing key, in a file as rekor_server.signer takes it.
	key, err := tlog.GenerateKey("ecdsa-p256")
	if err != nil {
		t.Fatal(err)
	}
	s.keyFile = filepath.Join(s.dir, "rekor-key.pem")
	os.WriteFile(s.keyFile, key, 0o600)
	priv, _ := tlog.ParsePrivateKey(key)
	der, _ := x509.MarshalPKIXPublicKey(priv.Public())
	s.keyPEM = pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
	os.WriteFile(filepath.Join(s.dir, "rekor.pub"), s.keyPEM, 0o644)

	host, port, _ := net.SplitHostPort(s.addr)
	thost, tport, _ := net.SplitHostPort(s.trillianAddr)
	s.rekor = startProc(t, s.dir, "rekor-server", rekorServer, "serve",
		"--trillian_log_server.address="+thost, "--trillian_log_server.port="+tport,
		"--trillian_log_server.tlog_id="+strconv.FormatInt(s.treeID, 10),
		"--rekor_server.address="+host, "--port="+port, "--rekor_server.hostname="+rekorHostname,
		"--rekor_server.signer="+s.keyFile, "--log_type=prod",
		// No Redis: the search index is not part of the tree.
		"--enable_retrieve_api=false",
		"--enabled_api_endpoints=getLogInfo,getPublicKey,getLogProof,createLogEntry,getLogEntryByIndex,getLogEntryByUUID,searchLogQuery")
	waitFor(t, "rekor-server", s.rekor, func() error {
		_, err := getJSON(s.url + "/api/v1/log")
		return err
	})
	return s
}

func getJSON(url string) (map[string]any, error) {
	resp, err := http.Get(url)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		return nil, fmt.Errorf("GET %s: HTTP %d %s", url, resp.StatusCode, body)
	}
	var m map[string]any
	return m, json.Unmarshal(body, &m)
}

// v1Entry is what GET /api/v1/log/entries?logIndex= says about an entry,
// minus the parts that are freshly signed on every read.
type v1Entry struct {
	UUID           string
	Body           string
	IntegratedTime float64
	LogID          string
	LogIndex       float64
}

func readV1Entry(t *testing.T, base string, index uint64) v1Entry {
	t.Helper()
	m, err := getJSON(fmt.Sprintf("%s/api/v1/log/entries?logIndex=%d", base, index))
	if err != nil || len(m) != 1 {
		t.Fatalf("entry %d: %v %v", index, m, err)
	}
	for uuid, v := range m {
		e := v.(map[string]any)
		return v1Entry{UUID: uuid, Body: e["body"].(string), IntegratedTime: e["integratedTime"].(float64),
			LogID: e["logID"].(string), LogIndex: e["logIndex"].(float64)}
	}
	panic("unreachable")
}

// queueLeaves puts n valid hashedrekord leaves straight into Trillian, as
// if Rekor had accepted them, and waits until they are integrated.
func (s *rekorStack) queueLeaves(t *testing.T, n int) {
	t.Helper()
	ctx := context.Background()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	der, _ := x509.MarshalPKIXPublicKey(key.Public())
	pemKey := base64.StdEncoding.EncodeToString(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}))
	var next atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for w := 0; w < 16; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := next.Add(1); i <= int64(n); i = next.Add(1) {
				d := sha256.Sum256(fmt.Appendf(nil, "queued artifact %d", i))
				sig, _ := ecdsa.SignASN1(rand.Reader, key, d[:])
				req := fmt.Sprintf(`{"apiVersion":"0.0.1","kind":"hashedrekord","spec":{"data":{"hash":{"algorithm":"sha256","value":%q}},"signature":{"content":%q,"publicKey":{"content":%q}}}}`,
					hex.EncodeToString(d[:]), base64.StdEncoding.EncodeToString(sig), pemKey)
				e, err := rekorv1.Canonicalize([]byte(req), rekorv1.DefaultOptions())
				if err == nil {
					_, err = s.logClient.QueueLeaf(ctx, &trillian.QueueLeafRequest{LogId: s.treeID, Leaf: &trillian.LogLeaf{LeafValue: e.Canonical}})
				}
				if err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		t.Fatal(err)
	}
}

// trillianRoot returns Trillian's latest root.
func (s *rekorStack) trillianRoot(t *testing.T) types.LogRootV1 {
	t.Helper()
	resp, err := s.logClient.GetLatestSignedLogRoot(context.Background(), &trillian.GetLatestSignedLogRootRequest{LogId: s.treeID})
	if err != nil {
		t.Fatal(err)
	}
	var r types.LogRootV1
	if err := r.UnmarshalBinary(resp.SignedLogRoot.LogRoot); err != nil {
		t.Fatal(err)
	}
	return r
}

func (s *rekorStack) waitIntegrated(t *testing.T, size uint64) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Minute)
	for s.trillianRoot(t).TreeSize < size {
		if time.Now().After(deadline) {
			t.Fatalf("Trillian integrated %d of %d leaves", s.trillianRoot(t).TreeSize, size)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

var adoptSummary = regexp.MustCompile(`imported (\d+) entries \(size (\d+) → (\d+)\)`)

func TestAdoptTrillian(t *testing.T) {
	hallmark := hallmarkBinary(t, "hallmark")
	cli := clientBinary(t, "rekor-cli", "v1.5.4")
	cosign := clientBinary(t, "cosign", "v2.6.5")
	s := startRekorStack(t, pgtest.URL(t))
	ctx := context.Background()

	// --- Clients use Rekor. ---
	dir, env := cosignDir(t, cosign)
	env = append(env, "SIGSTORE_REKOR_PUBLIC_KEY="+filepath.Join(s.dir, "rekor.pub"))
	cliEnv := []string{"HOME=" + dir}
	rekorCLI := func(args ...string) string {
		t.Helper()
		out, err := run(t, dir, cliEnv, cli, append(args, "--rekor_server", s.url)...)
		if err != nil {
			t.Fatalf("rekor-cli %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return out
	}
	signBlob := func(name string) {
		t.Helper()
		os.WriteFile(filepath.Join(dir, name), []byte("adopted artifact "+name+"\n"), 0o644)
		out, err := run(t, dir, env, cosign, "sign-blob", "--yes", "--key", "cosign.key", "--rekor-url", s.url,
			"--bundle", name+".bundle", "--output-signature", name+".sig", name)
		if err != nil {
			t.Fatalf("cosign sign-blob %s: %v\n%s", name, err, out)
		}
	}
	signBlob("blob-1")
	signBlob("blob-2")
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	der, _ := x509.MarshalPKIXPublicKey(key.Public())
	os.WriteFile(filepath.Join(dir, "cli.pub"), pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}), 0o644)
	cliUpload := func(name string) string {
		t.Helper()
		data := []byte("rekor-cli artifact " + name)
		os.WriteFile(filepath.Join(dir, name), data, 0o644)
		d := sha256.Sum256(data)
		sig, _ := ecdsa.SignASN1(rand.Reader, key, d[:])
		os.WriteFile(filepath.Join(dir, name+".sig"), sig, 0o644)
		out := rekorCLI("upload", "--type", "hashedrekord", "--pki-format", "x509", "--artifact", name, "--signature", name+".sig", "--public-key", "cli.pub")
		return strings.TrimSpace(out[strings.LastIndex(out, "/")+1:])
	}
	cliUUID := cliUpload("cli-artifact-1")
	// DSSE and in-toto entries through Rekor's own client.
	rc, err := rekorclient.GetRekorClient(s.url, rekorclient.WithRetryCount(0))
	if err != nil {
		t.Fatal(err)
	}
	signer := newV1Signer(t)
	for _, pe := range []models.ProposedEntry{
		signer.attestation(t, "dsse", "0.0.1", "image-a"),
		signer.attestation(t, "intoto", "0.0.2", "image-b"),
	} {
		if _, err := rc.Entries.CreateLogEntryContext(ctx, entries.NewCreateLogEntryParams().WithProposedEntry(pe)); err != nil {
			t.Fatalf("rekor client upload: %v", err)
		}
	}
	// Many more leaves, then a last client entry, so real entries sit at
	// both ends of the tree.
	extra := 3000
	if v, err := strconv.Atoi(os.Getenv("ADOPT_LEAVES")); err == nil {
		extra = v
	}
	queued := time.Now()
	s.queueLeaves(t, extra)
	s.waitIntegrated(t, uint64(5+extra))
	t.Logf("queued and integrated %d leaves in Trillian in %v", extra, time.Since(queued).Round(time.Millisecond))
	signBlob("blob-3")

	// --- Hallmark's config: Rekor's key, tree ID and host name, at the
	// address Rekor serves today. ---
	hdir := t.TempDir()
	config := filepath.Join(hdir, "hallmark-log.yaml")
	os.WriteFile(config, fmt.Appendf(nil, `listen: {http: %q, grpc: %q}
database: {url: %q}
logs:
  - name: rekor
    kind: rekor-v1
    url: %s
    key_file: %s
    rekor: {tree_id: %d, hostname: %s}
`, s.addr, freeAddr(t), pgtest.URL(t), s.url, s.keyFile, s.treeID, rekorHostname), 0o600)
	adoptArgs := []string{"adopt", "trillian", "--trillian", s.trillianAddr, "--insecure", "--config", config,
		"--rekor-url", s.url}

	// --- Import, interrupted: killed at the first progress line, after
	// its first transaction (small ones, so that it is not the last). ---
	cmd := exec.Command(hallmark, append(adoptArgs, "--progress", "1ms", "--batch-size", "100", "--commit-size", "500")...)
	stderr, _ := cmd.StderrPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(stderr)
	var firstRun []string
	for sc.Scan() {
		firstRun = append(firstRun, sc.Text())
		if strings.Contains(sc.Text(), "adopt: progress") {
			cmd.Process.Kill()
			break
		}
	}
	io.Copy(io.Discard, stderr)
	cmd.Wait()
	if !strings.Contains(strings.Join(firstRun, "\n"), "adopt: progress") {
		t.Fatalf("first adopt run ended without progress:\n%s", strings.Join(firstRun, "\n"))
	}
	adoptRun := func() (imported, from, to uint64, out string) {
		t.Helper()
		out, err := run(t, hdir, nil, hallmark, adoptArgs...)
		if err != nil {
			t.Fatalf("hallmark adopt: %v\n%s", err, out)
		}
		if m := adoptSummary.FindStringSubmatch(out); m != nil {
			imported, _ = strconv.ParseUint(m[1], 10, 64)
			from, _ = strconv.ParseUint(m[2], 10, 64)
			to, _ = strconv.ParseUint(m[3], 10, 64)
		}
		if !strings.Contains(out, "equal to Trillian's root") {
			t.Fatalf("hallmark adopt did not confirm the root:\n%s", out)
		}
		return imported, from, to, out
	}
	total := uint64(6 + extra)
	_, from, to, out := adoptRun()
	if from == 0 || from >= total || to != total {
		t.Fatalf("resumed run imported %d → %d, want a start inside (0, %d) and the end %d:\n%s", from, to, total, total, out)
	}
	t.Logf("interrupted at %d, resumed to %d:\n%s", from, to, out)

	// --- The tail: Rekor keeps taking entries until it is frozen. ---
	signBlob("blob-4")
	total++
	if n, from, to, out := adoptRun(); n != 1 || from != total-1 || to != total {
		t.Fatalf("catch-up run: %d entries %d → %d:\n%s", n, from, to, out)
	}

	// Trillian's own read speed, for docs/BENCHMARKS.md: all leaves, one
	// GetLeavesByRange of 1,000 at a time, then four at a time.
	measureTrillianReads(t, s, total)

	// Record what Rekor serves, then freeze it: stop Rekor.
	rekorCLI("loginfo") // stores Rekor's checkpoint in $HOME/.rekor
	info, err := getJSON(s.url + "/api/v1/log")
	if err != nil {
		t.Fatal(err)
	}
	rekorSize := uint64(info["treeSize"].(float64))
	rekorRoot, _ := hex.DecodeString(info["rootHash"].(string))
	rekorSTH := info["signedTreeHead"].(string)
	if rekorSize != total {
		t.Fatalf("Rekor has %d entries, expected %d", rekorSize, total)
	}
	// Some entries at both ends, and a stride through the imported
	// leaves: their integrated times are those of Trillian's sequencing
	// passes, carried by the import's checkpoint rows.
	sample := []uint64{0, 1, 2, 3, 4, 5, total / 2, total - 2, total - 1}
	for i := uint64(7); i < total-2; i += max(1, total/50) {
		sample = append(sample, i)
	}
	before := map[uint64]v1Entry{}
	for _, i := range sample {
		before[i] = readV1Entry(t, s.url, i)
	}
	cliGet := rekorCLI("get", "--uuid", cliUUID, "--format", "json")
	s.rekor.stop()

	// --- Cut-over: hallmark-log at Rekor's address. ---
	p := &logProc{t: t, dir: hdir, config: config, addr: s.addr}
	p.start()
	t.Cleanup(p.kill)

	// Entries read back identically: UUID, index, body, integrated time, log ID.
	for _, i := range sample {
		if got := readV1Entry(t, s.url, i); got != before[i] {
			t.Errorf("entry %d: Hallmark serves %+v, Rekor served %+v", i, got, before[i])
		}
	}
	if got := rekorCLI("get", "--uuid", cliUUID, "--format", "json"); !sameCLIEntry(t, got, cliGet) {
		t.Errorf("rekor-cli get: Hallmark says\n%s\nRekor said\n%s", got, cliGet)
	}
	// Search keys were rebuilt from the leaves.
	d := sha256.Sum256([]byte("rekor-cli artifact cli-artifact-1"))
	if out := rekorCLI("search", "--sha", hex.EncodeToString(d[:])); !strings.Contains(out, cliUUID) {
		t.Errorf("search by artifact hash: %s", out)
	}

	// Old cosign bundles verify (offline, with Rekor's key), and so does
	// online verification, which finds the entry in Hallmark.
	for _, name := range []string{"blob-1", "blob-2", "blob-3", "blob-4"} {
		for _, args := range [][]string{{"--bundle", name + ".bundle"}, {"--signature", name + ".sig"}} {
			verify := append([]string{"verify-blob", "--key", "cosign.pub", "--rekor-url", s.url}, args...)
			if out, err := run(t, dir, env, cosign, append(verify, name)...); err != nil || !strings.Contains(out, "Verified OK") {
				t.Errorf("cosign %v %s after adoption: %v\n%s", verify, name, err, out)
			}
		}
	}

	// New entries continue the log.
	signBlob("blob-5")
	b5 := readBundleIndex(t, filepath.Join(dir, "blob-5.bundle"))
	if b5 != total {
		t.Errorf("first new entry has index %d, want %d", b5, total)
	}
	uuid := cliUpload("cli-artifact-2")
	if got := readV1Entry(t, s.url, total+1); got.UUID != uuid {
		t.Errorf("second new entry: %+v, want UUID %s at %d", got, uuid, total+1)
	}

	// Hallmark's checkpoint is consistent with Rekor's last one, and signed
	// as Rekor signed it.
	out = rekorCLI("loginfo") // proves consistency from the stored Rekor checkpoint
	if !strings.Contains(out, "Verification Successful") || strings.Contains(out, "No previous log state") {
		t.Errorf("rekor-cli loginfo after cut-over: %s", out)
	}
	info, err = getJSON(s.url + "/api/v1/log")
	if err != nil {
		t.Fatal(err)
	}
	size := uint64(info["treeSize"].(float64))
	root, _ := hex.DecodeString(info["rootHash"].(string))
	pr, err := getJSON(fmt.Sprintf("%s/api/v1/log/proof?firstSize=%d&lastSize=%d", s.url, rekorSize, size))
	if err != nil {
		t.Fatal(err)
	}
	var hashes [][]byte
	for _, h := range pr["hashes"].([]any) {
		b, _ := hex.DecodeString(h.(string))
		hashes = append(hashes, b)
	}
	if err := proof.VerifyConsistency(rfc6962.DefaultHasher, rekorSize, size, hashes, rekorRoot, root); err != nil {
		t.Errorf("consistency %d→%d from Rekor's last checkpoint: %v", rekorSize, size, err)
	}
	priv, _ := tlog.LoadPrivateKey(s.keyFile)
	v, _ := format.NewNoteVerifier(rekorHostname, priv.Public())
	for _, sth := range []string{rekorSTH, info["signedTreeHead"].(string)} {
		n, err := note.Open([]byte(sth), note.VerifierList(v))
		if err != nil {
			t.Errorf("checkpoint does not verify with Rekor's key and name: %v\n%s", err, sth)
			continue
		}
		if want := fmt.Sprintf("%s - %d\n", rekorHostname, s.treeID); !strings.HasPrefix(n.Text, want) {
			t.Errorf("checkpoint origin: %q, want %q", n.Text, want)
		}
	}
}

// measureTrillianReads reads the whole tree through the importer's
// Trillian source and logs the rate.
func measureTrillianReads(t *testing.T, s *rekorStack, size uint64) {
	ctx := context.Background()
	src, err := adopt.DialTrillian(ctx, adopt.TrillianOptions{Address: s.trillianAddr, TreeID: s.treeID, Insecure: true})
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	for _, parallel := range []int{1, 4} {
		start := time.Now()
		var next atomic.Uint64
		var wg sync.WaitGroup
		for w := 0; w < parallel; w++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for from := next.Add(1000) - 1000; from < size; from = next.Add(1000) - 1000 {
					for got := from; got < min(from+1000, size); {
						leaves, err := src.Leaves(ctx, got, min(from+1000, size)-got)
						if err != nil {
							t.Error(err)
							return
						}
						got += uint64(len(leaves))
					}
				}
			}()
		}
		wg.Wait()
		el := time.Since(start)
		t.Logf("Trillian GetLeavesByRange, %d leaves, %d call(s) of 1,000 at a time: %v, %.0f leaves/s", size, parallel, el.Round(time.Millisecond), float64(size)/el.Seconds())
	}
}

// sameCLIEntry compares the parts of two `rekor-cli get --format json`
// outputs that are not freshly signed per read.
func sameCLIEntry(t *testing.T, a, b string) bool {
	t.Helper()
	pick := func(s string) string {
		var m map[string]any
		if err := json.Unmarshal([]byte(s[strings.Index(s, "{"):]), &m); err != nil {
			t.Fatalf("rekor-cli get output: %v\n%s", err, s)
		}
		out, _ := json.Marshal([]any{m["UUID"], m["LogIndex"], m["IntegratedTime"], m["LogID"], m["Body"]})
		return string(out)
	}
	return pick(a) == pick(b)
}

// readBundleIndex returns the log index in a cosign v2 bundle file.
func readBundleIndex(t *testing.T, path string) uint64 {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var b struct {
		RekorBundle struct {
			Payload struct {
				LogIndex uint64 `json:"logIndex"`
			} `json:"Payload"`
		} `json:"rekorBundle"`
	}
	if err := json.Unmarshal(raw, &b); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return b.RekorBundle.Payload.LogIndex
}

// TestIndexKeysFromCanonicalMatchesRekor compares the index keys rebuilt
// from stored leaves with what Rekor's own backfill-index computes for the
// same leaves (types.UnmarshalEntry of the canonical entry, IndexKeys).
func TestIndexKeysFromCanonicalMatchesRekor(t *testing.T) {
	raw, err := os.ReadFile(vectorsFile)
	if err != nil {
		t.Fatal(err)
	}
	var vs []vector
	if err := json.Unmarshal(raw, &vs); err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, v := range vs {
		if v.Canonical == "" {
			continue
		}
		pe, err := models.UnmarshalProposedEntry(bytes.NewReader([]byte(v.Canonical)), runtime.JSONConsumer())
		if err != nil {
			t.Fatalf("%s: %v", v.Name, err)
		}
		var want []string
		e, err := rekortypes.UnmarshalEntry(pe)
		if err == nil {
			want, err = e.IndexKeys()
		}
		got, gotErr := rekorv1.IndexKeysFromCanonical([]byte(v.Canonical))
		if err != nil {
			// Rekor's backfill indexes nothing for this leaf.
			if gotErr == nil {
				t.Errorf("%s: Rekor fails (%v), Hallmark gives %q", v.Name, err, got)
			}
			continue
		}
		n++
		for i := range want {
			want[i] = strings.ToLower(want[i])
		}
		slices.Sort(want)
		want = slices.Compact(want)
		slices.Sort(got)
		if gotErr != nil || !slices.Equal(got, want) {
			t.Errorf("%s: Hallmark %q (%v), Rekor %q", v.Name, got, gotErr, want)
		}
	}
	if n < 20 {
		t.Fatalf("only %d vectors compared", n)
	}
}

package api

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/transparency-dev/merkle/proof"
	"github.com/transparency-dev/merkle/rfc6962"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	"github.com/hallmark-dev/hallmark/api/logpb"
	"github.com/hallmark-dev/hallmark/tlog"
)

func newTestService(t *testing.T, extra string) (*LogService, *httptest.Server) {
	t.Helper()
	dir := t.TempDir()
	key, _ := tlog.GenerateKey("ed25519")
	os.WriteFile(filepath.Join(dir, "k.pem"), key, 0o600)
	cfg, err := tlog.ParseServiceConfig(fmt.Appendf(nil, `
database: {sqlite: %q}
limits: {max_request_bytes: 1000}
logs:
  - name: main
    kind: tiles
    url: https://log.example.com/main
    key_file: %q
    batch: {max_age: 5ms}
%s`, filepath.Join(dir, "db"), filepath.Join(dir, "k.pem"), extra))
	if err != nil {
		t.Fatal(err)
	}
	return serveConfig(t, cfg)
}

// serveConfig starts a LogService for cfg behind an HTTP test server; both
// stop when the test ends.
func serveConfig(t *testing.T, cfg *tlog.ServiceConfig) (*LogService, *httptest.Server) {
	t.Helper()
	svc, err := NewLogService(context.Background(), cfg, slog.Default())
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(svc.Handler())
	t.Cleanup(func() { srv.Close(); svc.Close() })
	return svc, srv
}

func get(t *testing.T, url string) (int, http.Header, []byte) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, b
}

func TestLogHTTP(t *testing.T) {
	svc, srv := newTestService(t, "")
	base := srv.URL + "/main"
	for i := 0; i < 300; i++ {
		resp, err := http.Post(base+"/entries", "application/octet-stream", strings.NewReader(fmt.Sprint("entry ", i)))
		if err != nil || resp.StatusCode != 201 {
			t.Fatalf("append %d: %v %v", i, resp.StatusCode, err)
		}
		resp.Body.Close()
	}
	// Duplicate: 200 with the same index.
	resp, _ := http.Post(base+"/entries", "", strings.NewReader("entry 7"))
	var ar appendResponse
	json.NewDecoder(resp.Body).Decode(&ar)
	resp.Body.Close()
	if resp.StatusCode != 200 || !ar.Duplicate || ar.Index != 7 {
		t.Fatalf("duplicate: %d %+v", resp.StatusCode, ar)
	}

	for _, tc := range []struct {
		path  string
		code  int
		cache string
	}{
		{"/checkpoint", 200, cacheNone},
		{"/tile/0/000", 200, cacheImmutable},
		{"/tile/0/001.p/44", 200, cachePartial},
		{"/tile/0/001.p/45", 404, ""},
		{"/tile/0/001", 404, ""},
		{"/tile/1/000.p/1", 200, cachePartial},
		{"/tile/entries/000", 200, cacheImmutable},
		{"/tile/entries/001.p/44", 200, cachePartial},
		{"/tile/entries/002", 404, ""},
		{"/tile/0/x000/001", 400, ""},
		{"/tile/99/000", 400, ""},
		{"/proof/inclusion?index=3", 200, cacheNone},
		{"/proof/inclusion?index=300", 400, ""},
		{"/proof/inclusion?index=-1", 400, ""},
		{"/proof/inclusion?index=1&leaf_hash=00", 400, ""},
		{"/proof/inclusion?leaf_hash=" + strings.Repeat("ab", 32), 404, ""},
		{"/proof/consistency?first_size=10&second_size=300", 200, cacheNone},
		{"/proof/consistency?first_size=10&second_size=301", 400, ""},
		{"/proof/consistency?first_size=20&second_size=10", 400, ""},
	} {
		code, h, body := get(t, base+tc.path)
		if code != tc.code {
			t.Errorf("%s: HTTP %d, want %d: %s", tc.path, code, tc.code, body)
		}
		if tc.cache != "" && h.Get("Cache-Control") != tc.cache {
			t.Errorf("%s: Cache-Control %q, want %q", tc.path, h.Get("Cache-Control"), tc.cache)
		}
		if code >= 400 && !bytes.Contains(body, []byte(`"message"`)) {
			t.Errorf("%s: error body without message: %s", tc.path, body)
		}
	}
	if code, _, body := get(t, base+"/tile/0/000"); code != 200 || len(body) != 8192 {
		t.Fatalf("full tile: %d bytes", len(body))
	}

	// Inclusion by leaf hash, verified.
	lh := rfc6962.DefaultHasher.HashLeaf([]byte("entry 42"))
	_, _, body := get(t, fmt.Sprintf("%s/proof/inclusion?leaf_hash=%x", base, lh))
	var ip struct {
		Index      string   `json:"index"`
		TreeSize   string   `json:"tree_size"`
		Hashes     [][]byte `json:"hashes"`
		Checkpoint struct {
			RootHash []byte `json:"root_hash"`
		} `json:"checkpoint"`
	}
	if err := json.Unmarshal(body, &ip); err != nil {
		t.Fatal(err)
	}
	if ip.Index != "42" || ip.TreeSize != "300" {
		t.Fatalf("proof by leaf hash: %s", body)
	}
	if err := proof.VerifyInclusion(rfc6962.DefaultHasher, 42, 300, lh, ip.Hashes, ip.Checkpoint.RootHash); err != nil {
		t.Fatal(err)
	}

	// Request body limit: 413.
	resp, _ = http.Post(base+"/entries", "", bytes.NewReader(make([]byte, 1001)))
	if resp.StatusCode != 413 {
		t.Fatalf("oversized body: HTTP %d", resp.StatusCode)
	}
	resp.Body.Close()
	resp, _ = http.Post(base+"/entries", "", nil)
	if resp.StatusCode != 400 {
		t.Fatalf("empty body: HTTP %d", resp.StatusCode)
	}
	resp.Body.Close()
	if code, _, _ := get(t, srv.URL+"/healthz"); code != 200 {
		t.Fatalf("healthz: %d", code)
	}
	if code, _, body := get(t, srv.URL+"/metrics"); code != 200 || !bytes.Contains(body, []byte("hallmark_log_batch_entries")) {
		t.Fatalf("metrics: %d", code)
	}

	// gRPC.
	lis, _ := net.Listen("tcp", "127.0.0.1:0")
	go svc.GRPCServer().Serve(lis)
	conn, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	c := logpb.NewLogClient(conn)
	ctx := context.Background()
	cp, err := c.GetCheckpoint(ctx, &logpb.GetCheckpointRequest{Log: "main"})
	if err != nil || cp.Size != 300 || cp.Origin != "log.example.com/main" {
		t.Fatalf("GetCheckpoint: %v %v", cp, err)
	}
	incl, err := c.GetInclusionProof(ctx, &logpb.GetInclusionProofRequest{Log: "main", Leaf: &logpb.GetInclusionProofRequest_Index{Index: 99}, TreeSize: 200})
	if err != nil {
		t.Fatal(err)
	}
	r200, _ := svc.Log("main").RootAt(ctx, 200)
	if err := proof.VerifyInclusion(rfc6962.DefaultHasher, 99, 200, incl.LeafHash, incl.Hashes, r200); err != nil {
		t.Fatal(err)
	}
	cons, err := c.GetConsistencyProof(ctx, &logpb.GetConsistencyProofRequest{Log: "main", FirstSize: 200})
	if err != nil {
		t.Fatal(err)
	}
	if err := proof.VerifyConsistency(rfc6962.DefaultHasher, 200, cons.SecondSize, cons.Hashes, r200, cons.Checkpoint.RootHash); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		err  error
		code codes.Code
	}{
		{func() error { _, e := c.GetCheckpoint(ctx, &logpb.GetCheckpointRequest{Log: "nope"}); return e }(), codes.NotFound},
		{func() error {
			_, e := c.GetInclusionProof(ctx, &logpb.GetInclusionProofRequest{Log: "main", Leaf: &logpb.GetInclusionProofRequest_Index{Index: 500}})
			return e
		}(), codes.InvalidArgument},
		{func() error {
			_, e := c.GetConsistencyProof(ctx, &logpb.GetConsistencyProofRequest{Log: "main", FirstSize: 5, SecondSize: 4000})
			return e
		}(), codes.InvalidArgument},
	} {
		if status.Code(tc.err) != tc.code {
			t.Errorf("gRPC error %v, want %v", tc.err, tc.code)
		}
	}
}

func TestErrorMapping(t *testing.T) {
	for _, tc := range []struct {
		err  error
		http int
		grpc codes.Code
	}{
		{fmt.Errorf("log x: %w", tlog.ErrPushback), 503, codes.Unavailable},
		{fmt.Errorf("%w: bad", tlog.ErrInvalidRequest), 400, codes.InvalidArgument},
		{fmt.Errorf("x: %w", tlog.ErrNotFound), 404, codes.NotFound},
		{tlog.ErrEntryTooLarge, 413, codes.ResourceExhausted},
		{fmt.Errorf("log x: %w", tlog.ErrReadOnly), 405, codes.FailedPrecondition},
		{fmt.Errorf("couldn't commit batch: log x: %w", tlog.ErrFrozen), 503, codes.Unavailable},
		{fmt.Errorf("boom"), 500, codes.Internal},
	} {
		h, g := classify(tc.err)
		if h != tc.http || g != tc.grpc {
			t.Errorf("%v: %d %v, want %d %v", tc.err, h, g, tc.http, tc.grpc)
		}
	}
	rec := httptest.NewRecorder()
	writeError(rec, httptest.NewRequest("GET", "/", nil), tlog.ErrPushback)
	if rec.Code != 503 || rec.Header().Get("Retry-After") == "" {
		t.Fatalf("pushback: %d %v", rec.Code, rec.Header())
	}
}

func TestConfigStrict(t *testing.T) {
	for _, bad := range []string{
		"database: {sqlite: x}\nlogs: [{name: a, kind: tiles, url: 'http://h/a', key_file: k}]\nunknown: 1\n",
		"database: {sqlite: x}\nlogs: [{name: a, kind: tiles, url: 'http://h/a', key_file: k, typo: 1}]\n",
		"database: {sqlite: x}\nlogs: [{name: a, kind: nope, url: 'http://h/a', key_file: k}]\n",
		"database: {sqlite: x}\nlogs: [{name: a, kind: rekor-v1, url: 'http://h/a', key_file: k}]\n",
		"database: {sqlite: x, url: 'postgres://x'}\nlogs: [{name: a, kind: tiles, url: 'http://h/a', key_file: k}]\n",
		"database: {sqlite: x}\nlogs: [{name: a, kind: tiles, url: 'http://h/a', key_file: k}, {name: b, kind: tiles, url: 'http://h/a', key_file: k}]\n",
		"database: {sqlite: x}\nlogs: [{name: a, kind: tiles, url: 'h/a', key_file: k}]\n",
	} {
		if _, err := tlog.ParseServiceConfig([]byte(bad)); err == nil {
			t.Errorf("accepted invalid config:\n%s", bad)
		}
	}
}

package api

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/hallmark-dev/hallmark/tlog"
)

// twoServices opens a read-write and a read-only service on one SQLite
// file, with a log of each kind.
func twoServices(t *testing.T) (rw, ro *httptest.Server, roSvc *LogService) {
	t.Helper()
	dir := t.TempDir()
	for name, alg := range map[string]string{"ed": "ed25519", "ec": "ecdsa-p256"} {
		key, _ := tlog.GenerateKey(alg)
		os.WriteFile(filepath.Join(dir, name+".pem"), key, 0o600)
	}
	config := func(readOnly bool) *tlog.ServiceConfig {
		cfg, err := tlog.ParseServiceConfig(fmt.Appendf(nil, `
database: {sqlite: %[1]q}
read_only: %[2]v
logs:
  - {name: main, kind: tiles, url: https://log.example.com/main, key_file: %[3]q, batch: {max_age: 5ms}}
  - {name: v1, kind: rekor-v1, url: https://log.example.com/v1, key_file: %[4]q, rekor: {tree_id: 7}}
  - {name: v2, kind: rekor-v2, url: https://v2.example.com/v2, key_file: %[3]q}
`, filepath.Join(dir, "db"), readOnly, filepath.Join(dir, "ed.pem"), filepath.Join(dir, "ec.pem")))
		if err != nil {
			t.Fatal(err)
		}
		return cfg
	}
	_, rw = serveConfig(t, config(false))
	roSvc, ro = serveConfig(t, config(true))
	return rw, ro, roSvc
}

func TestReadOnlyReplica(t *testing.T) {
	rw, ro, roSvc := twoServices(t)
	for i := 0; i < 300; i++ {
		resp, err := http.Post(rw.URL+"/main/entries", "", strings.NewReader(fmt.Sprint("entry ", i)))
		if err != nil || resp.StatusCode != 201 {
			t.Fatalf("append %d: %v %v", i, resp.StatusCode, err)
		}
		resp.Body.Close()
	}
	time.Sleep(1100 * time.Millisecond) // the replica refreshes its checkpoint every second
	for _, path := range []string{
		"/main/checkpoint", "/main/tile/0/000", "/main/tile/0/001.p/44", "/main/tile/entries/001.p/44",
		"/main/proof/inclusion?index=17&tree_size=300", "/main/proof/consistency?first_size=10&second_size=300",
		"/v1/api/v1/log", "/v2/checkpoint",
	} {
		code, _, want := get(t, rw.URL+path)
		code2, _, got := get(t, ro.URL+path)
		if code != 200 || code2 != 200 || !bytes.Equal(got, want) {
			t.Errorf("GET %s: read-write %d, read-only %d; same body: %v", path, code, code2, bytes.Equal(got, want))
		}
	}
	// Writes are refused with 405 and a message saying why.
	for _, path := range []string{"/main/entries", "/v1/api/v1/log/entries", "/v2/api/v2/log/entries"} {
		resp, err := http.Post(ro.URL+path, "application/json", strings.NewReader("{}"))
		if err != nil {
			t.Fatal(err)
		}
		var body bytes.Buffer
		body.ReadFrom(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusMethodNotAllowed || !strings.Contains(body.String(), "read-only") {
			t.Errorf("POST %s on the read-only replica: %d %s", path, resp.StatusCode, body.String())
		}
	}
	// Rekor v1 searches are POSTs that only read: they are served.
	resp, err := http.Post(ro.URL+"/v1/api/v1/index/retrieve", "application/json", strings.NewReader(`{"hash":"sha256:`+strings.Repeat("a", 64)+`"}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Errorf("index/retrieve on the read-only replica: %d", resp.StatusCode)
	}
	// gRPC CreateEntry fails with FAILED_PRECONDITION.
	_, err = roSvc.rekorServer(roSvc.logs[2], nil).CreateEntry(context.Background(), nil)
	if status.Code(err) != codes.FailedPrecondition {
		t.Errorf("CreateEntry on a read-only replica: %v", err)
	}
	// The engine refuses appends too, without queueing them.
	if _, err := roSvc.Log("main").Append(context.Background(), tlog.Entry{Data: []byte("x")}); err == nil || !strings.Contains(err.Error(), "read-only") {
		t.Errorf("Append on a read-only log: %v", err)
	}
}

func TestReadOnlyNeedsExistingLog(t *testing.T) {
	dir := t.TempDir()
	key, _ := tlog.GenerateKey("ed25519")
	os.WriteFile(filepath.Join(dir, "k.pem"), key, 0o600)
	cfg, err := tlog.ParseServiceConfig(fmt.Appendf(nil, "database: {sqlite: %q}\nread_only: true\nlogs:\n  - {name: main, kind: tiles, url: https://log.example.com/main, key_file: %q}\n",
		filepath.Join(dir, "db"), filepath.Join(dir, "k.pem")))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := NewLogService(context.Background(), cfg, slog.Default()); err == nil || !strings.Contains(err.Error(), "does not exist") {
		t.Fatalf("read-only replica of a log that does not exist: %v", err)
	}
}

// TestFrozenLog freezes one log of a service (a rotated-out shard): it is
// still served and its proofs still work, it refuses writes, and the other
// log keeps accepting them.
func TestFrozenLog(t *testing.T) {
	dir := t.TempDir()
	key, _ := tlog.GenerateKey("ed25519")
	os.WriteFile(filepath.Join(dir, "k.pem"), key, 0o600)
	start := func(frozen bool) *httptest.Server {
		cfg, err := tlog.ParseServiceConfig(fmt.Appendf(nil, `
database: {sqlite: %[1]q}
logs:
  - {name: old, kind: tiles, url: https://log.example.com/old, key_file: %[2]q, read_only: %[3]v, batch: {max_age: 5ms}}
  - {name: new, kind: tiles, url: https://log.example.com/new, key_file: %[2]q, batch: {max_age: 5ms}}
`, filepath.Join(dir, "db"), filepath.Join(dir, "k.pem"), frozen))
		if err != nil {
			t.Fatal(err)
		}
		_, srv := serveConfig(t, cfg)
		return srv
	}
	post := func(srv *httptest.Server, log, body string) int {
		resp, err := http.Post(srv.URL+"/"+log+"/entries", "", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	before := start(false)
	for i := 0; i < 20; i++ {
		if c := post(before, "old", fmt.Sprint("old ", i)); c != 201 {
			t.Fatalf("append to old: %d", c)
		}
	}
	_, _, cp := get(t, before.URL+"/old/checkpoint")
	before.Close()

	after := start(true)
	if c := post(after, "old", "one more"); c != http.StatusMethodNotAllowed {
		t.Fatalf("append to the frozen log: %d, want 405", c)
	}
	if c := post(after, "new", "new 0"); c != 201 {
		t.Fatalf("append to the active log: %d", c)
	}
	code, _, cp2 := get(t, after.URL+"/old/checkpoint")
	if code != 200 || !bytes.Equal(cp, cp2) {
		t.Fatalf("frozen log's checkpoint: %d, unchanged %v", code, bytes.Equal(cp, cp2))
	}
	if code, _, _ := get(t, after.URL+"/old/proof/inclusion?index=7&tree_size=20"); code != 200 {
		t.Fatalf("inclusion proof from the frozen log: %d", code)
	}
}

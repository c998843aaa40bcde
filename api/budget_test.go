package api

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"

	"github.com/hallmark-dev/hallmark/tlog"
)

// TestServeLimits runs hallmark-log as main does (ListenConfig, Serve)
// with /metrics on its own listener and a small byte budget: a request
// that does not fit gets 503 + Retry-After before its body is sent, and
// the budget's metrics are on the metrics listener only.
func TestServeLimits(t *testing.T) {
	dir := t.TempDir()
	key, _ := tlog.GenerateKey("ed25519")
	os.WriteFile(filepath.Join(dir, "k.pem"), key, 0o600)
	cfg, err := tlog.ParseServiceConfig(fmt.Appendf(nil, `
listen: {http: 127.0.0.1:0, grpc: 127.0.0.1:0, metrics: 127.0.0.1:0}
database: {sqlite: %q}
limits: {max_request_bytes: 1000, inflight_bytes: 2000, inflight_wait: 100ms}
logs:
  - {name: main, kind: tiles, url: https://log.example.com/main, key_file: %q, batch: {max_age: 5ms}}
`, filepath.Join(dir, "db"), filepath.Join(dir, "k.pem")))
	if err != nil {
		t.Fatal(err)
	}
	if l := cfg.Limits.Admission(); l.MaxConnections != 512 || l.BodyTimeout != 30*time.Second || l.GRPCMaxStreams != 100 {
		t.Errorf("defaults: %+v", l)
	}
	svc, err := NewLogService(context.Background(), cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	defer svc.Close()
	ls, err := ListenConfig(cfg.Listen)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- svc.Serve(ctx, ls, svc.Handler()) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	}()
	api := "http://" + ls.HTTP.Addr().String()
	metrics := "http://" + ls.Metrics.Addr().String() + "/metrics"

	// gRPC is served with the same limits and budget.
	cc, err := grpc.NewClient(ls.GRPC.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer cc.Close()
	if _, err := healthpb.NewHealthClient(cc).Check(ctx, &healthpb.HealthCheckRequest{}); err != nil {
		t.Errorf("gRPC health: %v", err)
	}

	// Two senders declare 1000 bytes each and send nothing: the budget is full.
	for i := 0; i < 2; i++ {
		conn, err := net.Dial("tcp", ls.HTTP.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		fmt.Fprintf(conn, "POST /main/entries HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n")
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		_, _, b := get(t, metrics)
		if strings.Contains(string(b), "hallmark_log_request_budget_in_use_bytes 2000") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the budget never filled:\n%s", b)
		}
		time.Sleep(20 * time.Millisecond)
	}
	resp, err := http.Post(api+"/main/entries", "application/octet-stream", strings.NewReader("honest"))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 503 || resp.Header.Get("Retry-After") != "1" || !strings.Contains(string(b), "overloaded") {
		t.Errorf("request over the budget: %d %q %s", resp.StatusCode, resp.Header.Get("Retry-After"), b)
	}
	if _, err := healthpb.NewHealthClient(cc).Check(ctx, &healthpb.HealthCheckRequest{}); status.Code(err) != codes.Unavailable {
		t.Errorf("gRPC while the budget is full: %v", err)
	}
	// A declared length over max_request_bytes: 413 before the body.
	conn, err := net.Dial("tcp", ls.HTTP.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprintf(conn, "POST /main/entries HTTP/1.1\r\nHost: x\r\nContent-Length: 5000\r\n\r\n")
	conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	if resp, err := http.ReadResponse(bufio.NewReader(conn), nil); err != nil || resp.StatusCode != 413 {
		t.Errorf("oversized declared length: %v %v", resp, err)
	}

	if code, _, _ := get(t, api+"/metrics"); code != 404 {
		t.Errorf("/metrics on the API listener with listen.metrics set: %d", code)
	}
	_, _, b = get(t, metrics)
	for _, m := range []string{`hallmark_log_request_budget_refused_total{api="grpc"} 1`, `hallmark_log_request_budget_refused_total{api="http"} 1`, `hallmark_log_request_budget_refused_total{api="http_too_large"} 1`,
		`hallmark_log_request_budget_bytes 2000`, `hallmark_log_connections_open{listener="http"}`} {
		if !strings.Contains(string(b), m) {
			t.Errorf("metrics lack %s", m)
		}
	}
}

func TestLimitsConfig(t *testing.T) {
	base := "database: {sqlite: x}\nlogs: [{name: a, kind: tiles, url: 'http://h/a', key_file: k}]\n"
	for _, bad := range []string{
		"limits: {max_request_bytes: 4194304, inflight_bytes: 4194304}\n",
		"limits: {body_timeout: 10ms}\n",
		"limits: {max_connections: -1}\n",
		"limits: {grpc_max_connection_age: 1s}\n",
	} {
		if _, err := tlog.ParseServiceConfig([]byte(base + bad)); err == nil || !strings.Contains(err.Error(), "limits") {
			t.Errorf("accepted %s(%v)", bad, err)
		}
	}
	cfg, err := tlog.ParseServiceConfig([]byte(base + "listen: {metrics: '127.0.0.1:9090'}\nlimits: {inflight_bytes: 16777216, idle_timeout: 5m}\n"))
	if err != nil {
		t.Fatal(err)
	}
	if l := cfg.Limits.Admission(); l.InflightBytes != 16<<20 || l.IdleTimeout != 5*time.Minute || l.InflightWait != time.Second || cfg.Listen.Metrics != "127.0.0.1:9090" {
		t.Errorf("parsed %+v %+v", l, cfg.Listen)
	}
}

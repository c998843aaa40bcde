package admission

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"
)

var (
	errOverload = errors.New("overloaded")
	errTooBig   = errors.New("too large")
)

func newController(t *testing.T, l Limits, maxBytes int64) *Controller {
	t.Helper()
	c := New(Options{Limits: l, MaxRequestBytes: maxBytes, Namespace: "test", Registerer: prometheus.NewRegistry(),
		Overload: errOverload, TooLarge: errTooBig})
	c.headerTimeout = time.Second
	return c
}

// waitFor polls cond for up to 5 s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if cond() {
			return
		}
	}
	t.Fatalf("timed out waiting for %s", what)
}

func TestBudget(t *testing.T) {
	ctx := context.Background()
	b := newBudget(1 << 20) // large reservations share 768 KiB
	if _, err := b.reserve(ctx, 1<<20, 0); err == nil {
		t.Fatal("a reservation over the large share was granted")
	}
	big, err := b.reserve(ctx, 512<<10, 0)
	if err != nil || big {
		t.Fatalf("first large reservation: waited=%v %v", big, err)
	}
	if _, err := b.reserve(ctx, 512<<10, 0); err == nil {
		t.Fatal("second large reservation exceeded the large share")
	}
	// Small reservations still fit in the quarter kept for them.
	for i := 0; i < 8; i++ {
		if _, err := b.reserve(ctx, 32<<10, 0); err != nil {
			t.Fatalf("small reservation %d: %v", i, err)
		}
	}
	if got := b.inUse(); got != 512<<10+8*32<<10 {
		t.Fatalf("in use %d", got)
	}
	// A waiter is woken by a release.
	r := &Reservation{b: b, n: 512 << 10}
	done := make(chan error)
	go func() {
		waited, err := b.reserve(ctx, 400<<10, 5*time.Second)
		if err == nil && !waited {
			err = errors.New("did not wait")
		}
		done <- err
	}()
	time.Sleep(50 * time.Millisecond)
	r.Shrink(1 << 10) // shrinking frees the large share
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	r.Release()
	r.Release() // idempotent
	if got := b.inUse(); got != 400<<10+8*32<<10 {
		t.Fatalf("in use after release %d", got)
	}
	// A wait that ends refuses.
	start := time.Now()
	if _, err := b.reserve(ctx, 700<<10, 100*time.Millisecond); !errors.Is(err, errBudget) || time.Since(start) < 100*time.Millisecond {
		t.Fatalf("bounded wait: %v after %v", err, time.Since(start))
	}
}

// rawRequest sends a request's headers (no body) on a fresh connection
// and returns the connection and a reader of its response.
func rawRequest(t *testing.T, addr, path string, contentLength int) (net.Conn, *bufio.Reader) {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	fmt.Fprintf(conn, "POST %s HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n", path, contentLength)
	return conn, bufio.NewReader(conn)
}

// TestHTTP: requests are refused before their bodies are read when the
// budget is full or their declared length is too large; small requests
// keep being served; a slow sender's reservation ends at the body timeout.
func TestHTTP(t *testing.T) {
	c := newController(t, Limits{InflightBytes: 2 << 20, InflightWait: 200 * time.Millisecond, BodyTimeout: 2 * time.Second}, 1<<20)
	var mu sync.Mutex
	var bodyErrs []error
	h := c.HTTP(1<<20, func(w http.ResponseWriter, r *http.Request, err error) {
		switch {
		case errors.Is(err, errOverload):
			w.Header().Set("Retry-After", "1")
			http.Error(w, err.Error(), http.StatusServiceUnavailable)
		case errors.Is(err, errTooBig):
			http.Error(w, err.Error(), http.StatusRequestEntityTooLarge)
		default:
			http.Error(w, err.Error(), http.StatusInternalServerError)
		}
	}, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, err := io.ReadAll(r.Body)
		if err != nil {
			mu.Lock()
			bodyErrs = append(bodyErrs, err)
			mu.Unlock()
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		fmt.Fprintf(w, "%d", len(b))
	}))
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := c.HTTPServer(h, nil)
	go srv.Serve(c.Listener(ln, "http"))
	defer srv.Close()
	addr := ln.Addr().String()
	url := "http://" + addr + "/"

	// A slow sender declares 1 MiB and sends nothing: it holds 1 MiB.
	rawRequest(t, addr, "/", 1<<20)
	waitFor(t, "the slow sender's reservation", func() bool { return c.budget.inUse() == 1<<20 })

	// A second large body does not fit the large share: 503 after the
	// wait, its body never sent.
	start := time.Now()
	_, br := rawRequest(t, addr, "/", 600<<10)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != 503 || resp.Header.Get("Retry-After") != "1" || time.Since(start) > 2*time.Second {
		t.Errorf("large request while the budget is full: %d %q after %v", resp.StatusCode, resp.Header.Get("Retry-After"), time.Since(start))
	}
	// A declared length over the limit, from a sender waiting for
	// 100-continue or beyond TooLargeDrainBytes: 413 at once, nothing read.
	for _, req := range []string{
		"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 2097152\r\nExpect: 100-continue\r\n\r\n",
		fmt.Sprintf("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n", TooLargeDrainBytes+1),
	} {
		conn, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		fmt.Fprint(conn, req)
		start := time.Now()
		if resp, err = http.ReadResponse(bufio.NewReader(conn), nil); err != nil || resp.StatusCode != 413 || time.Since(start) > time.Second {
			t.Errorf("oversized declared length: %v %v after %v", resp, err, time.Since(start))
		}
	}
	// An oversized body written whole before the answer is read, as most
	// clients do (Go's under load, so cosign's): the sender sees the 413,
	// never a reset of the connection under the rest of its body.
	for i := 0; i < 3; i++ {
		conn, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		fmt.Fprintf(conn, "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n", 9<<20)
		if _, err := conn.Write(make([]byte, 9<<20)); err != nil {
			t.Fatalf("writing oversized body %d: %v", i, err)
		}
		if resp, err = http.ReadResponse(bufio.NewReader(conn), nil); err != nil || resp.StatusCode != 413 {
			t.Fatalf("oversized body %d: %v %v", i, resp, err)
		}
	}
	// Small requests are still answered.
	for i := 0; i < 5; i++ {
		resp, err := http.Post(url, "text/plain", strings.NewReader(strings.Repeat("x", 1000)))
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || string(b) != "1000" {
			t.Errorf("small request %d: %d %s", i, resp.StatusCode, b)
		}
	}
	// Chunked bodies reserve the limit.
	resp, err = http.Post(url, "text/plain", io.MultiReader(strings.NewReader("abc")))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 503 {
		t.Errorf("chunked request while the large share is used: %d", resp.StatusCode)
	}
	// The slow sender's body times out and its budget is released.
	waitFor(t, "the body timeout to release the budget", func() bool { return c.budget.inUse() == 0 })
	mu.Lock()
	if len(bodyErrs) != 1 || !errors.Is(bodyErrs[0], os.ErrDeadlineExceeded) {
		t.Errorf("slow body errors: %v", bodyErrs)
	}
	mu.Unlock()
	if n := testutil.ToFloat64(c.m.bodyTimeouts.WithLabelValues("http")); n != 1 {
		t.Errorf("body timeouts metric %v", n)
	}
	if n := testutil.ToFloat64(c.m.refused.WithLabelValues("http")); n != 2 {
		t.Errorf("refused metric %v", n)
	}
	if n := testutil.ToFloat64(c.m.refused.WithLabelValues("http_too_large")); n != 5 {
		t.Errorf("too large metric %v", n)
	}
	// Then a large chunked body fits again.
	resp, err = http.Post(url, "text/plain", io.MultiReader(bytes.NewReader(make([]byte, 900<<10))))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || string(b) != fmt.Sprint(900<<10) {
		t.Errorf("large chunked request after release: %d %s", resp.StatusCode, b)
	}
}

// h2Stream opens a raw HTTP/2 connection and starts a gRPC call to method
// with headers only: the message is never sent.
func h2Stream(t *testing.T, addr, method string) net.Conn {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	conn.Write([]byte(http2.ClientPreface))
	fr := http2.NewFramer(conn, conn)
	fr.WriteSettings()
	var hb bytes.Buffer
	enc := hpack.NewEncoder(&hb)
	for _, kv := range [][2]string{{":method", "POST"}, {":scheme", "http"}, {":path", method}, {":authority", "x"},
		{"content-type", "application/grpc"}, {"te", "trailers"}} {
		enc.WriteField(hpack.HeaderField{Name: kv[0], Value: kv[1]})
	}
	if err := fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: hb.Bytes(), EndHeaders: true}); err != nil {
		t.Fatal(err)
	}
	go io.Copy(io.Discard, conn) //nolint:errcheck // frames from the server
	return conn
}

func grpcServer(t *testing.T, c *Controller) (addr string) {
	t.Helper()
	gs := grpc.NewServer(c.GRPCServerOptions(func(_ context.Context, err error) error {
		return status.Error(codes.Unavailable, err.Error())
	}, nil)...)
	healthpb.RegisterHealthServer(gs, health.NewServer())
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go gs.Serve(c.Listener(ln, "grpc"))
	t.Cleanup(gs.Stop)
	return ln.Addr().String()
}

// TestGRPCBudget: a stream reserves the largest message when its headers
// arrive, before any message byte; when the budget is full new streams get
// UNAVAILABLE; a stream whose message does not arrive is cancelled at the
// body timeout and its budget released; a decoded request keeps only its
// size.
func TestGRPCBudget(t *testing.T) {
	c := newController(t, Limits{InflightBytes: 2 << 20, BodyTimeout: time.Second}, 1<<20)
	addr := grpcServer(t, c)
	cc, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer cc.Close()
	client := healthpb.NewHealthClient(cc)
	ctx := context.Background()
	if _, err := client.Check(ctx, &healthpb.HealthCheckRequest{}); err != nil {
		t.Fatalf("quiet check: %v", err)
	}
	if n := c.budget.inUse(); n != 0 {
		t.Fatalf("after a unary call %d bytes stay reserved", n)
	}
	// A Watch stream keeps only its decoded request's size.
	wctx, cancel := context.WithCancel(ctx)
	w, err := client.Watch(wctx, &healthpb.HealthCheckRequest{Service: "x"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Recv(); err != nil {
		t.Fatal(err)
	}
	if n := c.budget.inUse(); n != 3 {
		t.Errorf("watch stream holds %d bytes, want its request's 3", n)
	}
	cancel()
	waitFor(t, "the watch to release", func() bool { return c.budget.inUse() == 0 })

	// A hostile stream sends headers and no message: 1 MiB is reserved,
	// the large share (1.5 MiB) cannot take another.
	h2Stream(t, addr, "/grpc.health.v1.Health/Check")
	waitFor(t, "the stream's reservation", func() bool { return c.budget.inUse() == 1<<20 })
	if _, err := client.Check(ctx, &healthpb.HealthCheckRequest{}); status.Code(err) != codes.Unavailable {
		t.Errorf("check while the budget is held: %v", err)
	}
	if n := testutil.ToFloat64(c.m.refused.WithLabelValues("grpc")); n != 1 {
		t.Errorf("refused metric %v", n)
	}
	// The body timeout cancels it.
	waitFor(t, "the body timeout", func() bool { return c.budget.inUse() == 0 })
	if n := testutil.ToFloat64(c.m.bodyTimeouts.WithLabelValues("grpc")); n != 1 {
		t.Errorf("body timeouts metric %v", n)
	}
	if _, err := client.Check(ctx, &healthpb.HealthCheckRequest{}); err != nil {
		t.Errorf("check after the release: %v", err)
	}
}

// readsEOF reports whether the server closes conn within d.
func readsEOF(conn net.Conn, d time.Duration) error {
	conn.SetReadDeadline(time.Now().Add(d))
	_, err := io.Copy(io.Discard, conn)
	if err == nil {
		return nil // EOF: closed by the server
	}
	return err
}

// TestIdleConnectionsClosed: a gRPC connection that only sent the HTTP/2
// preface, one that also sent its settings and then nothing, and an HTTP
// connection that sends nothing are all closed within a bounded time.
func TestIdleConnectionsClosed(t *testing.T) {
	c := newController(t, Limits{IdleTimeout: time.Second}, 1<<20)
	addr := grpcServer(t, c)

	preface, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer preface.Close()
	preface.Write([]byte(http2.ClientPreface))

	settings, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer settings.Close()
	settings.Write([]byte(http2.ClientPreface))
	http2.NewFramer(settings, settings).WriteSettings()

	hln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	hs := c.HTTPServer(http.NotFoundHandler(), nil)
	go hs.Serve(c.Listener(hln, "http"))
	defer hs.Close()
	silent, err := net.Dial("tcp", hln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer silent.Close()

	start := time.Now()
	for name, conn := range map[string]net.Conn{"preface only": preface, "preface and settings": settings, "silent HTTP": silent} {
		err := readsEOF(conn, 10*time.Second)
		t.Logf("%s: closed after %v", name, time.Since(start))
		if err != nil {
			t.Errorf("%s: still open after %v: %v", name, time.Since(start), err)
		}
	}
	t.Logf("all closed after %v", time.Since(start))
	waitFor(t, "the open-connection gauges", func() bool {
		return testutil.ToFloat64(c.m.connsOpen.WithLabelValues("grpc")) == 0 && testutil.ToFloat64(c.m.connsOpen.WithLabelValues("http")) == 0
	})
}

// TestListenerCap: beyond MaxConnections a connection is closed at accept
// and counted; a freed slot is reused.
func TestListenerCap(t *testing.T) {
	c := newController(t, Limits{MaxConnections: 2}, 1<<20)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	hs := c.HTTPServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") }), nil)
	go hs.Serve(c.Listener(ln, "http"))
	defer hs.Close()
	addr := ln.Addr().String()
	var held []net.Conn
	for i := 0; i < 2; i++ {
		conn, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		held = append(held, conn)
	}
	waitFor(t, "two open connections", func() bool { return testutil.ToFloat64(c.m.connsOpen.WithLabelValues("http")) == 2 })
	third, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer third.Close()
	if err := readsEOF(third, 5*time.Second); err != nil {
		t.Errorf("third connection not closed: %v", err)
	}
	if n := testutil.ToFloat64(c.m.connsRefused.WithLabelValues("http")); n != 1 {
		t.Errorf("refused connections %v", n)
	}
	held[0].Close()
	waitFor(t, "a freed slot", func() bool { return testutil.ToFloat64(c.m.connsOpen.WithLabelValues("http")) == 1 })
	resp, err := http.Get("http://" + addr + "/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Errorf("request in a freed slot: %d", resp.StatusCode)
	}
}

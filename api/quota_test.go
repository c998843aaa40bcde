package api

import (
	"bufio"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	rekortilespb "github.com/sigstore/rekor-tiles/v2/pkg/generated/protobuf"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	"github.com/hallmark-dev/hallmark/internal/quota/quotatest"
	"github.com/hallmark-dev/hallmark/tlog"
)

// quotaService serves a config with one log of each kind on real
// listeners (HTTP and gRPC on 127.0.0.1), with quota (a YAML quota:
// block) and extra per-log YAML for the tiles log.
func quotaService(t *testing.T, quotaYAML, tilesExtra string) (svc *LogService, httpAddr, grpcAddr string) {
	t.Helper()
	dir := t.TempDir()
	for name, alg := range map[string]string{"ed": "ed25519", "ec": "ecdsa-p256"} {
		key, _ := tlog.GenerateKey(alg)
		os.WriteFile(filepath.Join(dir, name+".pem"), key, 0o600)
	}
	rootKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	der, _ := x509.CreateCertificate(rand.Reader, tmpl, tmpl, rootKey.Public(), rootKey)
	os.WriteFile(filepath.Join(dir, "roots.pem"), pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600)
	cfg, err := tlog.ParseServiceConfig(fmt.Appendf(nil, `
listen: {http: 127.0.0.1:0, grpc: 127.0.0.1:0}
database: {sqlite: %[1]q}
quota: %[5]s
logs:
  - {name: main, kind: tiles, url: https://log.example.com/main, key_file: %[2]q, batch: {max_age: 5ms}%[6]s}
  - {name: v1, kind: rekor-v1, url: https://log.example.com/v1, key_file: %[3]q, rekor: {tree_id: 7}}
  - {name: v2, kind: rekor-v2, url: https://v2.example.com/v2, key_file: %[2]q}
  - {name: ct, kind: ct, url: https://ct.example.com/ct, key_file: %[3]q, ct: {roots_file: %[4]q}}
`, filepath.Join(dir, "db"), filepath.Join(dir, "ed.pem"), filepath.Join(dir, "ec.pem"), filepath.Join(dir, "roots.pem"), quotaYAML, tilesExtra))
	if err != nil {
		t.Fatal(err)
	}
	svc, err = NewLogService(context.Background(), cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	ls, err := ListenConfig(cfg.Listen)
	if err != nil {
		svc.Close()
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- svc.Serve(ctx, ls, svc.Handler()) }()
	t.Cleanup(func() {
		cancel()
		<-done
		svc.Close()
	})
	return svc, ls.HTTP.Addr().String(), ls.GRPC.Addr().String()
}

// postFrom posts body to url as the client forwardedFor (when not empty).
func postFrom(t testing.TB, url, forwardedFor, body string) (int, http.Header, []byte) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, url, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	if forwardedFor != "" {
		req.Header.Set("X-Forwarded-For", forwardedFor)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, out
}

// TestWriteQuotaEveryAPI: each write API of each log kind answers 429
// with Retry-After, in its own error shape, before the body is sent, once
// the log's per-address quota is used up; each log has its own buckets;
// reads are not limited; gRPC CreateEntry shares Rekor v2's bucket and
// gets RESOURCE_EXHAUSTED with a RetryInfo.
func TestWriteQuotaEveryAPI(t *testing.T) {
	svc, addr, grpcAddr := quotaService(t, "{per_address: {rate: 1, per: 1h, burst: 2}}", "")
	for _, tc := range []struct {
		path string
		// grpcCode: the body's code is the gRPC code (grpc-gateway's
		// shape), not the HTTP status (Rekor v1's and the others').
		grpcCode bool
	}{
		{"/main/entries", false},
		{"/v1/api/v1/log/entries", false},
		{"/v2/api/v2/log/entries", true},
		{"/ct/ct/v1/add-chain", false},
	} {
		for i := range 2 { // within the quota: refused for their content, if at all
			if code, _, body := postFrom(t, "http://"+addr+tc.path, "", fmt.Sprint(`{"x":`, i, `}`)); code == 429 {
				t.Fatalf("%s: request %d within the quota: %d %s", tc.path, i, code, body)
			}
		}
		conn, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		fmt.Fprintf(conn, "POST %s HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 500\r\n\r\n", tc.path)
		conn.SetReadDeadline(time.Now().Add(5 * time.Second))
		resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
		if err != nil {
			t.Fatalf("%s: no answer before the body: %v", tc.path, err)
		}
		var body struct {
			Code    int    `json:"code"`
			Message string `json:"message"`
			Details []any  `json:"details"`
		}
		raw, _ := io.ReadAll(resp.Body)
		json.Unmarshal(raw, &body)
		wantCode := 429
		if tc.grpcCode {
			wantCode = int(codes.ResourceExhausted)
		}
		retry, _ := strconv.Atoi(resp.Header.Get("Retry-After"))
		if resp.StatusCode != 429 || body.Code != wantCode || retry < 1 || !strings.Contains(body.Message, "quota exceeded: the per client address limit") ||
			(tc.grpcCode && body.Details == nil) {
			t.Errorf("%s over the quota: %d Retry-After %q %s", tc.path, resp.StatusCode, resp.Header.Get("Retry-After"), raw)
		}
	}
	// Reads pass.
	if code, _, _ := get(t, "http://"+addr+"/main/checkpoint"); code != 200 {
		t.Errorf("checkpoint read after the write quota is used: %d", code)
	}
	// gRPC: the same client, the same (used) Rekor v2 bucket.
	conn, err := grpc.NewClient(grpcAddr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_, err = rekortilespb.NewRekorClient(conn).CreateEntry(context.Background(), &rekortilespb.CreateEntryRequest{})
	st := status.Convert(err)
	var info *errdetails.RetryInfo
	for _, d := range st.Details() {
		if ri, ok := d.(*errdetails.RetryInfo); ok {
			info = ri
		}
	}
	if st.Code() != codes.ResourceExhausted || !strings.Contains(st.Message(), "log v2: quota exceeded") || info.GetRetryDelay().AsDuration() <= 0 {
		t.Errorf("gRPC CreateEntry over the quota: %v (retry info %v)", err, info)
	}
	for _, log := range []string{"main", "v1", "v2", "ct"} {
		want := 1.0
		if log == "v2" {
			want = 2 // REST and gRPC
		}
		if n := quotaLimited(svc, log, "per client address"); n != want {
			t.Errorf("log %s: %v refusals counted, want %v", log, n, want)
		}
	}
}

// TestWriteQuotaIdentity: the per-identity limiter the write policy uses,
// with a per-log override of the service default.
func TestWriteQuotaIdentity(t *testing.T) {
	svc, _, _ := quotaService(t, "{per_identity: {rate: 1, per: 1h, burst: 1}}", ", quota: {per_identity: {rate: 1, per: 1h, burst: 2}}")
	for log, allowed := range map[string]int{"main": 2, "v1": 1} {
		q := svc.identityQuota(log)
		for i := range allowed {
			if err := q.CheckIdentity("https://issuer\x00ci@example.com"); err != nil {
				t.Fatalf("log %s, request %d: %v", log, i, err)
			}
		}
		err := q.CheckIdentity("https://issuer\x00ci@example.com")
		if code, _ := classify(err); code != 429 || !strings.Contains(err.Error(), "log "+log+": quota exceeded: the per identity limit") {
			t.Errorf("log %s over the identity quota: %d %v", log, code, err)
		}
		if err := q.CheckIdentity("https://issuer\x00other@example.com"); err != nil {
			t.Errorf("log %s: another identity: %v", log, err)
		}
	}
}

// TestWriteQuotaRunawayClient: one client address hammers a log in a
// tight loop while another keeps appending. The runaway gets 429s, and
// what it appends stays within its quota; every entry of the other
// client is appended, at a latency close to its baseline; refused
// requests never reach the log; the runaway recovers after Retry-After.
func TestWriteQuotaRunawayClient(t *testing.T) {
	svc, addr, _ := quotaService(t, "{trusted_proxies: [127.0.0.1], per_address: {rate: 1, per: 10s, burst: 40}}", "")
	url := "http://" + addr + "/main/entries"
	n := 0
	honest := func() time.Duration {
		start := time.Now()
		n++
		if code, _, body := postFrom(t, url, "198.51.100.2", fmt.Sprint("honest ", n)); code != 201 {
			t.Fatalf("honest client: %d %s", code, body)
		}
		return time.Since(start)
	}
	var appended, refused, i int
	start := time.Now()
	loop := quotatest.StartRunaway(func() {
		i++
		switch code, h, body := postFrom(t, url, "203.0.113.1", fmt.Sprint("runaway ", i)); code {
		case 201:
			appended++
		case 429:
			if h.Get("Retry-After") == "" {
				t.Errorf("429 without Retry-After: %s", body)
			}
			refused++
		default:
			t.Errorf("runaway: %d %s", code, body)
		}
	})
	// The runaway uses up its burst and is refused 50 times; then the
	// honest client appends, alternately while the runaway is quiet and
	// while it loops, so that the machine's load weighs on both samples.
	loop.During(func() {
		for deadline := time.Now().Add(time.Minute); quotaLimited(svc, "main", "per client address") < 50; time.Sleep(time.Millisecond) {
			if time.Now().After(deadline) {
				t.Error("the runaway was not refused 50 times in a minute")
				return
			}
		}
	})
	var quiet, loaded []time.Duration
	for range 10 { // 40 entries: within the honest client's burst
		quiet = append(quiet, honest(), honest())
		loop.During(func() { loaded = append(loaded, honest(), honest()) })
	}
	loop.Stop()
	elapsed := time.Since(start)
	t.Logf("runaway: %d appended, %d refused in %v; honest median %v while it is quiet, %v while it loops",
		appended, refused, elapsed.Round(time.Millisecond), quotatest.Median(quiet), quotatest.Median(loaded))
	if max := 40 + int(elapsed.Seconds()/10) + 1; appended > max {
		t.Errorf("runaway appended %d entries, its quota allows %d", appended, max)
	}
	cp, err := svc.Log("main").Checkpoint(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if cp.Size != uint64(n+appended) {
		t.Errorf("log size %d, want %d honest + %d runaway entries: refused requests reached the log", cp.Size, n, appended)
	}
	// A refusal costs a route match and a bucket, so the honest client's
	// median stays within a small factor of its median while the runaway
	// is quiet: the bound is a generous ratio (the runaway's loop shares
	// the machine's cores).
	if m, b := quotatest.Median(loaded), quotatest.Median(quiet); m > 10*b+2*time.Millisecond {
		t.Errorf("honest median %v while the runaway loops, %v while it is quiet", m, b)
	}
	code, h, _ := postFrom(t, url, "203.0.113.1", "runaway, after")
	if code == 429 {
		secs, _ := strconv.Atoi(h.Get("Retry-After"))
		time.Sleep(time.Duration(secs) * time.Second)
		code, _, _ = postFrom(t, url, "203.0.113.1", "runaway, after")
	}
	if code != 201 {
		t.Errorf("runaway after Retry-After: %d", code)
	}
}

// quotaLimited reads hallmark_log_quota_limited_total of a log and scope.
func quotaLimited(svc *LogService, log, scope string) float64 {
	mfs, _ := svc.Registry().Gather()
	for _, mf := range mfs {
		if mf.GetName() != "hallmark_log_quota_limited_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			labels := map[string]string{}
			for _, l := range m.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			if labels["log"] == log && labels["scope"] == scope {
				return m.GetCounter().GetValue()
			}
		}
	}
	return 0
}

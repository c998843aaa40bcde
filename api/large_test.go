package api

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	rekortilespb "github.com/sigstore/rekor-tiles/v2/pkg/generated/protobuf"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	"github.com/hallmark-dev/hallmark/tlog"
	"github.com/hallmark-dev/hallmark/tlog/format"
)

// largeEntryConfig is a service with a Rekor v1 and a Rekor v2 log whose
// dsse (and intoto) entries may be 256 KiB, four times max_request_bytes,
// and whose hashedrekord entries may be 2 KiB.
func largeEntryConfig(t *testing.T) *tlog.ServiceConfig {
	t.Helper()
	dir := t.TempDir()
	for _, name := range []string{"v1", "v2"} {
		key, _ := tlog.GenerateKey("ecdsa-p256")
		os.WriteFile(filepath.Join(dir, name+".pem"), key, 0o600)
	}
	cfg, err := tlog.ParseServiceConfig(fmt.Appendf(nil, `database: {sqlite: %q}
limits: {max_request_bytes: 65536, inflight_bytes: 1572864}
logs:
  - name: v1
    kind: rekor-v1
    url: https://log.example.com/v1
    key_file: %q
    rekor: {tree_id: 1}
    batch: {max_age: 5ms}
    limits: {max_entry_bytes: {dsse: 256KiB, intoto: 256KiB, hashedrekord: 2KiB}}
  - name: v2
    kind: rekor-v2
    url: https://log.example.com/v2
    key_file: %q
    batch: {max_age: 5ms}
    limits: {max_entry_bytes: {dsse: 256KiB, hashedrekord: 2KiB}}
`, filepath.Join(dir, "db"), filepath.Join(dir, "v1.pem"), filepath.Join(dir, "v2.pem")))
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// signedDSSE is a dsse entry (Rekor v1 request body) over a payload of n
// bytes, signed with a fresh P-256 key.
func signedDSSE(t *testing.T, n int) []byte {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	der, _ := x509.MarshalPKIXPublicKey(key.Public())
	payload := bytes.Repeat([]byte("s"), n)
	digest := sha256.Sum256(format.PAE("application/vnd.in-toto+json", payload))
	sig, _ := ecdsa.SignASN1(rand.Reader, key, digest[:])
	env, _ := json.Marshal(map[string]any{"payloadType": "application/vnd.in-toto+json", "payload": base64.StdEncoding.EncodeToString(payload),
		"signatures": []map[string]string{{"sig": base64.StdEncoding.EncodeToString(sig)}}})
	body, _ := json.Marshal(map[string]any{"apiVersion": "0.0.1", "kind": "dsse", "spec": map[string]any{"proposedContent": map[string]any{
		"envelope": string(env), "verifiers": []string{base64.StdEncoding.EncodeToString(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}))}}}})
	return body
}

func post(t *testing.T, url string, body []byte) (int, map[string]any) {
	t.Helper()
	resp, err := http.Post(url, "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var answer map[string]any
	json.Unmarshal(raw, &answer) //nolint:errcheck // checked by the callers' expectations
	return resp.StatusCode, answer
}

// TestEntrySizeLimits: entry submissions are admitted up to the largest of
// the log's per-type limits, beyond max_request_bytes, and each type is
// then held to its own; every refusal is a 413 in the API's shape that
// names the limit (and, once parsed, the type). Other routes keep
// max_request_bytes.
func TestEntrySizeLimits(t *testing.T) {
	svc, srv := serveConfig(t, largeEntryConfig(t))
	v1, v2 := srv.URL+"/v1/api/v1/log/entries", srv.URL+"/v2/api/v2/log/entries"

	// A 150 KiB dsse entry, over max_request_bytes, is logged.
	large := signedDSSE(t, 100<<10)
	if len(large) <= 65536 {
		t.Fatalf("the large entry is only %d bytes", len(large))
	}
	if code, answer := post(t, v1, large); code != 201 {
		t.Fatalf("large dsse entry: %d %v", code, answer)
	}

	// Over the route's maximum: refused before the body is read.
	over := bytes.Repeat([]byte(" "), 256<<10+1)
	code, answer := post(t, v1, over)
	if msg, _ := answer["message"].(string); code != 413 || answer["code"] != float64(413) ||
		!strings.Contains(msg, "over the limit of 262144 bytes") || !strings.Contains(msg, "dsse 262144, hashedrekord 2048, intoto 262144") {
		t.Errorf("v1 body over the largest entry limit: %d %v", code, answer)
	}
	code, answer = post(t, v2, over)
	if msg, _ := answer["message"].(string); code != 413 || answer["code"] != float64(codes.ResourceExhausted) || !strings.Contains(msg, "over the limit of 262144 bytes") {
		t.Errorf("v2 body over the largest entry limit: %d %v", code, answer)
	}

	// Over its own type's limit, once parsed.
	hr := fmt.Appendf(nil, `{"kind":"hashedrekord","apiVersion":"0.0.1","spec":{"x":%q}}`, strings.Repeat("h", 3000))
	code, answer = post(t, v1, hr)
	if msg, _ := answer["message"].(string); code != 413 || !strings.Contains(msg, fmt.Sprintf("the hashedrekord entry is %d bytes, this log accepts hashedrekord entries of at most 2048 bytes", len(hr))) {
		t.Errorf("v1 hashedrekord over its limit: %d %v", code, answer)
	}
	hr2 := fmt.Appendf(nil, `{"hashedRekordRequestV002":{"digest":%q}}`, base64.StdEncoding.EncodeToString(make([]byte, 3000)))
	code, answer = post(t, v2, hr2)
	if msg, _ := answer["message"].(string); code != 413 || answer["code"] != float64(codes.ResourceExhausted) ||
		!strings.Contains(msg, "this log accepts hashedrekord entries of at most 2048 bytes") {
		t.Errorf("v2 hashedrekord over its limit: %d %v", code, answer)
	}

	// Searches keep max_request_bytes.
	if code, _ := post(t, srv.URL+"/v1/api/v1/log/entries/retrieve", bytes.Repeat([]byte(" "), 70000)); code != 413 {
		t.Errorf("v1 search over max_request_bytes: %d", code)
	}

	// gRPC: the per-type limit holds on the message.
	lis, _ := net.Listen("tcp", "127.0.0.1:0")
	go svc.GRPCServer().Serve(lis)
	conn, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_, err = rekortilespb.NewRekorClient(conn).CreateEntry(context.Background(), &rekortilespb.CreateEntryRequest{
		Spec: &rekortilespb.CreateEntryRequest_HashedRekordRequestV002{HashedRekordRequestV002: &rekortilespb.HashedRekordRequestV002{Digest: make([]byte, 3000)}}})
	if status.Code(err) != codes.ResourceExhausted || !strings.Contains(err.Error(), "this log accepts hashedrekord entries of at most 2048 bytes") {
		t.Errorf("gRPC hashedrekord over its limit: %v", err)
	}

	// Every refusal is counted, by log and entry type.
	for _, c := range []struct {
		log, kind string
		want      float64
	}{{"v1", "unparsed", 1}, {"v1", "hashedrekord", 1}, {"v2", "unparsed", 1}, {"v2", "hashedrekord", 2}, {"v1", "dsse", 0}} {
		if got := refusedCount(t, svc, c.log, c.kind); got != c.want {
			t.Errorf("hallmark_log_entry_size_refused_total{log=%q,kind=%q} = %v, want %v", c.log, c.kind, got, c.want)
		}
	}
}

func refusedCount(t *testing.T, svc *LogService, log, kind string) float64 {
	t.Helper()
	mfs, err := svc.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != "hallmark_log_entry_size_refused_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			labels := map[string]string{}
			for _, l := range m.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			if labels["log"] == log && labels["kind"] == kind {
				return m.GetCounter().GetValue()
			}
		}
	}
	return 0
}

// TestLargeEntryReservation: a body over max_request_bytes holds three
// times its length (tlog.EntryReserveFactor) from the budget while it is
// read and decoded.
func TestLargeEntryReservation(t *testing.T) {
	svc, srv := serveConfig(t, largeEntryConfig(t))
	conn, err := net.Dial("tcp", strings.TrimPrefix(srv.URL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	// Declares 200 KiB and sends nothing: reserves 600 KiB.
	fmt.Fprintf(conn, "POST /v1/api/v1/log/entries HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n", 200<<10)
	inUse := func() float64 {
		mfs, _ := svc.Registry().Gather()
		for _, mf := range mfs {
			if mf.GetName() == "hallmark_log_request_budget_in_use_bytes" {
				return mf.GetMetric()[0].GetGauge().GetValue()
			}
		}
		return -1
	}
	for range 500 {
		if inUse() == 600<<10 {
			return
		}
		time.Sleep(10 * time.Millisecond) // polling a gauge, not synchronising
	}
	t.Fatalf("the budget in use is %v, want the 600 KiB a 200 KiB entry reserves", inUse())
}

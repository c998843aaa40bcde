package fulcioapi_test

import (
	"context"
	"crypto/elliptic"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	fulcioapi "github.com/hallmark-dev/hallmark/api/fulcio"
	"github.com/hallmark-dev/hallmark/ca"
)

// freeAddr returns a loopback address that was free a moment ago.
func freeAddr(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// TestServiceAdmission runs hallmark-ca as `hallmark-ca serve` does, with
// the TSA and listen.metrics: a timestamp request declaring more than 8 KiB
// is refused (413, DER) before its body is read, and /metrics is served on
// its own listener only.
func TestServiceAdmission(t *testing.T) {
	dir := t.TempDir()
	pw := []byte("service-test-password")
	d, err := ca.NewDeployment(ca.InitOptions{Organization: "test", Curve: elliptic.P256()})
	if err != nil {
		t.Fatal(err)
	}
	if err := d.WriteFiles(dir, pw); err != nil {
		t.Fatal(err)
	}
	if _, err := ca.InitTSA(dir, pw, ca.TSAInitOptions{}); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(dir, "pw"), pw, 0o600)
	metricsAddr := freeAddr(t)
	cfg, err := ca.ParseConfig([]byte(`
listen: {http: 127.0.0.1:0, grpc: "off", metrics: ` + metricsAddr + `}
signer: {type: file, chain_file: ` + filepath.Join(dir, ca.ChainFile) + `, file: {key_file: ` + filepath.Join(dir, ca.IntermediateKeyFile) + `, password_file: ` + filepath.Join(dir, "pw") + `}}
tsa:
  signer: {type: file, chain_file: ` + filepath.Join(dir, ca.TSAChainFile) + `, file: {key_file: ` + filepath.Join(dir, ca.TSAKeyFile) + `, password_file: ` + filepath.Join(dir, "pw") + `}}
issuers: [{url: "https://idp.example.com", type: email}]
`))
	if err != nil {
		t.Fatal(err)
	}
	svc, err := fulcioapi.NewService(cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	defer svc.Close()
	ctx, cancel := context.WithCancel(context.Background())
	done, addr := make(chan error, 1), make(chan string, 1)
	go func() { done <- svc.ListenAndServe(ctx, func(h, _ string) { addr <- h }) }()
	var api string
	select {
	case a := <-addr:
		api = a
	case err := <-done:
		t.Fatal(err)
	}
	defer func() { cancel(); <-done }()

	resp := headersOnly(t, api, "/api/v1/timestamp", 9000)
	if resp.StatusCode != 413 || resp.Header.Get("Content-Type") != "application/timestamp-reply" {
		t.Errorf("timestamp request declaring 9000 bytes: %d %q", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	// The same length is fine for the Fulcio API (max_request_bytes).
	r, err := http.Post("http://"+api+"/api/v2/signingCert", "application/json", strings.NewReader(strings.Repeat(" ", 9000)+"{}"))
	if err != nil {
		t.Fatal(err)
	}
	r.Body.Close()
	if r.StatusCode != 401 { // read and parsed: no token
		t.Errorf("signingCert of 9002 bytes: %d", r.StatusCode)
	}
	r, err = http.Get("http://" + api + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	r.Body.Close()
	if r.StatusCode != 404 {
		t.Errorf("/metrics on listen.http with listen.metrics set: %d", r.StatusCode)
	}
	r, err = http.Get("http://" + metricsAddr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(r.Body)
	r.Body.Close()
	for _, m := range []string{`hallmark_ca_request_budget_bytes 3.3554432e+07`, `hallmark_ca_request_budget_refused_total{api="http_too_large"} 1`,
		`hallmark_tsa_requests_rejected_total{reason="bad_request"} 1`, `hallmark_ca_connections_open{listener="http"}`} {
		if !strings.Contains(string(b), m) {
			t.Errorf("metrics lack %s", m)
		}
	}
}

package fulcioapi_test

import (
	"bufio"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	fulciopb "github.com/sigstore/fulcio/pkg/generated/protobuf"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	fulcioapi "github.com/hallmark-dev/hallmark/api/fulcio"
	"github.com/hallmark-dev/hallmark/ca"
	"github.com/hallmark-dev/hallmark/oidc"
)

// headersOnly sends a POST's headers with a declared length and no body,
// and reads the response (which must come without the body).
func headersOnly(t *testing.T, addr, path string, length int) *http.Response {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	fmt.Fprintf(conn, "POST %s HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nAuthorization: Bearer x.y.z\r\nContent-Length: %d\r\n\r\n", path, length)
	conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("no answer before the body was sent: %v", err)
	}
	return resp
}

// TestAdmissionBeforeBody: the issuance cap and the size limit are checked
// before a request's body is read, on REST and on gRPC.
func TestAdmissionBeforeBody(t *testing.T) {
	entered, release := make(chan struct{}), make(chan struct{})
	var once sync.Once
	idp := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		once.Do(func() { close(entered) })
		<-release
		http.NotFound(w, r)
	}))
	defer idp.Close()
	v, err := oidc.NewVerifier([]oidc.IssuerConfig{{URL: idp.URL, Type: oidc.TypeKubernetes}}, oidc.Options{})
	if err != nil {
		t.Fatal(err)
	}
	rootKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	root, _ := ca.CreateRoot(rootKey, ca.CertTemplate{Organization: "test", CommonName: "root", Validity: time.Hour})
	c, _ := ca.New(rootKey, []*x509.Certificate{root}, ca.Options{})
	srv := fulcioapi.New(v, c, fulcioapi.Options{MaxInFlight: 1, MaxRequestBytes: 64 << 10,
		Registry: prometheus.NewRegistry(), Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	hs := httptest.NewServer(srv.Handler())
	defer hs.Close()
	addr := strings.TrimPrefix(hs.URL, "http://")

	// A declared length over max_request_bytes: 413 without the body.
	if resp := headersOnly(t, addr, "/api/v2/signingCert", 1<<20); resp.StatusCode != 413 {
		t.Errorf("oversized declared length: %d", resp.StatusCode)
	}

	token := b64json(map[string]string{"alg": "ES256", "kid": "k"}) + "." + b64json(map[string]any{"iss": idp.URL, "sub": "x"}) + ".c2ln"
	go func() {
		req, _ := http.NewRequest(http.MethodPost, hs.URL+"/api/v2/signingCert", strings.NewReader(`{}`))
		req.Header.Set("Authorization", "Bearer "+token)
		if resp, err := http.DefaultClient.Do(req); err == nil {
			resp.Body.Close()
		}
	}()
	select {
	case <-entered: // the first request holds the only slot
	case <-time.After(10 * time.Second):
		close(release)
		t.Fatal("first request never reached the IdP")
	}
	defer close(release)
	for _, path := range []string{"/api/v2/signingCert", "/api/v1/signingCert"} {
		resp := headersOnly(t, addr, path, 1000)
		if resp.StatusCode != 503 || resp.Header.Get("Retry-After") != "1" {
			t.Errorf("%s while the slot is held: %d %q", path, resp.StatusCode, resp.Header.Get("Retry-After"))
		}
	}

	// gRPC: the slot is checked in the tap, before the message is read.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	gs := grpc.NewServer(srv.GRPCServerOptions()...)
	fulciopb.RegisterCAServer(gs, srv)
	go gs.Serve(ln)
	defer gs.Stop()
	conn, err := grpc.NewClient(ln.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	client := fulciopb.NewCAClient(conn)
	_, err = client.CreateSigningCertificate(context.Background(), &fulciopb.CreateSigningCertificateRequest{})
	if status.Code(err) != codes.Unavailable || !strings.Contains(err.Error(), "overloaded") {
		t.Errorf("gRPC while the slot is held: %v", err)
	}
	if _, err := client.GetTrustBundle(context.Background(), &fulciopb.GetTrustBundleRequest{}); err != nil {
		t.Errorf("GetTrustBundle is not capped: %v", err)
	}
}

package fulcioapi_test

import (
	"bufio"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	fulciopb "github.com/sigstore/fulcio/pkg/generated/protobuf"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	fulcioapi "github.com/hallmark-dev/hallmark/api/fulcio"
	"github.com/hallmark-dev/hallmark/ca"
	"github.com/hallmark-dev/hallmark/internal/quota"
	"github.com/hallmark-dev/hallmark/internal/quota/quotatest"
	"github.com/hallmark-dev/hallmark/oidc"
	"github.com/hallmark-dev/hallmark/oidc/devissuer"
)

// quotaEnv is a CA with quotas, a GitHub-like and an email issuer, behind
// a real HTTP server and a real gRPC server on 127.0.0.1.
type quotaEnv struct {
	url, grpcAddr string
	gh, mail      *devissuer.Issuer
	reg           *prometheus.Registry
	csr           []byte
}

func newQuotaEnv(t *testing.T, q func(gh, mail string) ca.QuotaConfig) *quotaEnv {
	t.Helper()
	gh, err := devissuer.Start("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { gh.Close() })
	mail, err := devissuer.Start("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { mail.Close() })
	v, err := oidc.NewVerifier([]oidc.IssuerConfig{{URL: gh.URL(), Type: oidc.TypeGitHubWorkflow}, {URL: mail.URL(), Type: oidc.TypeEmail}}, oidc.Options{})
	if err != nil {
		t.Fatal(err)
	}
	rootKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	root, _ := ca.CreateRoot(rootKey, ca.CertTemplate{Organization: "test", CommonName: "root", Validity: time.Hour})
	c, err := ca.New(rootKey, []*x509.Certificate{root}, ca.Options{})
	if err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	srv := fulcioapi.New(v, c, fulcioapi.Options{MaxRequestBytes: 64 << 10, Registry: reg,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Quota: q(gh.URL(), mail.URL())})
	hs := httptest.NewServer(srv.Handler())
	t.Cleanup(hs.Close)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	gs := grpc.NewServer(srv.GRPCServerOptions()...)
	fulciopb.RegisterCAServer(gs, srv)
	go gs.Serve(ln)
	t.Cleanup(gs.Stop)
	k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	der, _ := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{}, k)
	return &quotaEnv{url: hs.URL, grpcAddr: ln.Addr().String(), gh: gh, mail: mail, reg: reg,
		csr: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der})}
}

// request asks for a certificate with a CSR over REST v2, as the client
// at forwardedFor (when not empty), and returns the status, Retry-After
// and body.
func (e *quotaEnv) request(t testing.TB, token, forwardedFor string) (int, string, []byte) {
	t.Helper()
	body, _ := json.Marshal(map[string]any{"certificateSigningRequest": e.csr})
	req, _ := http.NewRequest(http.MethodPost, e.url+"/api/v2/signingCert", strings.NewReader(string(body)))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+token)
	if forwardedFor != "" {
		req.Header.Set("X-Forwarded-For", forwardedFor)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header.Get("Retry-After"), out
}

func (e *quotaEnv) mint(t testing.TB, is *devissuer.Issuer, c devissuer.Claims) string {
	t.Helper()
	tok, err := is.Mint(c)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// checkFulcioRefusal checks a 429 body: google.rpc.Status JSON with
// RESOURCE_EXHAUSTED, the limit's name and a RetryInfo.
func checkFulcioRefusal(t *testing.T, code int, retryAfter string, body []byte, scope string) {
	t.Helper()
	var st struct {
		Code    int    `json:"code"`
		Message string `json:"message"`
		Details []struct {
			Type       string `json:"@type"`
			RetryDelay string `json:"retryDelay"`
		} `json:"details"`
	}
	if err := json.Unmarshal(body, &st); err != nil {
		t.Fatalf("429 body %s: %v", body, err)
	}
	if code != 429 || st.Code != int(codes.ResourceExhausted) || !strings.Contains(st.Message, "quota exceeded: the "+scope+" limit") {
		t.Errorf("refusal %d %s, want 429 for the %s limit", code, body, scope)
	}
	if n, err := strconv.Atoi(retryAfter); err != nil || n < 1 {
		t.Errorf("Retry-After %q", retryAfter)
	}
	if len(st.Details) != 1 || !strings.HasSuffix(st.Details[0].Type, "google.rpc.RetryInfo") || st.Details[0].RetryDelay == "" {
		t.Errorf("details %+v", st.Details)
	}
}

// TestQuotaRunawayCI: one CI identity requests certificates in a tight
// loop while another keeps signing. The runaway gets 429s once its
// per-identity quota is used up and what it is issued stays within that
// quota; every request of the other identity is issued, at a latency
// close to its baseline; the runaway recovers after Retry-After.
func TestQuotaRunawayCI(t *testing.T) {
	e := newQuotaEnv(t, func(gh, mail string) ca.QuotaConfig {
		return ca.QuotaConfig{PerIdentity: quota.Limit{Rate: 1, Per: 10 * time.Second, Burst: 40}}
	})
	runaway := e.mint(t, e.gh, devissuer.GitHubClaims("acme/runaway", "refs/heads/main"))
	honest := e.mint(t, e.gh, devissuer.GitHubClaims("acme/app", "refs/heads/main"))

	sign := func() time.Duration {
		start := time.Now()
		code, _, body := e.request(t, honest, "")
		if code != 200 {
			t.Fatalf("honest identity: %d %s", code, body)
		}
		return time.Since(start)
	}
	var issued, limited int
	start := time.Now()
	loop := quotatest.StartRunaway(func() {
		code, retry, body := e.request(t, runaway, "")
		switch code {
		case 200:
			issued++
		case 429:
			if limited == 0 {
				checkFulcioRefusal(t, code, retry, body, "per identity")
			}
			limited++
		default:
			t.Errorf("runaway: %d %s", code, body)
		}
	})
	// The runaway uses up its burst and is refused 50 times; then the
	// honest identity signs, alternately while the runaway is quiet and
	// while it loops, so that the machine's load weighs on both samples.
	loop.During(func() {
		for deadline := time.Now().Add(time.Minute); limitedMetric(e.reg, "per identity") < 50; time.Sleep(time.Millisecond) {
			if time.Now().After(deadline) {
				t.Error("the runaway was not refused 50 times in a minute")
				return
			}
		}
	})
	var quiet, loaded []time.Duration
	for range 10 { // 40 certificates: within the honest identity's burst
		quiet = append(quiet, sign(), sign())
		loop.During(func() { loaded = append(loaded, sign(), sign()) })
	}
	loop.Stop()
	elapsed := time.Since(start)
	t.Logf("runaway: %d issued, %d refused in %v; honest median %v while it is quiet, %v while it loops",
		issued, limited, elapsed.Round(time.Millisecond), quotatest.Median(quiet), quotatest.Median(loaded))
	if max := 40 + int(elapsed.Seconds()/10) + 1; issued > max {
		t.Errorf("runaway issued %d certificates, its quota allows %d", issued, max)
	}
	// Refused requests stop before anything is signed: the certificates
	// issued are exactly the 200s.
	if n := issuedTotal(e.reg); int(n) != len(quiet)+len(loaded)+issued {
		t.Errorf("issued metric %v, want %d", n, len(quiet)+len(loaded)+issued)
	}
	// Latency: refusing the runaway costs a token verification, so the
	// honest identity's median stays within a small factor of its median
	// while the runaway is quiet: the bound is a generous ratio (the
	// runaway's loop shares the machine's cores).
	if m, b := quotatest.Median(loaded), quotatest.Median(quiet); m > 10*b+2*time.Millisecond {
		t.Errorf("honest median %v while the runaway loops, %v while it is quiet", m, b)
	}
	// Recovery: after Retry-After, the runaway identity is served again.
	code, retry, _ := e.request(t, runaway, "")
	if code == 429 {
		n, _ := strconv.Atoi(retry)
		time.Sleep(time.Duration(n) * time.Second)
		code, _, _ = e.request(t, runaway, "")
	}
	if code != 200 {
		t.Errorf("runaway after Retry-After: %d", code)
	}
}

func limitedMetric(reg *prometheus.Registry, scope string) float64 {
	return metricSum(reg, "hallmark_ca_quota_limited_total", func(labels map[string]string) bool { return labels["scope"] == scope })
}

func issuedTotal(reg *prometheus.Registry) float64 {
	return metricSum(reg, "hallmark_ca_certificates_issued_total", func(map[string]string) bool { return true })
}

func metricSum(reg *prometheus.Registry, name string, match func(map[string]string) bool) float64 {
	mfs, _ := reg.Gather()
	var n float64
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			labels := map[string]string{}
			for _, l := range m.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			if match(labels) {
				n += m.GetCounter().GetValue()
			}
		}
	}
	return n
}

// TestQuotaBeforeBody: the per-address and total quotas answer 429 before
// the body is read, on REST (v1 and v2) and gRPC; X-Forwarded-For counts
// only from a trusted proxy.
func TestQuotaBeforeBody(t *testing.T) {
	e := newQuotaEnv(t, func(gh, mail string) ca.QuotaConfig {
		proxies, _ := quota.ParseProxies([]string{"127.0.0.1"})
		return ca.QuotaConfig{TrustedProxies: proxies, PerAddress: quota.Limit{Rate: 1, Per: time.Hour, Burst: 2}, Total: quota.Limit{Rate: 1, Per: time.Hour, Burst: 5}}
	})
	tok := e.mint(t, e.gh, devissuer.GitHubClaims("acme/app", "refs/heads/main"))
	addr := strings.TrimPrefix(e.url, "http://")
	// Client 203.0.113.1 (through the trusted proxy 127.0.0.1) uses its 2.
	for i := range 2 {
		if code, _, body := e.request(t, tok, "203.0.113.1"); code != 200 {
			t.Fatalf("request %d: %d %s", i, code, body)
		}
	}
	for _, path := range []string{"/api/v2/signingCert", "/api/v1/signingCert"} {
		resp := headersOnlyFrom(t, addr, path, "203.0.113.1")
		body, _ := io.ReadAll(resp.Body)
		checkFulcioRefusal(t, resp.StatusCode, resp.Header.Get("Retry-After"), body, "per client address")
	}
	// Another client still passes, until the total (5) is used up.
	for i := range 2 {
		if code, _, body := e.request(t, tok, "198.51.100.2"); code != 200 {
			t.Fatalf("second client, request %d: %d %s", i, code, body)
		}
	}
	// gRPC from 127.0.0.1 (no header): the fifth and last of the total.
	conn, err := grpc.NewClient(e.grpcAddr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	client := fulciopb.NewCAClient(conn)
	req := &fulciopb.CreateSigningCertificateRequest{Credentials: &fulciopb.Credentials{Credentials: &fulciopb.Credentials_OidcIdentityToken{OidcIdentityToken: tok}},
		Key: &fulciopb.CreateSigningCertificateRequest_CertificateSigningRequest{CertificateSigningRequest: e.csr}}
	if _, err := client.CreateSigningCertificate(context.Background(), req); err != nil {
		t.Fatalf("gRPC within the total: %v", err)
	}
	_, err = client.CreateSigningCertificate(context.Background(), req)
	st := status.Convert(err)
	var info *errdetails.RetryInfo
	for _, d := range st.Details() {
		if ri, ok := d.(*errdetails.RetryInfo); ok {
			info = ri
		}
	}
	if st.Code() != codes.ResourceExhausted || !strings.Contains(st.Message(), "total limit") || info == nil || info.GetRetryDelay().AsDuration() <= 0 {
		t.Errorf("gRPC over the total: %v (retry info %v)", err, info)
	}
	resp := headersOnlyFrom(t, addr, "/api/v2/signingCert", "192.0.2.77")
	body, _ := io.ReadAll(resp.Body)
	checkFulcioRefusal(t, resp.StatusCode, resp.Header.Get("Retry-After"), body, "total")
	if n := limitedMetric(e.reg, "per client address"); n != 2 {
		t.Errorf("per-address refusals counted %v, want 2", n)
	}
	if n := limitedMetric(e.reg, "total"); n != 2 {
		t.Errorf("total refusals counted %v, want 2", n)
	}
}

// headersOnlyFrom sends a POST's headers, with X-Forwarded-For, and no
// body: the answer must come without it.
func headersOnlyFrom(t *testing.T, addr, path, forwardedFor string) *http.Response {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	io.WriteString(conn, "POST "+path+" HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nX-Forwarded-For: "+forwardedFor+"\r\nContent-Length: 1000\r\n\r\n")
	conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("no answer before the body was sent: %v", err)
	}
	return resp
}

// TestQuotaPerIssuer: an issuer's own per-identity limit replaces the
// default for its identities, and its total bounds them together; the
// other issuer's identities keep the default. X-Forwarded-For from an
// untrusted peer is ignored.
func TestQuotaPerIssuer(t *testing.T) {
	e := newQuotaEnv(t, func(gh, mail string) ca.QuotaConfig {
		return ca.QuotaConfig{PerIdentity: quota.Limit{Rate: 1, Per: time.Hour, Burst: 3},
			Issuers: map[string]ca.IssuerQuota{mail: {PerIdentity: quota.Limit{Rate: 1, Per: time.Hour, Burst: 1}, Total: quota.Limit{Rate: 1, Per: time.Hour, Burst: 2}}}}
	})
	email := func(addr string) string {
		return e.mint(t, e.mail, devissuer.Claims{"sub": addr, "email": addr, "email_verified": true})
	}
	alice, bob, carol := email("alice@example.com"), email("bob@example.com"), email("carol@example.com")
	if code, _, body := e.request(t, alice, ""); code != 200 {
		t.Fatalf("alice: %d %s", code, body)
	}
	code, retry, body := e.request(t, alice, "203.0.113.9")
	checkFulcioRefusal(t, code, retry, body, "per identity")
	if !strings.Contains(string(body), "alice@example.com") {
		t.Errorf("the refusal does not name the identity: %s", body)
	}
	if code, _, body := e.request(t, bob, ""); code != 200 {
		t.Fatalf("bob: %d %s", code, body)
	}
	code, retry, body = e.request(t, carol, "")
	checkFulcioRefusal(t, code, retry, body, "issuer total")
	// The GitHub identity has the default: three.
	gh := e.mint(t, e.gh, devissuer.GitHubClaims("acme/app", "refs/heads/main"))
	for i := range 3 {
		if code, _, body := e.request(t, gh, ""); code != 200 {
			t.Fatalf("github identity, request %d: %d %s", i, code, body)
		}
	}
	code, retry, body = e.request(t, gh, "")
	checkFulcioRefusal(t, code, retry, body, "per identity")
}

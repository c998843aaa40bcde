package fulcioapi_test

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
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
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	fulcioapi "github.com/hallmark-dev/hallmark/api/fulcio"
	"github.com/hallmark-dev/hallmark/ca"
	"github.com/hallmark-dev/hallmark/oidc"
	"github.com/hallmark-dev/hallmark/oidc/devissuer"
)

type env struct {
	url    string
	issuer *devissuer.Issuer
	email  *devissuer.Issuer
	chain  []*x509.Certificate
	reg    *prometheus.Registry
	srv    *fulcioapi.Server
}

func newEnv(t testing.TB) *env {
	t.Helper()
	is, err := devissuer.Start("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { is.Close() })
	mail, err := devissuer.Start("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { mail.Close() })
	v, err := oidc.NewVerifier([]oidc.IssuerConfig{
		{URL: is.URL(), Type: oidc.TypeGitHubWorkflow, Policy: oidc.Policy{Allow: map[string][]string{"repository_owner": {"acme"}}}},
		{URL: mail.URL(), Type: oidc.TypeEmail},
	}, oidc.Options{})
	if err != nil {
		t.Fatal(err)
	}
	rootKey, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	root, _ := ca.CreateRoot(rootKey, ca.CertTemplate{Organization: "test", CommonName: "root", Validity: time.Hour})
	k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	inter, _ := ca.CreateIntermediate(k.Public(), ca.CertTemplate{Organization: "test", CommonName: "inter", Validity: time.Hour}, root, rootKey)
	chain := []*x509.Certificate{inter, root}
	c, err := ca.New(k, chain, ca.Options{})
	if err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	srv := fulcioapi.New(v, c, fulcioapi.Options{MaxRequestBytes: 64 << 10, Registry: reg, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	hs := httptest.NewServer(srv.Handler())
	t.Cleanup(hs.Close)
	return &env{url: hs.URL, issuer: is, email: mail, chain: chain, reg: reg, srv: srv}
}

func (e *env) token(t testing.TB, c devissuer.Claims) string {
	t.Helper()
	tok, err := e.issuer.Mint(c)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func (e *env) issued() float64 {
	mfs, _ := e.reg.Gather()
	var n float64
	for _, mf := range mfs {
		if mf.GetName() == "hallmark_ca_certificates_issued_total" {
			for _, m := range mf.GetMetric() {
				n += m.GetCounter().GetValue()
			}
		}
	}
	return n
}

func pemKey(t testing.TB, pub crypto.PublicKey) string {
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}))
}

func proof(t testing.TB, k *ecdsa.PrivateKey, msg string) []byte {
	h := sha256.Sum256([]byte(msg))
	sig, err := ecdsa.SignASN1(rand.Reader, k, h[:])
	if err != nil {
		t.Fatal(err)
	}
	return sig
}

func post(t testing.TB, url, token string, body any) (*http.Response, []byte) {
	t.Helper()
	var b []byte
	switch v := body.(type) {
	case string:
		b = []byte(v)
	default:
		b, _ = json.Marshal(v)
	}
	req, _ := http.NewRequest(http.MethodPost, url, bytes.NewReader(b))
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	return resp, out
}

const sub = "repo:acme/app:ref:refs/heads/main"

// TestV2AsSigstoreGo sends the request exactly as sigstore-go does: token
// in the header only, the unknown enum name "RSA".
func TestV2AsSigstoreGo(t *testing.T) {
	e := newEnv(t)
	k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	body := fmt.Sprintf(`{"publicKeyRequest":{"publicKey":{"algorithm":"RSA","content":%q},"proofOfPossession":%q},"unknownField":1}`,
		pemKey(t, k.Public()), base64.StdEncoding.EncodeToString(proof(t, k, sub)))
	resp, out := post(t, e.url+"/api/v2/signingCert", e.token(t, devissuer.GitHubClaims("acme/app", "refs/heads/main")), body)
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "application/json" {
		t.Fatalf("status %d %s: %s", resp.StatusCode, resp.Header.Get("Content-Type"), out)
	}
	var got struct {
		Detached struct {
			Chain struct {
				Certificates []string `json:"certificates"`
			} `json:"chain"`
			SCT *string `json:"signedCertificateTimestamp"`
		} `json:"signedCertificateDetachedSct"`
	}
	if err := json.Unmarshal(out, &got); err != nil {
		t.Fatal(err)
	}
	certs := got.Detached.Chain.Certificates
	if len(certs) != 3 || got.Detached.SCT == nil || *got.Detached.SCT != "" {
		t.Fatalf("response %s", out)
	}
	for i, c := range certs {
		if !strings.HasSuffix(c, "-----END CERTIFICATE-----\n") {
			t.Errorf("certificate %d does not end with a newline", i)
		}
	}
	leaf := parsePEM(t, certs[0])
	if !bytes.Equal(parsePEM(t, certs[1]).Raw, e.chain[0].Raw) || !bytes.Equal(parsePEM(t, certs[2]).Raw, e.chain[1].Raw) {
		t.Error("chain is not [leaf, intermediate, root]")
	}
	if leaf.URIs[0].String() != "https://github.com/acme/app/.github/workflows/release.yml@refs/heads/main" {
		t.Errorf("SAN %v", leaf.URIs)
	}
	if e.issued() != 1 {
		t.Errorf("issued metric = %v", e.issued())
	}
}

// TestV2CSRAndBodyToken uses the other shape: token in credentials, a CSR,
// proto (snake_case) field names.
func TestV2CSRAndBodyToken(t *testing.T) {
	e := newEnv(t)
	k, _ := rsa.GenerateKey(rand.Reader, 2048)
	der, _ := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{}, k)
	csr := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der})
	body := map[string]any{
		"credentials":                 map[string]string{"oidc_identity_token": e.token(t, devissuer.GitHubClaims("acme/app", "refs/heads/main"))},
		"certificate_signing_request": csr,
	}
	resp, out := post(t, e.url+"/api/v2/signingCert", "", body)
	if resp.StatusCode != 200 {
		t.Fatalf("status %d: %s", resp.StatusCode, out)
	}
}

// TestV1AsCosign sends the legacy request as cosign v2 does: content is
// base64 of the PEM key, certificateSigningRequest is null.
func TestV1AsCosign(t *testing.T) {
	e := newEnv(t)
	k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	for _, content := range []string{pemKey(t, k.Public()), string(mustDER(t, k.Public()))} {
		body := map[string]any{
			"publicKey":                 map[string]any{"content": []byte(content)},
			"signedEmailAddress":        proof(t, k, sub),
			"certificateSigningRequest": nil,
		}
		resp, out := post(t, e.url+"/api/v1/signingCert", e.token(t, devissuer.GitHubClaims("acme/app", "refs/heads/main")), body)
		if resp.StatusCode != 201 || resp.Header.Get("Content-Type") != "application/pem-certificate-chain" {
			t.Fatalf("status %d %s: %s", resp.StatusCode, resp.Header.Get("Content-Type"), out)
		}
		if resp.Header.Get("SCT") != "" {
			t.Error("SCT header without a CT log")
		}
		chain, err := ca.ParseChainPEM(out)
		if err != nil || len(chain) != 3 || bytes.HasSuffix(out, []byte("\n")) {
			t.Fatalf("body: %v, %d certs, %q", err, len(chain), out[len(out)-10:])
		}
	}
}

func mustDER(t testing.TB, pub crypto.PublicKey) []byte {
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	return der
}

func parsePEM(t testing.TB, s string) *x509.Certificate {
	t.Helper()
	b, _ := pem.Decode([]byte(s))
	if b == nil {
		t.Fatalf("not PEM: %q", s)
	}
	c, err := x509.ParseCertificate(b.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// TestRejections: every refused request gets its own status and message,
// is counted under its reason, and issues nothing.
func TestRejections(t *testing.T) {
	e := newEnv(t)
	k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	good := devissuer.GitHubClaims("acme/app", "refs/heads/main")
	with := func(kv ...any) devissuer.Claims {
		c := devissuer.Claims{}
		for k, v := range good {
			c[k] = v
		}
		for i := 0; i < len(kv); i += 2 {
			c[kv[i].(string)] = kv[i+1]
		}
		return c
	}
	v2 := func(p []byte) string {
		return fmt.Sprintf(`{"publicKeyRequest":{"publicKey":{"content":%q},"proofOfPossession":%q}}`,
			pemKey(t, k.Public()), base64.StdEncoding.EncodeToString(p))
	}
	okBody := v2(proof(t, k, sub))
	valid := e.token(t, good)
	parts := strings.Split(valid, ".")
	weak, _ := rsa.GenerateKey(rand.Reader, 1024)
	now := time.Now()

	for _, tc := range []struct {
		name, token, body string
		status            int
		reason, msg       string
	}{
		{"no token", "", okBody, 401, "no_token", "Authorization: Bearer"},
		{"wrong audience", e.token(t, with("aud", "other")), okBody, 401, "wrong_audience", "audience"},
		{"expired", e.token(t, with("exp", now.Add(-time.Hour).Unix(), "iat", now.Add(-2*time.Hour).Unix(), "nbf", nil)), okBody, 401, "expired", "expired"},
		{"not yet valid", e.token(t, with("nbf", now.Add(time.Hour).Unix(), "exp", now.Add(2*time.Hour).Unix())), okBody, 401, "not_yet_valid", "not valid yet"},
		{"unknown issuer", mintOther(t, good), okBody, 401, "unknown_issuer", "not trusted"},
		{"bad signature", parts[0] + "." + parts[1] + ".AAAA" + parts[2][4:], okBody, 401, "bad_signature", "signature is invalid"},
		{"alg none", b64json(map[string]string{"alg": "none"}) + "." + parts[1] + ".", okBody, 401, "alg_not_allowed", "alg none"},
		{"HS256", b64json(map[string]string{"alg": "HS256", "kid": "dev-1"}) + "." + parts[1] + ".c2ln", okBody, 401, "alg_not_allowed", "HMAC"},
		{"missing claim", e.token(t, with("run_id", nil)), okBody, 401, "missing_claim", `"run_id"`},
		{"policy denial", e.token(t, with("repository_owner", "evil")), okBody, 403, "policy_denied", `"repository_owner" value "evil"`},
		{"bad proof", valid, v2(proof(t, k, "someone else")), 400, "bad_proof", "proof of possession"},
		{"weak key", valid, fmt.Sprintf(`{"publicKeyRequest":{"publicKey":{"content":%q},"proofOfPossession":"AAAA"}}`, pemKey(t, weak.Public())), 400, "weak_key", "1024 bits"},
		{"garbage key", valid, `{"publicKeyRequest":{"publicKey":{"content":"nope"},"proofOfPossession":"AAAA"}}`, 400, "bad_public_key", "could not be parsed"},
		{"no key", valid, `{}`, 400, "no_key", "neither"},
		{"not JSON", valid, `{"publicKeyRequest":`, 400, "bad_request", "could not be parsed"},
		{"oversized body", valid, `{"x":"` + strings.Repeat("a", 65<<10) + `"}`, 413, "too_large", "larger than the limit"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := rejected(e, tc.reason)
			resp, out := post(t, e.url+"/api/v2/signingCert", tc.token, tc.body)
			if resp.StatusCode != tc.status {
				t.Fatalf("status %d, want %d: %s", resp.StatusCode, tc.status, out)
			}
			var st struct {
				Code    int               `json:"code"`
				Message string            `json:"message"`
				Details []json.RawMessage `json:"details"`
			}
			if err := json.Unmarshal(out, &st); err != nil || st.Code == 0 || st.Details == nil {
				t.Fatalf("error body %s", out)
			}
			if !strings.Contains(st.Message, tc.msg) {
				t.Errorf("message %q does not contain %q", st.Message, tc.msg)
			}
			if strings.Contains(st.Message, parts[2]) {
				t.Error("message leaks the token")
			}
			if after := rejected(e, tc.reason); after != before+1 {
				t.Errorf("rejected{reason=%s} went %v -> %v", tc.reason, before, after)
			}
		})
	}
	if n := e.issued(); n != 0 {
		t.Fatalf("%v certificates issued during rejections", n)
	}
	// The same valid request does succeed.
	if resp, out := post(t, e.url+"/api/v2/signingCert", valid, okBody); resp.StatusCode != 200 {
		t.Fatalf("control request: %d %s", resp.StatusCode, out)
	}
}

// rejected reads hallmark_ca_requests_rejected_total{reason}, summed over APIs.
func rejected(e *env, reason string) float64 {
	mfs, _ := e.reg.Gather()
	var n float64
	for _, mf := range mfs {
		if mf.GetName() != "hallmark_ca_requests_rejected_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "reason" && l.GetValue() == reason {
					n += m.GetCounter().GetValue()
				}
			}
		}
	}
	return n
}

func b64json(v any) string {
	b, _ := json.Marshal(v)
	return base64.RawURLEncoding.EncodeToString(b)
}

func mintOther(t *testing.T, c devissuer.Claims) string {
	o, err := devissuer.Start("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer o.Close()
	tok, err := o.Mint(c)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func TestReadEndpoints(t *testing.T) {
	e := newEnv(t)
	get := func(path string) (*http.Response, []byte) {
		resp, err := http.Get(e.url + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp, b
	}
	resp, b := get("/api/v2/trustBundle")
	var tb struct {
		Chains []struct {
			Certificates []string `json:"certificates"`
		} `json:"chains"`
	}
	if json.Unmarshal(b, &tb); resp.StatusCode != 200 || len(tb.Chains) != 1 || len(tb.Chains[0].Certificates) != 2 {
		t.Errorf("trustBundle: %d %s", resp.StatusCode, b)
	}
	resp, b = get("/api/v2/configuration")
	if resp.StatusCode != 200 || !bytes.Contains(b, []byte(`"issuerUrl":"`+e.issuer.URL()+`"`)) ||
		!bytes.Contains(b, []byte(`"challengeClaim":"email"`)) || !bytes.Contains(b, []byte(`"spiffeTrustDomain":""`)) ||
		!bytes.Contains(b, []byte(`"issuerType":"github-workflow"`)) {
		t.Errorf("configuration: %d %s", resp.StatusCode, b)
	}
	resp, b = get("/api/v1/rootCert")
	if chain, err := ca.ParseChainPEM(b); err != nil || len(chain) != 2 || resp.Header.Get("Content-Type") != "application/pem-certificate-chain" {
		t.Errorf("rootCert: %v %d", err, len(chain))
	}
	if resp, _ = get("/healthz"); resp.StatusCode != 200 {
		t.Errorf("healthz %d", resp.StatusCode)
	}
	post(t, e.url+"/api/v2/signingCert", "", "{}")
	if resp, b = get("/metrics"); resp.StatusCode != 200 || !bytes.Contains(b, []byte(`hallmark_ca_requests_rejected_total{api="v2",reason="no_token"} 1`)) {
		t.Errorf("metrics %d", resp.StatusCode)
	}
	if resp, _ = get("/api/v2/signingCert"); resp.StatusCode != 405 {
		t.Errorf("GET signingCert: %d", resp.StatusCode)
	}
}

// grpcClient serves e's gRPC API on a loopback port for the test and
// returns a client of it.
func (e *env) grpcClient(t testing.TB) fulciopb.CAClient {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	gs := grpc.NewServer(e.srv.GRPCServerOptions()...)
	fulciopb.RegisterCAServer(gs, e.srv)
	go gs.Serve(ln)
	t.Cleanup(gs.Stop)
	conn, err := grpc.NewClient(ln.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return fulciopb.NewCAClient(conn)
}

func TestGRPC(t *testing.T) {
	e := newEnv(t)
	client := e.grpcClient(t)
	k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	req := &fulciopb.CreateSigningCertificateRequest{Key: &fulciopb.CreateSigningCertificateRequest_PublicKeyRequest{
		PublicKeyRequest: &fulciopb.PublicKeyRequest{
			PublicKey:         &fulciopb.PublicKey{Algorithm: fulciopb.PublicKeyAlgorithm_ECDSA, Content: pemKey(t, k.Public())},
			ProofOfPossession: proof(t, k, sub),
		}}}
	tok := e.token(t, devissuer.GitHubClaims("acme/app", "refs/heads/main"))
	ctx := metadata.AppendToOutgoingContext(context.Background(), "oidcidentitytoken", tok)
	resp, err := client.CreateSigningCertificate(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	if n := len(resp.GetSignedCertificateDetachedSct().GetChain().GetCertificates()); n != 3 {
		t.Fatalf("chain of %d", n)
	}
	_, err = client.CreateSigningCertificate(context.Background(), req)
	if status.Code(err) != codes.Unauthenticated {
		t.Errorf("no token: %v", err)
	}
	ctx = metadata.AppendToOutgoingContext(context.Background(), "authorization", "Bearer "+e.token(t, devissuer.GitHubClaims("evil/app", "refs/heads/main")))
	if _, err = client.CreateSigningCertificate(ctx, req); status.Code(err) != codes.PermissionDenied {
		t.Errorf("policy: %v", err)
	}
	tb, err := client.GetTrustBundle(context.Background(), &fulciopb.GetTrustBundleRequest{})
	if err != nil || len(tb.GetChains()) != 1 {
		t.Errorf("trust bundle: %v", err)
	}
}

// TestPushback: beyond MaxInFlight requests are refused at once with 503
// and Retry-After, while the admitted one proceeds.
func TestPushback(t *testing.T) {
	entered, release := make(chan struct{}), make(chan struct{})
	var once sync.Once
	idp := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		once.Do(func() { close(entered) })
		<-release // discovery hangs until the test lets it go
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
	srv := fulcioapi.New(v, c, fulcioapi.Options{MaxInFlight: 1, Registry: prometheus.NewRegistry(), Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	hs := httptest.NewServer(srv.Handler())
	defer hs.Close()

	token := b64json(map[string]string{"alg": "ES256", "kid": "k"}) + "." + b64json(map[string]any{"iss": idp.URL, "sub": "x"}) + ".c2ln"
	first := make(chan int, 1)
	go func() {
		resp, _ := post(t, hs.URL+"/api/v2/signingCert", token, `{}`)
		first <- resp.StatusCode
	}()
	select {
	case <-entered: // the first request holds the only slot, waiting on discovery
	case <-time.After(10 * time.Second):
		close(release)
		t.Fatal("first request never reached the IdP")
	}
	resp, body := post(t, hs.URL+"/api/v2/signingCert", token, `{}`)
	close(release)
	if resp.StatusCode != 503 || resp.Header.Get("Retry-After") != "1" || !bytes.Contains(body, []byte("overloaded")) {
		t.Errorf("second request: %d %q %s", resp.StatusCode, resp.Header.Get("Retry-After"), body)
	}
	if code := <-first; code != 503 { // the IdP answered 404: issuer unavailable
		t.Errorf("first request: %d", code)
	}
}

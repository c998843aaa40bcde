package api

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/hex"
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
	"strings"
	"testing"
	"time"

	protocommon "github.com/sigstore/protobuf-specs/gen/pb-go/common/v1"
	rekortilespb "github.com/sigstore/rekor-tiles/v2/pkg/generated/protobuf"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/hallmark-dev/hallmark/audit/audittest"
	"github.com/hallmark-dev/hallmark/oidc/devissuer"
	"github.com/hallmark-dev/hallmark/tlog"
)

// v1KeyEntry is a hashedrekord 0.0.1 proposed entry signed by key.
func v1KeyEntry(t *testing.T, key *ecdsa.PrivateKey, data string) string {
	t.Helper()
	der, _ := x509.MarshalPKIXPublicKey(key.Public())
	d := sha256.Sum256([]byte(data))
	sig, _ := ecdsa.SignASN1(rand.Reader, key, d[:])
	pub := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
	return fmt.Sprintf(`{"apiVersion":"0.0.1","kind":"hashedrekord","spec":{"data":{"hash":{"algorithm":"sha256","value":%q}},"signature":{"content":%q,"publicKey":{"content":%q}}}}`,
		hex.EncodeToString(d[:]), base64.StdEncoding.EncodeToString(sig), base64.StdEncoding.EncodeToString(pub))
}

// v2CertEntry is a Rekor v2 hashedrekord request signed by a certificate
// of ca for email.
func v2CertEntry(t *testing.T, ca *audittest.CA, email, data string) ([]byte, *audittest.Leaf) {
	t.Helper()
	leaf, err := ca.Issue(email, "https://idp.acme.example")
	if err != nil {
		t.Fatal(err)
	}
	d := sha256.Sum256([]byte(data))
	sig, _ := leaf.SignDigest(d[:])
	b, err := protojson.Marshal(&rekortilespb.CreateEntryRequest{Spec: &rekortilespb.CreateEntryRequest_HashedRekordRequestV002{
		HashedRekordRequestV002: &rekortilespb.HashedRekordRequestV002{Digest: d[:], Signature: &rekortilespb.Signature{Content: sig,
			Verifier: &rekortilespb.Verifier{KeyDetails: protocommon.PublicKeyDetails_PKIX_ECDSA_P256_SHA_256,
				Verifier: &rekortilespb.Verifier_X509Certificate{X509Certificate: &protocommon.X509Certificate{RawBytes: leaf.DER}}}}}}})
	if err != nil {
		t.Fatal(err)
	}
	return b, leaf
}

func postWrite(t *testing.T, url, auth, body string) (int, http.Header, map[string]any) {
	t.Helper()
	req, _ := http.NewRequest("POST", url, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var m map[string]any
	json.Unmarshal(raw, &m) //nolint:errcheck // not every answer is JSON
	return resp.StatusCode, resp.Header, m
}

// TestWritePolicies: each write API applies its log's write policy before
// the entry joins a batch, answers a refusal in its own error shape with
// the rule's name, counts it, and logs nothing.
func TestWritePolicies(t *testing.T) {
	dir := t.TempDir()
	key, _ := tlog.GenerateKey("ecdsa-p256")
	os.WriteFile(filepath.Join(dir, "k.pem"), key, 0o600)
	ca, err := audittest.NewCA()
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(dir, "roots.pem"), pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: ca.Cert.Raw}), 0o644)
	release, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	releaseDER, _ := x509.MarshalPKIXPublicKey(release.Public())
	os.WriteFile(filepath.Join(dir, "release.pub"), pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: releaseDER}), 0o644)
	is, err := devissuer.Start("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer is.Close()

	ourCA := `{name: our-ca, certificates: {roots_file: roots.pem, identity: {allow: {subject: ["*@acme.example"]}}}}`
	path := filepath.Join(dir, "log.yaml")
	os.WriteFile(path, fmt.Appendf(nil, `
database: {sqlite: db}
logs:
  - {name: raw, kind: tiles, url: "https://log.example.com/raw", key_file: k.pem, batch: {max_age: 5ms},
     write: {allow: [{name: tools, token: {issuers: [{url: %q, type: email, audience: hallmark-log}]}}]}}
  - {name: v1, kind: rekor-v1, url: "https://log.example.com/v1", key_file: k.pem, rekor: {tree_id: 1}, batch: {max_age: 5ms},
     write: {allow: [{name: release-key, keys: {files: [release.pub]}}]}}
  - {name: v2, kind: rekor-v2, url: "https://log.example.com/v2", key_file: k.pem, batch: {max_age: 5ms},
     write: {allow: [%s]}}
  - {name: ct, kind: ct, url: "https://log.example.com/ct", key_file: k.pem, ct: {roots_file: roots.pem}, batch: {max_age: 5ms},
     write: {allow: [%s]}}
`, is.URL(), ourCA, ourCA), 0o644)
	cfg, err := tlog.LoadServiceConfig(path)
	if err != nil {
		t.Fatal(err)
	}
	svc, srv := serveConfig(t, cfg)
	sizes := func() (n uint64) {
		for _, name := range []string{"raw", "v1", "v2", "ct"} {
			cp, err := svc.Log(name).Checkpoint(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			n += cp.Size
		}
		return n
	}

	// Tiles raw append: a token rule only, so no token is a 401 before the
	// body is read.
	code, h, body := postWrite(t, srv.URL+"/raw/entries", "", "entry")
	if code != 401 || h.Get("WWW-Authenticate") != "Bearer" || !strings.Contains(fmt.Sprint(body["message"]), `rule "tools"`) {
		t.Fatalf("raw append without token: %d %v %v", code, h, body)
	}
	tok, _ := is.Mint(devissuer.Claims{"sub": "bot@acme.example", "email": "bot@acme.example", "email_verified": true, "aud": "hallmark-log"})
	if code, _, body := postWrite(t, srv.URL+"/raw/entries", "Bearer "+tok, "entry"); code != 201 {
		t.Fatalf("raw append with token: %d %v", code, body)
	}

	// Rekor v1: a key outside the allow-list is a 403 {code, message}.
	stranger, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	before := sizes()
	code, _, body = postWrite(t, srv.URL+"/v1/api/v1/log/entries", "", v1KeyEntry(t, stranger, "a"))
	if code != 403 || body["code"] != float64(403) || !strings.Contains(fmt.Sprint(body["message"]), `rule "release-key": the signing key sha256:`) {
		t.Fatalf("v1 stranger: %d %v", code, body)
	}
	if code, _, body := postWrite(t, srv.URL+"/v1/api/v1/log/entries", "", v1KeyEntry(t, release, "a")); code != 201 {
		t.Fatalf("v1 release key: %d %v", code, body)
	}

	// Rekor v2 REST: grpc-gateway's shape, PERMISSION_DENIED (7).
	evil, _ := v2CertEntry(t, ca, "eve@evil.example", "b")
	code, _, body = postWrite(t, srv.URL+"/v2/api/v2/log/entries", "", string(evil))
	if code != 403 || body["code"] != float64(codes.PermissionDenied) || !strings.Contains(fmt.Sprint(body["message"]), `rule "our-ca": certificate identity`) {
		t.Fatalf("v2 REST refused identity: %d %v", code, body)
	}
	good, _ := v2CertEntry(t, ca, "dev@acme.example", "b")
	if code, _, body := postWrite(t, srv.URL+"/v2/api/v2/log/entries", "", string(good)); code != 201 {
		t.Fatalf("v2 REST allowed identity: %d %v", code, body)
	}
	// Rekor v2 gRPC.
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go svc.GRPCServer().Serve(lis) //nolint:errcheck
	conn, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	var req rekortilespb.CreateEntryRequest
	if err := protojson.Unmarshal(evil, &req); err != nil {
		t.Fatal(err)
	}
	_, err = rekortilespb.NewRekorClient(conn).CreateEntry(context.Background(), &req)
	if st, _ := status.FromError(err); st.Code() != codes.PermissionDenied || !strings.Contains(st.Message(), `rule "our-ca"`) {
		t.Fatalf("v2 gRPC refused identity: %v", err)
	}

	// CT add-chain: the logged certificate is the signer.
	_, leaf := v2CertEntry(t, ca, "eve@evil.example", "c")
	chain := fmt.Sprintf(`{"chain":[%q,%q]}`, base64.StdEncoding.EncodeToString(leaf.DER), base64.StdEncoding.EncodeToString(ca.Cert.Raw))
	code, _, body = postWrite(t, srv.URL+"/ct/ct/v1/add-chain", "", chain)
	if code != 403 || !strings.Contains(fmt.Sprint(body["message"]), `rule "our-ca"`) {
		t.Fatalf("ct add-chain refused identity: %d %v", code, body)
	}

	if got := sizes() - before; got != 2 {
		t.Errorf("logs grew by %d entries, want 2 (the admitted ones)", got)
	}
	for _, c := range []struct {
		log, reason string
		want        float64
	}{{"raw", "no_credentials", 1}, {"v1", "key", 1}, {"v2", "certificate", 2}, {"ct", "certificate", 1}} {
		if got := writeRefusedCount(t, svc, c.log, c.reason); got != c.want {
			t.Errorf("hallmark_log_write_refused_total{log=%s,reason=%s} = %v, want %v", c.log, c.reason, got, c.want)
		}
	}
}

// writeRefusedCount reads hallmark_log_write_refused_total{log, reason}.
func writeRefusedCount(t *testing.T, svc *LogService, log, reason string) float64 {
	t.Helper()
	mfs, err := svc.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	v := 0.0
	for _, mf := range mfs {
		if mf.GetName() != "hallmark_log_write_refused_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			labels := map[string]string{}
			for _, l := range m.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			if labels["log"] == log && labels["reason"] == reason {
				v = m.GetCounter().GetValue()
			}
		}
	}
	return v
}

// TestWritePolicyConfig: a policy that cannot work fails at start with the
// rule named.
func TestWritePolicyConfig(t *testing.T) {
	_, err := tlog.ParseServiceConfig([]byte(`
database: {sqlite: db}
logs:
  - {name: raw, kind: tiles, url: "https://log.example.com/raw", key_file: k.pem,
     write: {allow: [{name: ours, keys: {files: [k.pub]}}]}}
`))
	if err == nil || !strings.Contains(err.Error(), "tiles entries are opaque") {
		t.Fatalf("keys rule on a tiles log: %v", err)
	}
}

// selfSigned makes a CA-capable self-signed certificate for cn (with
// 127.0.0.1 as SAN), written as PEM to dir/name.pem and dir/name.key.
func selfSigned(t *testing.T, dir, name, cn string, parent *x509.Certificate, parentKey *ecdsa.PrivateKey) (*x509.Certificate, *ecdsa.PrivateKey) {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: cn},
		NotBefore: time.Now().Add(-time.Minute), NotAfter: time.Now().Add(time.Hour),
		IsCA: parent == nil, BasicConstraintsValid: true, IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)},
		KeyUsage:    x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth}}
	signer, signerCert := key, tmpl
	if parent != nil {
		signer, signerCert = parentKey, parent
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, signerCert, key.Public(), signer)
	if err != nil {
		t.Fatal(err)
	}
	kder, _ := x509.MarshalPKCS8PrivateKey(key)
	os.WriteFile(filepath.Join(dir, name+".pem"), pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644)
	os.WriteFile(filepath.Join(dir, name+".key"), pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder}), 0o600)
	c, _ := x509.ParseCertificate(der)
	return c, key
}

// TestWritePolicyMTLS: with listen.tls and a client_certificate rule, a
// tool presenting a certificate of the client CA appends to a tiles log
// over HTTPS and gRPC serves over TLS too; without a certificate the write
// is a 401, with one of another name a 403; cosign-like clients without
// certificates still connect.
func TestWritePolicyMTLS(t *testing.T) {
	dir := t.TempDir()
	key, _ := tlog.GenerateKey("ed25519")
	os.WriteFile(filepath.Join(dir, "k.pem"), key, 0o600)
	server, _ := selfSigned(t, dir, "server", "log.internal", nil, nil)
	clientCA, clientCAKey := selfSigned(t, dir, "clients", "internal clients CA", nil, nil)
	selfSigned(t, dir, "importer", "importer", clientCA, clientCAKey)
	selfSigned(t, dir, "laptop", "laptop", clientCA, clientCAKey)
	path := filepath.Join(dir, "log.yaml")
	os.WriteFile(path, []byte(`
listen:
  http: 127.0.0.1:0
  grpc: 127.0.0.1:0
  tls: {cert_file: server.pem, key_file: server.key, client_ca_file: clients.pem}
database: {sqlite: db}
logs:
  - name: artifacts
    kind: tiles
    url: https://log.internal/artifacts
    key_file: k.pem
    batch: {max_age: 5ms}
    write: {allow: [{name: internal-tools, client_certificate: {identity: {allow: {subject: [importer]}}}}]}
`), 0o644)
	cfg, err := tlog.LoadServiceConfig(path)
	if err != nil {
		t.Fatal(err)
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
	roots := x509.NewCertPool()
	roots.AddCert(server)
	client := func(name string) *http.Client {
		c := &tls.Config{RootCAs: roots}
		if name != "" {
			pair, err := tls.LoadX509KeyPair(filepath.Join(dir, name+".pem"), filepath.Join(dir, name+".key"))
			if err != nil {
				t.Fatal(err)
			}
			c.Certificates = []tls.Certificate{pair}
		}
		return &http.Client{Transport: &http.Transport{TLSClientConfig: c}}
	}
	url := "https://" + ls.HTTP.Addr().String() + "/artifacts/entries"
	for _, tc := range []struct {
		cert string
		code int
		says string
	}{
		{"", 401, "no verified TLS client certificate"},
		{"laptop", 403, `value \"laptop\" is not in the allow-list`},
		{"importer", 201, ""},
	} {
		resp, err := client(tc.cert).Post(url, "application/octet-stream", strings.NewReader("digest"))
		if err != nil {
			t.Fatalf("%q: %v", tc.cert, err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != tc.code || !strings.Contains(string(b), tc.says) {
			t.Errorf("client certificate %q: %d %s, want %d saying %s", tc.cert, resp.StatusCode, b, tc.code, tc.says)
		}
	}
	// gRPC is TLS too.
	cc, err := grpc.NewClient(ls.GRPC.Addr().String(), grpc.WithTransportCredentials(credentials.NewTLS(&tls.Config{RootCAs: roots})))
	if err != nil {
		t.Fatal(err)
	}
	defer cc.Close()
	if _, err := healthpb.NewHealthClient(cc).Check(ctx, &healthpb.HealthCheckRequest{}); err != nil {
		t.Errorf("gRPC health over TLS: %v", err)
	}
}

// TestWritePolicyIdentityQuota: quota.per_identity keys on the writer the
// write policy extracts (here a key, on an open log): a second entry by
// the same key is a 429 with Retry-After, another key still writes.
func TestWritePolicyIdentityQuota(t *testing.T) {
	dir := t.TempDir()
	key, _ := tlog.GenerateKey("ecdsa-p256")
	os.WriteFile(filepath.Join(dir, "k.pem"), key, 0o600)
	path := filepath.Join(dir, "log.yaml")
	os.WriteFile(path, []byte(`
database: {sqlite: db}
logs:
  - {name: v1, kind: rekor-v1, url: "https://log.example.com/v1", key_file: k.pem, rekor: {tree_id: 1}, batch: {max_age: 5ms},
     write: {open: true}, quota: {per_identity: {rate: 1, per: 1h, burst: 1}}}
`), 0o644)
	cfg, err := tlog.LoadServiceConfig(path)
	if err != nil {
		t.Fatal(err)
	}
	_, srv := serveConfig(t, cfg)
	a, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	b, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	url := srv.URL + "/v1/api/v1/log/entries"
	if code, _, body := postWrite(t, url, "", v1KeyEntry(t, a, "1")); code != 201 {
		t.Fatalf("first write: %d %v", code, body)
	}
	code, h, body := postWrite(t, url, "", v1KeyEntry(t, a, "2"))
	if code != 429 || h.Get("Retry-After") == "" || !strings.Contains(fmt.Sprint(body["message"]), "per identity") {
		t.Fatalf("second write by the same key: %d %v %v", code, h, body)
	}
	if code, _, body := postWrite(t, url, "", v1KeyEntry(t, b, "3")); code != 201 {
		t.Fatalf("another key: %d %v", code, body)
	}
}

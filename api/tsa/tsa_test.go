package tsaapi_test

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/asn1"
	"encoding/base64"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/digitorus/timestamp"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	tsaapi "github.com/hallmark-dev/hallmark/api/tsa"
	"github.com/hallmark-dev/hallmark/ca"
)

// newTSA is a TSA with a fresh root and TSA certificate, and its chain
// (the TSA certificate, then the root).
func newTSA(t *testing.T) (*ca.TSA, []*x509.Certificate) {
	t.Helper()
	d, err := ca.NewDeployment(ca.InitOptions{Organization: "API test", Curve: elliptic.P256()})
	if err != nil {
		t.Fatal(err)
	}
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	leaf, err := ca.CreateTSACertificate(key.Public(), ca.CertTemplate{Organization: "API test", CommonName: "tsa", Validity: time.Hour}, d.Root, d.RootKey)
	if err != nil {
		t.Fatal(err)
	}
	tsa, err := ca.NewTSA(key, []*x509.Certificate{leaf, d.Root}, ca.TSAOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return tsa, []*x509.Certificate{leaf, d.Root}
}

func TestHTTP(t *testing.T) {
	tsa, chainWant := newTSA(t)
	reg := prometheus.NewRegistry()
	mux := http.NewServeMux()
	tsaapi.New(tsa, tsaapi.Options{Registerer: reg}).Register(mux)
	srv := httptest.NewServer(mux)
	defer srv.Close()

	digest := sha256.Sum256([]byte("artifact"))
	query, _ := (&timestamp.Request{HashAlgorithm: crypto.SHA256, HashedMessage: digest[:], Certificates: true}).Marshal()
	post := func(ct string, body []byte) (int, []byte) {
		t.Helper()
		resp, err := http.Post(srv.URL+"/api/v1/timestamp", ct, bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if got := resp.Header.Get("Content-Type"); got != "application/timestamp-reply" {
			t.Errorf("Content-Type %q", got)
		}
		return resp.StatusCode, b
	}

	code, body := post("application/timestamp-query", query)
	if code != 200 {
		t.Fatalf("DER request: %d", code)
	}
	if ts, err := timestamp.ParseResponse(body); err != nil || !bytes.Equal(ts.HashedMessage, digest[:]) {
		t.Fatalf("DER reply: %v", err)
	}
	code, _ = post("application/json; charset=utf-8", []byte(`{"artifactHash":"`+b64(digest[:])+`","hashAlgorithm":"sha512"}`))
	if code != 400 {
		t.Errorf("JSON request with a SHA-256-sized digest claimed as SHA-512: %d", code)
	}
	code, body = post("application/json", []byte(`{"artifactHash":"`+b64(digest[:])+`","hashAlgorithm":"sha256","nonce":5}`))
	if ts, err := timestamp.ParseResponse(body); code != 200 || err != nil || ts.Nonce.Int64() != 5 {
		t.Errorf("JSON request: %d %v", code, err)
	}
	for _, tc := range []struct {
		ct   string
		body []byte
		code int
	}{
		{"text/plain", query, 415},
		{"", query, 415},
		{"application/timestamp-query", make([]byte, tsaapi.MaxRequestBytes+1), 413},
		{"application/timestamp-query", []byte{0x30, 0x80}, 400},
		{"application/timestamp-query", version2(t, query), 400},
	} {
		code, body := post(tc.ct, tc.body)
		if code != tc.code {
			t.Errorf("%q %d bytes: HTTP %d, want %d", tc.ct, len(tc.body), code, tc.code)
		}
		if _, err := timestamp.ParseResponse(body); err == nil || !strings.Contains(err.Error(), "rejected") {
			t.Errorf("%q: body is not a rejection: %v", tc.ct, err)
		}
	}

	resp, err := http.Get(srv.URL + "/api/v1/timestamp/certchain")
	if err != nil {
		t.Fatal(err)
	}
	pemChain, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	chain, err := ca.ParseChainPEM(pemChain)
	if err != nil || len(chain) != 2 || !chain[0].Equal(chainWant[0]) || !chain[1].Equal(chainWant[1]) {
		t.Fatalf("certchain: %v", err)
	}

	if n, err := testutil.GatherAndCount(reg, "hallmark_tsa_timestamps_issued_total"); err != nil || n != 2 {
		t.Errorf("issued series: %d %v", n, err)
	}
	want := `
# HELP hallmark_tsa_requests_rejected_total Timestamp requests rejected, by PKIFailureInfo reason.
# TYPE hallmark_tsa_requests_rejected_total counter
hallmark_tsa_requests_rejected_total{reason="bad_data_format"} 2
hallmark_tsa_requests_rejected_total{reason="bad_request"} 4
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "hallmark_tsa_requests_rejected_total"); err != nil {
		t.Error(err)
	}
}

func b64(b []byte) string { return base64.StdEncoding.EncodeToString(b) }

// version2 returns query, a DER TimeStampReq, with its version set to 2.
func version2(t *testing.T, query []byte) []byte {
	var seq asn1.RawValue
	if _, err := asn1.Unmarshal(query, &seq); err != nil {
		t.Fatal(err)
	}
	var v int
	rest, err := asn1.Unmarshal(seq.Bytes, &v)
	if err != nil || v != 1 {
		t.Fatalf("version %d: %v", v, err)
	}
	der, err := asn1.Marshal(asn1.RawValue{Class: asn1.ClassUniversal, Tag: asn1.TagSequence, IsCompound: true,
		Bytes: append([]byte{0x02, 0x01, 0x02}, rest...)})
	if err != nil {
		t.Fatal(err)
	}
	return der
}

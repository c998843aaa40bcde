package api

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	protocommon "github.com/sigstore/protobuf-specs/gen/pb-go/common/v1"
	rekortilespb "github.com/sigstore/rekor-tiles/v2/pkg/generated/protobuf"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/hallmark-dev/hallmark/api/logpb"
	"github.com/hallmark-dev/hallmark/tlog"
)

func pemBytes(typ string, der []byte) string {
	return string(pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}))
}

// v2Request is a hashedrekord request signed by key, with a certificate
// for email when email is set.
func v2Request(t *testing.T, key *ecdsa.PrivateKey, artifact []byte, email string) []byte {
	t.Helper()
	d := sha256.Sum256(artifact)
	sig, err := ecdsa.SignASN1(rand.Reader, key, d[:])
	if err != nil {
		t.Fatal(err)
	}
	v := &rekortilespb.Verifier{KeyDetails: protocommon.PublicKeyDetails_PKIX_ECDSA_P256_SHA_256}
	if email != "" {
		tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "signer"}, EmailAddresses: []string{email},
			NotBefore: time.Now().Add(-time.Minute), NotAfter: time.Now().Add(10 * time.Minute)}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
		if err != nil {
			t.Fatal(err)
		}
		v.Verifier = &rekortilespb.Verifier_X509Certificate{X509Certificate: &protocommon.X509Certificate{RawBytes: der}}
	} else {
		der, _ := x509.MarshalPKIXPublicKey(key.Public())
		v.Verifier = &rekortilespb.Verifier_PublicKey{PublicKey: &rekortilespb.PublicKey{RawBytes: der}}
	}
	b, err := protojson.Marshal(&rekortilespb.CreateEntryRequest{Spec: &rekortilespb.CreateEntryRequest_HashedRekordRequestV002{
		HashedRekordRequestV002: &rekortilespb.HashedRekordRequestV002{Digest: d[:], Signature: &rekortilespb.Signature{Content: sig, Verifier: v}}}})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestRekorV2Search logs Rekor v2 entries and finds them with Rekor v1's
// query shapes, over REST and in the console; a query that breaks the
// schema is a 400.
func TestRekorV2Search(t *testing.T) {
	dir := t.TempDir()
	key, _ := tlog.GenerateKey("ed25519")
	os.WriteFile(filepath.Join(dir, "k.pem"), key, 0o600)
	cfg, err := tlog.ParseServiceConfig(fmt.Appendf(nil, `
database: {sqlite: %q}
limits: {max_request_bytes: 65536}
logs:
  - {name: v2, kind: rekor-v2, url: "https://v2.example.com/v2", key_file: %[2]q, batch: {max_age: 5ms}}
  - {name: t, kind: tiles, url: "https://t.example.com/t", key_file: %[2]q, batch: {max_age: 5ms}}
`, filepath.Join(dir, "db"), filepath.Join(dir, "k.pem")))
	if err != nil {
		t.Fatal(err)
	}
	svc, err := NewLogService(context.Background(), cfg, slog.Default())
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(svc.Handler())
	t.Cleanup(func() { srv.Close(); svc.Close() })

	alice, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	bob, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	for i, req := range [][]byte{
		v2Request(t, alice, []byte("artifact 0"), "alice@corp.example"),
		v2Request(t, bob, []byte("artifact 1"), ""),
		v2Request(t, alice, []byte("artifact 2"), "alice@corp.example"),
	} {
		resp, err := http.Post(srv.URL+"/v2/api/v2/log/entries", "application/json", bytes.NewReader(req))
		if err != nil || resp.StatusCode != http.StatusCreated {
			t.Fatalf("create %d: %v %v", i, resp.Status, err)
		}
		resp.Body.Close()
	}
	search := func(q string, want int) *v2SearchResponse {
		t.Helper()
		resp, err := http.Post(srv.URL+"/v2/api/v2/index/retrieve", "application/json", bytes.NewReader([]byte(q)))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		if resp.StatusCode != want {
			t.Fatalf("search %s: %s, want %d", q, resp.Status, want)
		}
		var out v2SearchResponse
		json.NewDecoder(resp.Body).Decode(&out)
		return &out
	}
	h1 := sha256.Sum256([]byte("artifact 1"))
	bobDER, _ := x509.MarshalPKIXPublicKey(bob.Public())
	bobPEM, _ := json.Marshal([]byte(pemBytes("PUBLIC KEY", bobDER))) // content is base64
	// The same queries over gRPC (hallmark.log.v1.Log/SearchIndex), from a
	// real client: the request is the REST body plus the log's name.
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
	gc := logpb.NewLogClient(conn)
	grpcSearch := func(log, q string) (*logpb.SearchIndexResponse, error) {
		t.Helper()
		req := &logpb.SearchIndexRequest{}
		if err := protojson.Unmarshal([]byte(q), req); err != nil {
			t.Fatalf("query %s: %v", q, err)
		}
		req.Log = log
		return gc.SearchIndex(context.Background(), req)
	}
	for _, c := range []struct {
		q    string
		want []uint64
	}{
		{`{"email":"alice@corp.example"}`, []uint64{0, 2}},
		{`{"email":"ALICE@corp.example"}`, []uint64{0, 2}},
		{`{"hash":"sha256:` + hex.EncodeToString(h1[:]) + `"}`, []uint64{1}},
		{`{"publicKey":{"format":"x509","content":` + string(bobPEM) + `}}`, []uint64{1}},
		{`{"email":"alice@corp.example","hash":"` + hex.EncodeToString(h1[:]) + `","operator":"and"}`, []uint64{}},
		{`{"email":"alice@corp.example","hash":"` + hex.EncodeToString(h1[:]) + `"}`, []uint64{0, 1, 2}},
		{`{"email":"carol@corp.example"}`, []uint64{}},
	} {
		if got := search(c.q, http.StatusOK); !slices.Equal(got.LogIndexes, c.want) || !got.Complete {
			t.Errorf("search %s: %+v, want %v", c.q, got, c.want)
		}
		got, err := grpcSearch("v2", c.q)
		if err != nil || !slices.Equal(got.GetLogIndexes(), c.want) || !got.GetComplete() {
			t.Errorf("gRPC search %s: %v %v, want %v", c.q, got, err, c.want)
		}
	}
	search(`{"hash":"not a hash"}`, http.StatusBadRequest)
	search(`{"email":`, http.StatusBadRequest)
	for _, c := range []struct {
		log, q string
		want   codes.Code
	}{
		{"v2", `{"hash":"not a hash"}`, codes.InvalidArgument},
		{"v2", `{"email":"not an email"}`, codes.InvalidArgument},
		{"v2", `{"email":"alice@corp.example","operator":"xor"}`, codes.InvalidArgument},
		{"v2", `{"publicKey":{"format":"pgp","content":"AAAA"}}`, codes.InvalidArgument},
		{"t", `{"email":"alice@corp.example"}`, codes.InvalidArgument}, // a tiles log has no index
		{"nope", `{"email":"alice@corp.example"}`, codes.NotFound},
		{"v2", `{"subject":"` + strings.Repeat("x", 70000) + `"}`, codes.ResourceExhausted}, // over max_request_bytes
	} {
		if _, err := grpcSearch(c.log, c.q); status.Code(err) != c.want {
			t.Errorf("gRPC search of %s %.60s: %v, want %s", c.log, c.q, err, c.want)
		}
	}

	var sr consoleSearchResponse
	getJSON(t, srv.URL+ConsolePath+"api/search?q=alice@corp.example&details=1", 200, &sr)
	if len(sr.Results) != 2 || sr.Results[0].Index != 2 || sr.Results[0].Issuer != "" || !slices.Contains(sr.Results[0].Subjects, "alice@corp.example") {
		t.Fatalf("console search in a Rekor v2 log: %+v", sr)
	}
	// Both results are in entry bundle 0, read once: each is decoded.
	for _, r := range sr.Results {
		if r.IntegratedTime == nil || !slices.Equal(r.Subjects, []string{"alice@corp.example"}) {
			t.Fatalf("console search result %d not decoded: %+v", r.Index, r)
		}
	}
}

package ca_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/asn1"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/cryptobyte"

	"github.com/hallmark-dev/hallmark/ca"
	"github.com/hallmark-dev/hallmark/tlog"
	"github.com/hallmark-dev/hallmark/tlog/ct"
	"github.com/hallmark-dev/hallmark/tlog/format"
)

// The CT personality is what InProcessCTLog submits to, without ca
// importing it.
var _ ca.CTSubmitter = (*ct.Log)(nil)

// ctServer is an RFC 6962 submission endpoint on a real ct.Log, recording
// the chains it receives.
type ctServer struct {
	*httptest.Server
	key *ecdsa.PrivateKey
	mu  sync.Mutex
	got [][][]byte
}

func startCTServer(t *testing.T, roots ...*x509.Certificate) *ctServer {
	t.Helper()
	ctx := context.Background()
	store, err := tlog.OpenSQLite(ctx, filepath.Join(t.TempDir(), "ct.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	signer, _ := format.NewRFC6962NoteSigner("ct.test", key)
	l, err := tlog.Open(ctx, store, tlog.Config{Name: "ct", Origin: "ct.test", Signer: signer, Framing: format.CTDataTiles, BatchMaxAge: time.Millisecond,
		Index: store, History: store})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(l.Close)
	cl, err := ct.New(l, store, key, roots)
	if err != nil {
		t.Fatal(err)
	}
	s := &ctServer{key: key}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		chain, err := ct.ParseChainRequest(body)
		if err != nil {
			http.Error(w, err.Error(), 400)
			return
		}
		s.mu.Lock()
		s.got = append(s.got, chain)
		s.mu.Unlock()
		sct, err := cl.AddChain(r.Context(), chain, r.URL.Path == "/ct/v1/add-pre-chain")
		if err != nil {
			http.Error(w, err.Error(), 400)
			return
		}
		json.NewEncoder(w).Encode(sct.Response())
	}))
	t.Cleanup(s.Close)
	return s
}

// embeddedSCT returns the one SCT of a certificate's SCT list extension.
func embeddedSCT(t *testing.T, cert *x509.Certificate) *format.SCT {
	t.Helper()
	for _, e := range cert.Extensions {
		if !e.Id.Equal(format.OIDSCTList) {
			continue
		}
		var list []byte
		if _, err := asn1.Unmarshal(e.Value, &list); err != nil {
			t.Fatal(err)
		}
		s := cryptobyte.String(list)
		var scts, one cryptobyte.String
		if !s.ReadUint16LengthPrefixed(&scts) || !scts.ReadUint16LengthPrefixed(&one) || !scts.Empty() {
			t.Fatal("malformed SCT list")
		}
		sct, err := format.ParseSCT(one)
		if err != nil {
			t.Fatal(err)
		}
		return sct
	}
	t.Fatal("no SCT list extension")
	return nil
}

func TestCTLogClientEmbedsVerifiedSCT(t *testing.T) {
	ctx := context.Background()
	signer, chain := testChain(t)
	srv := startCTServer(t, chain[1])
	client, err := ca.NewCTLogClient(srv.URL, srv.key.Public(), 0)
	if err != nil {
		t.Fatal(err)
	}
	c := mustCA(t, signer, chain, ca.Options{SCTProvider: client})
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	cert, err := c.Issue(ctx, githubIdentity(), key.Public())
	if err != nil {
		t.Fatal(err)
	}
	if !cert.EmbeddedSCT {
		t.Fatal("no embedded SCT")
	}
	sct := embeddedSCT(t, cert.Leaf)
	pre := srv.got[0]
	e, err := format.PrecertEntry(pre[0], pre[1])
	if err != nil {
		t.Fatal(err)
	}
	if err := format.VerifySCT(srv.key.Public(), sct, e); err != nil {
		t.Fatalf("embedded SCT: %v", err)
	}
	if _, err := format.ParseLeafIndex(sct.Extensions); err != nil {
		t.Fatalf("embedded SCT has no leaf_index: %v", err)
	}
}

func TestCTFailures(t *testing.T) {
	ctx := context.Background()
	signer, chain := testChain(t)
	srv := startCTServer(t, chain[1])
	otherKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	down := httptest.NewServer(http.NotFoundHandler())
	down.Close()

	wrongKey, _ := ca.NewCTLogClient(srv.URL, otherKey.Public(), 0)
	unreachable, _ := ca.NewCTLogClient(down.URL, srv.key.Public(), time.Second)
	for name, p := range map[string]ca.SCTProvider{"wrong key": wrongKey, "log down": unreachable} {
		t.Run(name, func(t *testing.T) {
			key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
			c := mustCA(t, signer, chain, ca.Options{SCTProvider: p})
			if _, err := c.Issue(ctx, githubIdentity(), key.Public()); !errors.Is(err, ca.ErrCT) {
				t.Fatalf("required CT: got %v, want ErrCT", err)
			}
			c = mustCA(t, signer, chain, ca.Options{SCTProvider: p, SCTOptional: true})
			cert, err := c.Issue(ctx, githubIdentity(), key.Public())
			if err != nil {
				t.Fatalf("optional CT: %v", err)
			}
			if cert.EmbeddedSCT || len(cert.Leaf.UnhandledCriticalExtensions) != 0 {
				t.Fatal("a certificate issued without SCT carries an SCT list or the poison")
			}
		})
	}
}

func TestDetachedSCT(t *testing.T) {
	signer, chain := testChain(t)
	srv := startCTServer(t, chain[1])
	client, _ := ca.NewCTLogClient(srv.URL, srv.key.Public(), 0)
	c := mustCA(t, signer, chain, ca.Options{DetachedSCT: client})
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	cert, err := c.Issue(context.Background(), githubIdentity(), key.Public())
	if err != nil {
		t.Fatal(err)
	}
	sct, err := format.ParseAddChainResponse(cert.DetachedSCT)
	if err != nil {
		t.Fatal(err)
	}
	if cert.EmbeddedSCT || format.VerifySCT(srv.key.Public(), sct, &format.Entry{Certificate: cert.Leaf.Raw}) != nil {
		t.Fatal("detached SCT does not verify for the issued certificate")
	}
}

func testChain(t *testing.T) (*ecdsa.PrivateKey, []*x509.Certificate) {
	t.Helper()
	rootKey, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	root, err := ca.CreateRoot(rootKey, ca.CertTemplate{Organization: "Hallmark test", CommonName: "root", Validity: 24 * time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	interKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	inter, err := ca.CreateIntermediate(interKey.Public(), ca.CertTemplate{Organization: "Hallmark test", CommonName: "intermediate", Validity: time.Hour}, root, rootKey)
	if err != nil {
		t.Fatal(err)
	}
	return interKey, []*x509.Certificate{inter, root}
}

func mustCA(t *testing.T, key *ecdsa.PrivateKey, chain []*x509.Certificate, opts ca.Options) *ca.CA {
	t.Helper()
	c, err := ca.New(key, chain, opts)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

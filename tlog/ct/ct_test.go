package ct

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"math/big"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/transparency-dev/merkle/rfc6962"
	"golang.org/x/mod/sumdb/note"

	"github.com/hallmark-dev/hallmark/tlog"
	"github.com/hallmark-dev/hallmark/tlog/format"
)

// testPKI is a root, an issuing intermediate with codeSigning, and a
// leaf template.
type testPKI struct {
	root, inter *x509.Certificate
	interKey    *ecdsa.PrivateKey
}

func mustKey(t testing.TB) *ecdsa.PrivateKey {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func mustCert(t testing.TB, tmpl, parent *x509.Certificate, pub, key any) *x509.Certificate {
	t.Helper()
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, pub, key)
	if err != nil {
		t.Fatal(err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func newPKI(t testing.TB, interEKU ...asn1.ObjectIdentifier) *testPKI {
	now := time.Now()
	rootKey := mustKey(t)
	rootT := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "root", Organization: []string{"test"}},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour), IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageCRLSign}
	root := mustCert(t, rootT, rootT, &rootKey.PublicKey, rootKey)
	interKey := mustKey(t)
	interT := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "intermediate"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(23 * time.Hour), IsCA: true, BasicConstraintsValid: true,
		MaxPathLenZero: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageCodeSigning}, UnknownExtKeyUsage: interEKU}
	inter := mustCert(t, interT, root, &interKey.PublicKey, rootKey)
	return &testPKI{root: root, inter: inter, interKey: interKey}
}

// issue returns a leaf certificate and the precertificate of the same
// template (poison appended), both DER.
func (p *testPKI) issue(t testing.TB, email string) (cert, precert []byte) {
	k := mustKey(t)
	serial, _ := rand.Int(rand.Reader, big.NewInt(1<<62))
	tmpl := &x509.Certificate{SerialNumber: serial, NotBefore: time.Now(), NotAfter: time.Now().Add(10 * time.Minute),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageCodeSigning},
		EmailAddresses: []string{email}}
	cert = mustCert(t, tmpl, p.inter, &k.PublicKey, p.interKey).Raw
	tmpl.ExtraExtensions = []pkix.Extension{{Id: format.OIDPoison, Critical: true, Value: asn1.NullBytes}}
	precert = mustCert(t, tmpl, p.inter, &k.PublicKey, p.interKey).Raw
	return cert, precert
}

func openTestLog(t *testing.T, roots ...*x509.Certificate) (*Log, *tlog.Log, note.Verifier) {
	t.Helper()
	ctx := context.Background()
	store, err := tlog.OpenSQLite(ctx, filepath.Join(t.TempDir(), "ct.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	key := mustKey(t)
	origin := "ct.example.com/test"
	signer, _ := format.NewRFC6962NoteSigner(origin, key)
	verifier, _ := format.NewRFC6962NoteVerifier(origin, key.Public())
	l, err := tlog.Open(ctx, store, tlog.Config{Name: "ct", Origin: origin, Index: store, History: store, Signer: signer, Verifier: verifier,
		Framing: format.CTDataTiles, BatchMaxAge: 5 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(l.Close)
	c, err := New(l, store, key, roots)
	if err != nil {
		t.Fatal(err)
	}
	return c, l, verifier
}

func TestAddChain(t *testing.T) {
	ctx := context.Background()
	p := newPKI(t)
	c, l, verifier := openTestLog(t, p.root)
	cert, precert := p.issue(t, "a@example.com")

	sct, err := c.AddChain(ctx, [][]byte{cert, p.inter.Raw, p.root.Raw}, false)
	if err != nil {
		t.Fatal(err)
	}
	if err := format.VerifySCT(c.key.Public(), sct, &format.Entry{Certificate: cert}); err != nil {
		t.Fatalf("add-chain SCT: %v", err)
	}
	if idx, _ := format.ParseLeafIndex(sct.Extensions); idx != 0 {
		t.Fatalf("first entry has leaf_index %d", idx)
	}
	// The chain may omit the root.
	psct, err := c.AddChain(ctx, [][]byte{precert, p.inter.Raw}, true)
	if err != nil {
		t.Fatal(err)
	}
	pe, err := format.PrecertEntry(precert, p.inter.Raw)
	if err != nil {
		t.Fatal(err)
	}
	if err := format.VerifySCT(c.key.Public(), psct, pe); err != nil {
		t.Fatalf("add-pre-chain SCT: %v", err)
	}
	if err := format.VerifySCT(c.key.Public(), psct, &format.Entry{Certificate: cert}); err == nil {
		t.Fatal("a precert SCT verifies as an x509_entry SCT")
	}
	if idx, _ := format.ParseLeafIndex(psct.Extensions); idx != 1 {
		t.Fatalf("second entry has leaf_index %d", idx)
	}

	// Resubmission: same entry, same timestamp, no new leaf.
	time.Sleep(5 * time.Millisecond)
	again, err := c.AddChain(ctx, [][]byte{precert, p.inter.Raw, p.root.Raw}, true)
	if err != nil {
		t.Fatal(err)
	}
	if again.Timestamp != psct.Timestamp || !bytes.Equal(again.Extensions, psct.Extensions) {
		t.Fatalf("resubmission got SCT (%d, %x), the first was (%d, %x)", again.Timestamp, again.Extensions, psct.Timestamp, psct.Extensions)
	}
	cp, err := l.Checkpoint(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if cp.Size != 2 {
		t.Fatalf("tree size %d after a resubmission, want 2", cp.Size)
	}
	if _, err := note.Open(cp.Note, note.VerifierList(verifier)); err != nil {
		t.Fatalf("checkpoint: %v", err)
	}

	// The data tile holds both entries, hashing to the tree's leaves.
	bundle, err := l.EntryBundle(ctx, 0, 2)
	if err != nil {
		t.Fatal(err)
	}
	entries, _, err := format.CTDataTiles.Split(bundle)
	if err != nil || len(entries) != 2 {
		t.Fatalf("data tile: %d entries, %v", len(entries), err)
	}
	for i, raw := range entries {
		e, err := format.ParseTileLeaf(raw)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(e.TileLeaf(), raw) {
			t.Fatalf("entry %d does not re-encode to its bytes", i)
		}
		h, _ := l.LeafHash(ctx, uint64(i), 2)
		if !bytes.Equal(h, rfc6962.DefaultHasher.HashLeaf(e.MerkleTreeLeaf())) {
			t.Fatalf("entry %d: leaf hash differs from HashLeaf(MerkleTreeLeaf)", i)
		}
		if len(e.ChainFingerprints) != 2 || e.ChainFingerprints[0] != sha256.Sum256(p.inter.Raw) || e.ChainFingerprints[1] != sha256.Sum256(p.root.Raw) {
			t.Fatalf("entry %d: chain fingerprints %x", i, e.ChainFingerprints)
		}
		for _, fp := range e.ChainFingerprints {
			if _, err := c.Issuer(ctx, fp); err != nil {
				t.Fatalf("issuer %x: %v", fp, err)
			}
		}
	}
	e1, _ := format.ParseTileLeaf(entries[1])
	if !e1.IsPrecert || !bytes.Equal(e1.PreCertificate, precert) || e1.Timestamp != psct.Timestamp || e1.LeafIndex != 1 {
		t.Fatal("precert entry does not record the precertificate, its timestamp and index")
	}
}

func TestAddChainRejects(t *testing.T) {
	ctx := context.Background()
	p := newPKI(t)
	other := newPKI(t)
	signing := newPKI(t, format.OIDPrecertSigning)
	c, _, _ := openTestLog(t, p.root, signing.root)
	cert, precert := p.issue(t, "a@example.com")
	ocert, _ := other.issue(t, "b@example.com")
	_, sprecert := signing.issue(t, "c@example.com")
	for _, tc := range []struct {
		name    string
		chain   [][]byte
		precert bool
	}{
		{"unknown root", [][]byte{ocert, other.inter.Raw, other.root.Raw}, false},
		{"missing intermediate", [][]byte{cert, p.root.Raw}, false},
		{"precert to add-chain", [][]byte{precert, p.inter.Raw}, false},
		{"cert to add-pre-chain", [][]byte{cert, p.inter.Raw}, true},
		{"root alone", [][]byte{p.root.Raw}, false},
		{"garbage", [][]byte{[]byte("not a certificate")}, false},
		{"precert signing certificate", [][]byte{sprecert, signing.inter.Raw}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := c.AddChain(ctx, tc.chain, tc.precert)
			if !errors.Is(err, tlog.ErrInvalidRequest) {
				t.Fatalf("got %v, want an ErrInvalidRequest", err)
			}
		})
	}
}

func TestParseChainRequest(t *testing.T) {
	b64 := base64.StdEncoding.EncodeToString
	for _, tc := range []struct {
		body string
		n    int // -1: error
	}{
		{`{"chain":["` + b64([]byte{1}) + `","` + b64([]byte{2}) + `"]}`, 2},
		{`{"chain":[]}`, -1},
		{`{}`, -1},
		{`{"chain":["***"]}`, -1},
		{`{"chain":[""]}`, -1},
		{`[1]`, -1},
		{`{"chain":` + string(must(json.Marshal(make([]string, MaxChainLength+1)))) + `}`, -1},
	} {
		got, err := ParseChainRequest([]byte(tc.body))
		if tc.n < 0 {
			if !errors.Is(err, tlog.ErrInvalidRequest) {
				t.Errorf("%s: got %v, want ErrInvalidRequest", tc.body, err)
			}
			continue
		}
		if err != nil || len(got) != tc.n {
			t.Errorf("%s: got %d certificates, %v", tc.body, len(got), err)
		}
	}
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

// TestVerifiedIssuerCache: once an issuer chain has verified, leaves
// under it are checked against it alone; that shortcut must reject what
// the full verification rejects.
func TestVerifiedIssuerCache(t *testing.T) {
	ctx := context.Background()
	p := newPKI(t)
	c, _, _ := openTestLog(t, p.root)
	cert, precert := p.issue(t, "a@example.com")
	if _, err := c.AddChain(ctx, [][]byte{precert, p.inter.Raw, p.root.Raw}, true); err != nil {
		t.Fatal(err)
	}
	if len(c.verified) != 1 {
		t.Fatalf("%d issuer chains cached, want 1", len(c.verified))
	}
	// Same issuer: the cached path accepts a good leaf.
	if _, err := c.AddChain(ctx, [][]byte{cert, p.inter.Raw}, false); err != nil {
		t.Fatal(err)
	}

	// A leaf naming the intermediate but signed by another key.
	k := mustKey(t)
	forged := &x509.Certificate{SerialNumber: big.NewInt(7), Subject: p.inter.Subject, NotBefore: time.Now(),
		NotAfter: time.Now().Add(time.Hour), IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	fake := mustCert(t, forged, forged, &k.PublicKey, k)
	leafT := &x509.Certificate{SerialNumber: big.NewInt(8), NotBefore: time.Now(), NotAfter: time.Now().Add(10 * time.Minute),
		EmailAddresses: []string{"mallory@example.com"}}
	bad := mustCert(t, leafT, fake, &mustKey(t).PublicKey, k).Raw
	// A leaf from before the intermediate's validity.
	early := *leafT
	early.NotBefore = p.inter.NotBefore.Add(-time.Minute)
	old := mustCert(t, &early, p.inter, &mustKey(t).PublicKey, p.interKey).Raw
	for name, chain := range map[string][][]byte{
		"wrong signer":         {bad, p.inter.Raw},
		"before the issuer":    {old, p.inter.Raw},
		"root as intermediate": {cert, p.root.Raw},
	} {
		if _, err := c.AddChain(ctx, chain, false); !errors.Is(err, tlog.ErrInvalidRequest) {
			t.Errorf("%s: got %v, want an ErrInvalidRequest", name, err)
		}
	}
}

// TestVerifiedIssuerCacheChainFileRoots: with hallmark-ca's chain file as
// roots (intermediate and root both accepted), the CA's submissions
// [precert, intermediate, root] take the cached path.
func TestVerifiedIssuerCacheChainFileRoots(t *testing.T) {
	p := newPKI(t)
	c, _, _ := openTestLog(t, p.inter, p.root)
	for i := range 3 {
		_, precert := p.issue(t, "a@example.com")
		if i > 0 {
			leaf, err := x509.ParseCertificate(precert)
			if err != nil {
				t.Fatal(err)
			}
			leaf.UnhandledCriticalExtensions = nil
			if c.knownIssuers(leaf, [][]byte{precert, p.inter.Raw, p.root.Raw}) == nil {
				t.Fatalf("submission %d does not take the cached path", i)
			}
		}
		if _, err := c.AddChain(context.Background(), [][]byte{precert, p.inter.Raw, p.root.Raw}, true); err != nil {
			t.Fatal(err)
		}
	}
}

// wrongSigner signs with another key than the one it names, as a faulty
// HSM or KMS would.
type wrongSigner struct {
	*ecdsa.PrivateKey
	other *ecdsa.PrivateKey
}

func (w wrongSigner) Sign(r io.Reader, d []byte, o crypto.SignerOpts) ([]byte, error) {
	return w.other.Sign(r, d, o)
}

// TestFaultySCTSigner checks that a log key outside the process's memory
// has every SCT checked before it is returned.
func TestFaultySCTSigner(t *testing.T) {
	ctx := context.Background()
	p := newPKI(t)
	store, err := tlog.OpenSQLite(ctx, filepath.Join(t.TempDir(), "ct.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	key := mustKey(t)
	signer, _ := format.NewRFC6962NoteSigner("ct.example.com/faulty", key)
	l, err := tlog.Open(ctx, store, tlog.Config{Name: "ct", Origin: "ct.example.com/faulty", Index: store, History: store, Signer: signer,
		Framing: format.CTDataTiles, BatchMaxAge: 5 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(l.Close)
	c, err := New(l, store, wrongSigner{key, mustKey(t)}, []*x509.Certificate{p.root})
	if err != nil {
		t.Fatal(err)
	}
	_, precert := p.issue(t, "a@example.com")
	if sct, err := c.AddChain(ctx, [][]byte{precert, p.inter.Raw, p.root.Raw}, true); err == nil || !strings.Contains(err.Error(), "does not verify") {
		t.Fatalf("got %v, %v; want an SCT that does not verify", sct, err)
	}
}

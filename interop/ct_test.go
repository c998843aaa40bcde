package interop

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	stdx509 "crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	ct "github.com/google/certificate-transparency-go"
	ctclient "github.com/google/certificate-transparency-go/client"
	"github.com/google/certificate-transparency-go/ctutil"
	"github.com/google/certificate-transparency-go/jsonclient"
	cttls "github.com/google/certificate-transparency-go/tls"
	ctx509 "github.com/google/certificate-transparency-go/x509"
	fnote "github.com/transparency-dev/formats/note"
	"github.com/transparency-dev/merkle/proof"
	"github.com/transparency-dev/merkle/rfc6962"
	"github.com/transparency-dev/tessera/client"

	"github.com/hallmark-dev/hallmark/tlog/format"
)

// ctPKI is a test CA: a root and an intermediate with codeSigning, as
// Hallmark's CA chain looks.
type ctPKI struct {
	root, inter *stdx509.Certificate
	interKey    *ecdsa.PrivateKey
}

func newCTPKI(t *testing.T) *ctPKI {
	t.Helper()
	now := time.Now()
	rk, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	ik, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	rt := &stdx509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "ct test root", Organization: []string{"hallmark"}},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour), IsCA: true, BasicConstraintsValid: true,
		KeyUsage: stdx509.KeyUsageCertSign | stdx509.KeyUsageCRLSign}
	it := &stdx509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "ct test intermediate", Organization: []string{"hallmark"}},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(23 * time.Hour), IsCA: true, BasicConstraintsValid: true, MaxPathLenZero: true,
		KeyUsage: stdx509.KeyUsageCertSign | stdx509.KeyUsageCRLSign, ExtKeyUsage: []stdx509.ExtKeyUsage{stdx509.ExtKeyUsageCodeSigning}}
	p := &ctPKI{interKey: ik}
	p.root = mustParse(t, mustCreate(t, rt, rt, &rk.PublicKey, rk))
	p.inter = mustParse(t, mustCreate(t, it, p.root, &ik.PublicKey, rk))
	return p
}

func mustCreate(t *testing.T, tmpl, parent *stdx509.Certificate, pub, key any) []byte {
	t.Helper()
	der, err := stdx509.CreateCertificate(rand.Reader, tmpl, parent, pub, key)
	if err != nil {
		t.Fatal(err)
	}
	return der
}

func mustParse(t *testing.T, der []byte) *stdx509.Certificate {
	t.Helper()
	c, err := stdx509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// leafTemplate is a Fulcio-like code-signing leaf.
func (p *ctPKI) leafTemplate(email string) (*stdx509.Certificate, *ecdsa.PrivateKey) {
	k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	serial, _ := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 159))
	return &stdx509.Certificate{SerialNumber: serial, NotBefore: time.Now(), NotAfter: time.Now().Add(10 * time.Minute),
		KeyUsage: stdx509.KeyUsageDigitalSignature, ExtKeyUsage: []stdx509.ExtKeyUsage{stdx509.ExtKeyUsageCodeSigning},
		EmailAddresses: []string{email}, PublicKey: &k.PublicKey}, k
}

func (p *ctPKI) rootsFile(t *testing.T) string {
	f := filepath.Join(t.TempDir(), "roots.pem")
	os.WriteFile(f, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: p.root.Raw}), 0o600)
	return f
}

func startCTLog(t *testing.T, dbURL string, p *ctPKI) (*logProc, *servedLog) {
	lp := startLogServer(t, dbURL, logSpec{Name: "ct", Kind: "ct", Path: "/ct/2026", KeyType: "ecdsa-p256",
		Extra: fmt.Sprintf("    ct: {roots_file: %q}\n    batch: {max_age: 20ms}\n", p.rootsFile(t))})
	return lp, lp.Logs["ct"]
}

func ctParse(t *testing.T, der []byte) *ctx509.Certificate {
	t.Helper()
	c, err := ctx509.ParseCertificate(der)
	if err != nil && !strings.Contains(err.Error(), "NonFatal") {
		t.Fatal(err)
	}
	return c
}

// TestCTGoClientAndTesseraReader submits a certificate chain and a
// precertificate chain with certificate-transparency-go's LogClient (which
// verifies each SCT signature), checks the SCTs again with ctutil, builds
// the final certificate with the precertificate's SCT embedded and checks
// it the way TLS clients do, then reads the static-ct-api checkpoint and
// tiles with tessera's client and proves inclusion of both entries, whose
// leaf hashes are computed by certificate-transparency-go.
func TestCTGoClientAndTesseraReader(t *testing.T) {
	stores(t, func(t *testing.T, dbURL string) {
		ctx := context.Background()
		p := newCTPKI(t)
		lp, sl := startCTLog(t, dbURL, p)
		pubDER, _ := stdx509.MarshalPKIXPublicKey(sl.Key.Public())
		lc, err := ctclient.New(sl.URL, http.DefaultClient, jsonclient.Options{PublicKeyDER: pubDER})
		if err != nil {
			t.Fatal(err)
		}

		roots, err := lc.GetAcceptedRoots(ctx)
		if err != nil || len(roots) != 1 || !bytes.Equal(roots[0].Data, p.root.Raw) {
			t.Fatalf("get-roots: %d roots, %v", len(roots), err)
		}

		// add-chain: a certificate.
		tmpl, _ := p.leafTemplate("cert@example.com")
		certDER := mustCreate(t, tmpl, p.inter, tmpl.PublicKey, p.interKey)
		sct, err := lc.AddChain(ctx, []ct.ASN1Cert{{Data: certDER}, {Data: p.inter.Raw}, {Data: p.root.Raw}})
		if err != nil {
			t.Fatalf("add-chain: %v", err)
		}
		if err := ctutil.VerifySCT(sl.Key.Public(), []*ctx509.Certificate{ctParse(t, certDER)}, sct, false); err != nil {
			t.Fatalf("ctutil.VerifySCT(add-chain SCT): %v", err)
		}

		// add-pre-chain: a precertificate, then the final certificate with
		// the SCT embedded.
		tmpl, _ = p.leafTemplate("precert@example.com")
		tmpl.ExtraExtensions = []pkix.Extension{{Id: format.OIDPoison, Critical: true, Value: asn1.NullBytes}}
		preDER := mustCreate(t, tmpl, p.inter, tmpl.PublicKey, p.interKey)
		psct, err := lc.AddPreChain(ctx, []ct.ASN1Cert{{Data: preDER}, {Data: p.inter.Raw}, {Data: p.root.Raw}})
		if err != nil {
			t.Fatalf("add-pre-chain: %v", err)
		}
		inter := ctParse(t, p.inter.Raw)
		if err := ctutil.VerifySCT(sl.Key.Public(), []*ctx509.Certificate{ctParse(t, preDER), inter}, psct, false); err != nil {
			t.Fatalf("ctutil.VerifySCT(add-pre-chain SCT): %v", err)
		}
		hsct, err := format.ParseSCT(mustTLS(t, psct))
		if err != nil {
			t.Fatal(err)
		}
		list, _ := asn1.Marshal(sctList(hsct.Marshal()))
		tmpl.ExtraExtensions = []pkix.Extension{{Id: format.OIDSCTList, Value: list}}
		finalDER := mustCreate(t, tmpl, p.inter, tmpl.PublicKey, p.interKey)
		if err := ctutil.VerifySCT(sl.Key.Public(), []*ctx509.Certificate{ctParse(t, finalDER), inter}, psct, true); err != nil {
			t.Fatalf("ctutil.VerifySCT(embedded SCT): %v", err)
		}
		idx, err := format.ParseLeafIndex(psct.Extensions)
		if err != nil || idx != 1 {
			t.Fatalf("precert SCT leaf_index %d, %v", idx, err)
		}

		// A chain to another root is refused.
		other := newCTPKI(t)
		otmpl, _ := other.leafTemplate("x@example.com")
		if _, err := lc.AddChain(ctx, []ct.ASN1Cert{{Data: mustCreate(t, otmpl, other.inter, otmpl.PublicKey, other.interKey)}, {Data: other.inter.Raw}}); err == nil {
			t.Fatal("add-chain accepted a chain to an unknown root")
		}

		// Read side, with tessera's client and formats' RFC 6962 verifier.
		vkey, err := fnote.RFC6962VerifierString(sl.URL, sl.Key.Public())
		if err != nil {
			t.Fatal(err)
		}
		verifier, err := fnote.NewRFC6962Verifier(vkey)
		if err != nil {
			t.Fatal(err)
		}
		if verifier.Name() != lp.Origin {
			t.Fatalf("verifier name %q, checkpoint origin %q", verifier.Name(), lp.Origin)
		}
		u, _ := url.Parse(sl.URL + "/")
		f, err := client.NewHTTPFetcher(u, nil)
		if err != nil {
			t.Fatal(err)
		}
		cp, _, _, err := client.FetchCheckpoint(ctx, f.ReadCheckpoint, verifier, lp.Origin)
		if err != nil {
			t.Fatalf("checkpoint: %v", err)
		}
		if cp.Size != 2 {
			t.Fatalf("checkpoint size %d, want 2", cp.Size)
		}
		pb, err := client.NewProofBuilder(ctx, cp.Size, f.ReadTile)
		if err != nil {
			t.Fatal(err)
		}
		leaves := []struct {
			chain []*ctx509.Certificate
			etype ct.LogEntryType
			sct   *ct.SignedCertificateTimestamp
		}{
			{[]*ctx509.Certificate{ctParse(t, certDER)}, ct.X509LogEntryType, sct},
			{[]*ctx509.Certificate{ctParse(t, preDER), inter}, ct.PrecertLogEntryType, psct},
		}
		for i, l := range leaves {
			leaf, err := ct.MerkleTreeLeafFromChain(l.chain, l.etype, l.sct.Timestamp)
			if err != nil {
				t.Fatal(err)
			}
			leaf.TimestampedEntry.Extensions = l.sct.Extensions
			h, err := ct.LeafHashForLeaf(leaf)
			if err != nil {
				t.Fatal(err)
			}
			pr, err := pb.InclusionProof(ctx, uint64(i))
			if err != nil {
				t.Fatal(err)
			}
			if err := proof.VerifyInclusion(rfc6962.DefaultHasher, uint64(i), cp.Size, h[:], pr, cp.Hash); err != nil {
				t.Fatalf("entry %d: inclusion: %v", i, err)
			}
		}

		// The data tile and the issuers it names.
		httpGet(t, sl.URL+"/tile/entries/000.p/2", 400) // tlog-tiles bundles are not served
		data := httpGet(t, sl.URL+"/tile/data/000.p/2", 200)
		entries, _, err := format.CTDataTiles.Split(data)
		if err != nil || len(entries) != 2 {
			t.Fatalf("data tile: %d entries, %v", len(entries), err)
		}
		pe, err := format.ParseTileLeaf(entries[1])
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(pe.PreCertificate, preDER) || pe.Timestamp != psct.Timestamp {
			t.Fatal("data tile entry 1 is not the precertificate with its SCT timestamp")
		}
		for _, fp := range pe.ChainFingerprints {
			got := httpGet(t, fmt.Sprintf("%s/issuer/%x", sl.URL, fp), 200)
			if fpOf(got) != fp {
				t.Fatalf("issuer %x serves another certificate", fp)
			}
		}
	})
}

func fpOf(b []byte) [32]byte { return sha256.Sum256(b) }

// sctList is the content of the SCT list extension holding one SCT:
// SignedCertificateTimestampList (RFC 6962 §3.3), to be wrapped in an
// OCTET STRING.
func sctList(sct []byte) []byte {
	inner := append([]byte{byte(len(sct) >> 8), byte(len(sct))}, sct...)
	return append([]byte{byte(len(inner) >> 8), byte(len(inner))}, inner...)
}

func httpGet(t *testing.T, u string, want int) []byte {
	t.Helper()
	resp, err := http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != want {
		t.Fatalf("GET %s: HTTP %d, want %d: %s", u, resp.StatusCode, want, b)
	}
	return b
}

// mustTLS returns the TLS encoding of a certificate-transparency-go SCT.
func mustTLS(t *testing.T, s *ct.SignedCertificateTimestamp) []byte {
	t.Helper()
	b, err := cttls.Marshal(*s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

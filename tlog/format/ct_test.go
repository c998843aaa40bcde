package format

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/json"
	"math/big"
	"testing"
	"time"
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
	tmpl.ExtraExtensions = []pkix.Extension{{Id: OIDPoison, Critical: true, Value: asn1.NullBytes}}
	precert = mustCert(t, tmpl, p.inter, &k.PublicKey, p.interKey).Raw
	return cert, precert
}

func TestPrecertTBS(t *testing.T) {
	p := newPKI(t)
	cert, precert := p.issue(t, "a@example.com")
	tbs, err := PrecertTBS(precert)
	if err != nil {
		t.Fatal(err)
	}
	c, _ := x509.ParseCertificate(cert)
	if !bytes.Equal(tbs, c.RawTBSCertificate) {
		t.Fatal("precertificate TBS without poison differs from the certificate's TBS of the same template")
	}
	if _, err := PrecertTBS(cert); err == nil {
		t.Fatal("PrecertTBS accepted a certificate without poison")
	}
	if _, err := PrecertTBS(precert[:len(precert)-1]); err == nil {
		t.Fatal("PrecertTBS accepted a truncated certificate")
	}
}

func TestExtensions(t *testing.T) {
	for _, idx := range []uint64{0, 1, 255, 1 << 32, MaxLeafIndex} {
		ext := extensions(idx)
		if len(ext) != 8 {
			t.Fatalf("leaf_index extensions are %d bytes, the spec says 8", len(ext))
		}
		got, err := ParseLeafIndex(ext)
		if err != nil || got != idx {
			t.Fatalf("ParseLeafIndex(extensions(%d)) = %d, %v", idx, got, err)
		}
	}
	if _, err := ParseLeafIndex(nil); err == nil {
		t.Fatal("empty extensions have no leaf_index")
	}
	if _, err := ParseLeafIndex(append(extensions(1), extensions(2)...)); err == nil {
		t.Fatal("duplicate leaf_index accepted")
	}
}

func TestSCTEncoding(t *testing.T) {
	s := &SCT{Timestamp: 1234, Extensions: extensions(7), Signature: []byte{0x30, 1, 2}}
	s.LogID[0] = 9
	got, err := ParseSCT(s.Marshal())
	if err != nil || got.Timestamp != 1234 || !bytes.Equal(got.Signature, s.Signature) || got.LogID != s.LogID {
		t.Fatalf("SCT round trip: %+v, %v", got, err)
	}
	j, _ := json.Marshal(s.Response())
	back, err := ParseAddChainResponse(j)
	if err != nil || !bytes.Equal(back.Marshal(), s.Marshal()) {
		t.Fatalf("add-chain response round trip: %v", err)
	}
}

// FuzzTileLeaf checks that whatever parses as a TileLeaf re-encodes to
// the same bytes, and that Split agrees with ParseTileLeaf.
func FuzzTileLeaf(f *testing.F) {
	p := newPKI(f)
	cert, precert := p.issue(f, "a@example.com")
	pe, _ := PrecertEntry(precert, p.inter.Raw)
	pe.LeafIndex, pe.Timestamp = 3, 99
	f.Add((&Entry{Certificate: cert, LeafIndex: 1}).TileLeaf())
	f.Add(pe.TileLeaf())
	f.Fuzz(func(t *testing.T, b []byte) {
		if e, err := ParseTileLeaf(b); err == nil && !bytes.Equal(e.TileLeaf(), b) {
			t.Fatal("TileLeaf does not re-encode to its bytes")
		}
		entries, ends, err := CTDataTiles.Split(b)
		if err == nil && len(entries) > 0 && ends[len(ends)-1] != len(b) {
			t.Fatal("Split does not cover the bundle")
		}
	})
}

// FuzzParseSCT: SCTs come from CT logs the CA does not control. Whatever
// parses re-encodes to the same bytes, and the add-chain JSON form round
// trips.
func FuzzParseSCT(f *testing.F) {
	s := &SCT{Timestamp: 1234, Extensions: extensions(7), Signature: []byte{0x30, 1, 2}}
	f.Add(s.Marshal())
	f.Add([]byte{0})
	f.Fuzz(func(t *testing.T, b []byte) {
		sct, err := ParseSCT(b)
		if err != nil {
			return
		}
		if !bytes.Equal(sct.Marshal(), b) {
			t.Fatal("SCT does not re-encode to its bytes")
		}
		j, err := json.Marshal(sct.Response())
		if err != nil {
			t.Fatal(err)
		}
		back, err := ParseAddChainResponse(j)
		if err != nil || !bytes.Equal(back.Marshal(), b) {
			t.Fatalf("add-chain response round trip: %v", err)
		}
	})
}

package ca_test

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/pem"
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/cryptobyte"
	cbasn1 "golang.org/x/crypto/cryptobyte/asn1"

	"github.com/hallmark-dev/hallmark/ca"
	"github.com/hallmark-dev/hallmark/oidc"
)

// testChain creates a root and an intermediate and returns a CA on the
// intermediate.
func testCA(t testing.TB, opts ca.Options) (*ca.CA, []*x509.Certificate) {
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
	chain := []*x509.Certificate{inter, root}
	c, err := ca.New(interKey, chain, opts)
	if err != nil {
		t.Fatal(err)
	}
	return c, chain
}

func githubIdentity() *oidc.Identity {
	return &oidc.Identity{
		Issuer: "https://token.actions.githubusercontent.com", Subject: "repo:acme/app:ref:refs/heads/main",
		SANKind: oidc.SANURI, SAN: "https://github.com/acme/app/.github/workflows/release.yml@refs/heads/main",
		Extensions: oidc.Extensions{
			Issuer: "https://token.actions.githubusercontent.com", GithubWorkflowTrigger: "push",
			GithubWorkflowRepository: "acme/app", SourceRepositoryURI: "https://github.com/acme/app",
			RunnerEnvironment: "github-hosted", Subject: "repo:acme/app:ref:refs/heads/main",
		},
	}
}

func TestIssueProfile(t *testing.T) {
	now := time.Now().Truncate(time.Second)
	c, chain := testCA(t, ca.Options{Now: func() time.Time { return now }})
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	cert, err := c.Issue(context.Background(), githubIdentity(), key.Public())
	if err != nil {
		t.Fatal(err)
	}
	leaf := cert.Leaf
	if len(leaf.RawSubject) != 2 { // an empty SEQUENCE
		t.Errorf("subject = %v, want empty", leaf.Subject)
	}
	if !leaf.NotBefore.Equal(now) || !leaf.NotAfter.Equal(now.Add(10*time.Minute)) {
		t.Errorf("validity = %v..%v", leaf.NotBefore, leaf.NotAfter)
	}
	if leaf.KeyUsage != x509.KeyUsageDigitalSignature || len(leaf.ExtKeyUsage) != 1 || leaf.ExtKeyUsage[0] != x509.ExtKeyUsageCodeSigning {
		t.Errorf("KU %v EKU %v", leaf.KeyUsage, leaf.ExtKeyUsage)
	}
	if leaf.IsCA || leaf.BasicConstraintsValid {
		t.Error("leaf has basic constraints")
	}
	if !bytes.Equal(leaf.AuthorityKeyId, chain[0].SubjectKeyId) || len(leaf.SubjectKeyId) != 20 {
		t.Error("AKI/SKI wrong")
	}
	if leaf.SerialNumber.BitLen() > 159 || leaf.SerialNumber.Sign() <= 0 {
		t.Errorf("serial %v", leaf.SerialNumber)
	}
	if len(leaf.URIs) != 1 || leaf.URIs[0].String() != githubIdentity().SAN || len(leaf.EmailAddresses) != 0 {
		t.Errorf("SANs %v %v", leaf.URIs, leaf.EmailAddresses)
	}
	exts := map[string]pkix.Extension{}
	var order []string
	for _, e := range leaf.Extensions {
		exts[e.Id.String()] = e
		order = append(order, e.Id.String())
	}
	if !exts["2.5.29.17"].Critical {
		t.Error("SAN not critical")
	}
	// Raw (legacy) encodings.
	for oid, want := range map[string]string{"1.3.6.1.4.1.57264.1.1": githubIdentity().Issuer, "1.3.6.1.4.1.57264.1.2": "push", "1.3.6.1.4.1.57264.1.5": "acme/app"} {
		if got := string(exts[oid].Value); got != want {
			t.Errorf("%s = %q, want raw %q", oid, got, want)
		}
	}
	// DER UTF8String encodings.
	for oid, want := range map[string]string{"1.3.6.1.4.1.57264.1.8": githubIdentity().Issuer, "1.3.6.1.4.1.57264.1.11": "github-hosted", "1.3.6.1.4.1.57264.1.12": "https://github.com/acme/app", "1.3.6.1.4.1.57264.1.24": githubIdentity().Subject} {
		var s string
		rest, err := asn1.UnmarshalWithParams(exts[oid].Value, &s, "utf8")
		if err != nil || len(rest) != 0 || s != want || exts[oid].Value[0] != 0x0c {
			t.Errorf("%s = %x (%v), want UTF8String %q", oid, exts[oid].Value, err, want)
		}
	}
	for _, absent := range []string{"1.3.6.1.4.1.57264.1.3", "1.3.6.1.4.1.57264.1.9", "1.3.6.1.4.1.57264.1.23"} {
		if _, ok := exts[absent]; ok {
			t.Errorf("%s present for an empty value", absent)
		}
	}
	if strings.Join(order, ",") != strings.Join(sortedFulcioLast(order), ",") {
		t.Errorf("extension order %v", order)
	}
	// The chain verifies for code signing.
	roots, inter := x509.NewCertPool(), x509.NewCertPool()
	roots.AddCert(chain[1])
	inter.AddCert(chain[0])
	if _, err := leaf.Verify(x509.VerifyOptions{Roots: roots, Intermediates: inter, CurrentTime: now.Add(time.Minute), KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageCodeSigning}}); err != nil {
		t.Errorf("leaf does not verify: %v", err)
	}
}

// sortedFulcioLast returns the standard extensions in their order followed
// by the Fulcio ones in numeric order.
func sortedFulcioLast(order []string) []string {
	var std, fulcio []string
	for _, o := range order {
		if strings.HasPrefix(o, "1.3.6.1.4.1.57264.1.") {
			fulcio = append(fulcio, o)
		} else {
			std = append(std, o)
		}
	}
	for i := 1; i < len(fulcio); i++ {
		for j := i; j > 0 && lastArc(fulcio[j]) < lastArc(fulcio[j-1]); j-- {
			fulcio[j], fulcio[j-1] = fulcio[j-1], fulcio[j]
		}
	}
	return append(std, fulcio...)
}

func lastArc(oid string) int {
	var n int
	for _, ch := range oid[strings.LastIndexByte(oid, '.')+1:] {
		n = n*10 + int(ch-'0')
	}
	return n
}

func TestIssueSANKinds(t *testing.T) {
	c, _ := testCA(t, ca.Options{})
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	id := &oidc.Identity{Issuer: "https://idp", SANKind: oidc.SANEmail, SAN: "a@example.com", Extensions: oidc.Extensions{Issuer: "https://idp"}}
	cert, err := c.Issue(context.Background(), id, key.Public())
	if err != nil || len(cert.Leaf.EmailAddresses) != 1 || cert.Leaf.EmailAddresses[0] != "a@example.com" {
		t.Fatalf("email: %v %v", err, cert)
	}
	id = &oidc.Identity{Issuer: "https://idp", SANKind: oidc.SANOtherName, SAN: "alice!example.com", Extensions: oidc.Extensions{Issuer: "https://idp"}}
	cert, err = c.Issue(context.Background(), id, key.Public())
	if err != nil {
		t.Fatal(err)
	}
	var san pkix.Extension
	for _, e := range cert.Leaf.Extensions {
		if e.Id.Equal(asn1.ObjectIdentifier{2, 5, 29, 17}) {
			san = e
		}
	}
	if !san.Critical {
		t.Error("otherName SAN not critical")
	}
	// SEQUENCE { [0] { OID 1.3.6.1.4.1.57264.1.7, [0] { UTF8String } } }
	in := cryptobyte.String(san.Value)
	var seq, on, val cryptobyte.String
	var oid asn1.ObjectIdentifier
	var name []byte
	if !in.ReadASN1(&seq, cbasn1.SEQUENCE) || !seq.ReadASN1(&on, cbasn1.Tag(0).ContextSpecific().Constructed()) ||
		!on.ReadASN1ObjectIdentifier(&oid) || !on.ReadASN1(&val, cbasn1.Tag(0).ContextSpecific().Constructed()) ||
		!val.ReadASN1Bytes(&name, cbasn1.UTF8String) {
		t.Fatalf("otherName SAN does not parse: %x", san.Value)
	}
	if oid.String() != "1.3.6.1.4.1.57264.1.7" || string(name) != "alice!example.com" {
		t.Errorf("otherName = %v %q", oid, name)
	}
}

type fakeSCT struct{ chain [][]byte }

func (f *fakeSCT) PrecertSCT(ctx context.Context, chain [][]byte) ([]byte, error) {
	f.chain = chain
	return []byte("an-sct"), nil
}

// TestEmbeddedSCT checks the seam for the CT log: the precertificate
// carries the poison, and the final certificate's TBS equals the
// precertificate's with the poison replaced by the SCT list.
func TestEmbeddedSCT(t *testing.T) {
	f := &fakeSCT{}
	c, chain := testCA(t, ca.Options{SCTProvider: f})
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	cert, err := c.Issue(context.Background(), githubIdentity(), key.Public())
	if err != nil {
		t.Fatal(err)
	}
	if !cert.EmbeddedSCT || len(f.chain) != 3 || !bytes.Equal(f.chain[1], chain[0].Raw) || !bytes.Equal(f.chain[2], chain[1].Raw) {
		t.Fatalf("provider got chain of %d", len(f.chain))
	}
	pre, err := x509.ParseCertificate(f.chain[0])
	if err != nil {
		t.Fatal(err)
	}
	last := func(c *x509.Certificate) pkix.Extension { return c.Extensions[len(c.Extensions)-1] }
	if p := last(pre); p.Id.String() != "1.3.6.1.4.1.11129.2.4.3" || !p.Critical || !bytes.Equal(p.Value, []byte{5, 0}) {
		t.Errorf("precert poison = %+v", p)
	}
	if s := last(cert.Leaf); s.Id.String() != "1.3.6.1.4.1.11129.2.4.2" || s.Critical {
		t.Errorf("SCT list extension = %+v", s)
	} else {
		var list []byte
		asn1.Unmarshal(s.Value, &list)
		if want := append([]byte{0, 8, 0, 6}, "an-sct"...); !bytes.Equal(list, want) {
			t.Errorf("SCT list = %x, want %x", list, want)
		}
	}
	if len(pre.Extensions) != len(cert.Leaf.Extensions) || pre.SerialNumber.Cmp(cert.Leaf.SerialNumber) != 0 || !pre.NotAfter.Equal(cert.Leaf.NotAfter) {
		t.Fatal("precert and final certificate differ beyond the last extension")
	}
	for i := range len(pre.Extensions) - 1 {
		if !pre.Extensions[i].Id.Equal(cert.Leaf.Extensions[i].Id) || !bytes.Equal(pre.Extensions[i].Value, cert.Leaf.Extensions[i].Value) {
			t.Errorf("extension %d differs", i)
		}
	}
}

// tbsWithout returns the TBSCertificate of cert (DER) without the
// extension oid, re-encoded: the form RFC 6962 §3.2 compares a
// precertificate and its final certificate in.
func tbsWithout(t *testing.T, cert []byte, oid asn1.ObjectIdentifier) []byte {
	t.Helper()
	in := cryptobyte.String(cert)
	var c, tbs cryptobyte.String
	if !in.ReadASN1(&c, cbasn1.SEQUENCE) || !c.ReadASN1(&tbs, cbasn1.SEQUENCE) {
		t.Fatal("malformed certificate")
	}
	extTag := cbasn1.Tag(3).Constructed().ContextSpecific()
	var b cryptobyte.Builder
	b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
		for !tbs.Empty() {
			var el, wrapper, exts cryptobyte.String
			var tag cbasn1.Tag
			if !tbs.ReadAnyASN1Element(&el, &tag) {
				t.Fatal("malformed TBSCertificate")
			}
			if tag != extTag {
				b.AddBytes(el)
				continue
			}
			if !el.ReadASN1(&wrapper, extTag) || !wrapper.ReadASN1(&exts, cbasn1.SEQUENCE) {
				t.Fatal("malformed extensions")
			}
			b.AddASN1(extTag, func(b *cryptobyte.Builder) {
				b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
					for !exts.Empty() {
						var ext, fields cryptobyte.String
						var id asn1.ObjectIdentifier
						if !exts.ReadASN1Element(&ext, cbasn1.SEQUENCE) {
							t.Fatal("malformed extension")
						}
						if outer := ext; !outer.ReadASN1(&fields, cbasn1.SEQUENCE) || !fields.ReadASN1ObjectIdentifier(&id) {
							t.Fatal("malformed extension")
						}
						if !id.Equal(oid) {
							b.AddBytes(ext)
						}
					}
				})
			})
		}
	})
	return b.BytesOrPanic()
}

// TestEmbeddedSCTTBS checks the final certificate byte for byte against
// its precertificate, for each kind of CA key: without the SCT list and
// without the poison their TBSCertificates are equal (what a client
// checking the embedded SCT rebuilds), and the signature is the CA's.
func TestEmbeddedSCTTBS(t *testing.T) {
	for name, key := range map[string]crypto.Signer{"P-256": mustEC(t), "P-384": mustKey(t, elliptic.P384()), "Ed25519": mustEd(t), "RSA": mustRSA(t)} {
		t.Run(name, func(t *testing.T) {
			root, err := ca.CreateRoot(key, ca.CertTemplate{Organization: "o", CommonName: "root", Validity: time.Hour})
			if err != nil {
				t.Fatal(err)
			}
			f := &fakeSCT{}
			c, err := ca.New(key, []*x509.Certificate{root}, ca.Options{SCTProvider: f})
			if err != nil {
				t.Fatal(err)
			}
			cert, err := c.Issue(context.Background(), githubIdentity(), mustEC(t).Public())
			if err != nil {
				t.Fatal(err)
			}
			pre := f.chain[0]
			got := tbsWithout(t, cert.Leaf.Raw, asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 11129, 2, 4, 2})
			want := tbsWithout(t, pre, asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 11129, 2, 4, 3})
			if !bytes.Equal(got, want) {
				t.Fatal("final TBSCertificate without the SCT list differs from the precertificate's without the poison")
			}
			if err := cert.Leaf.CheckSignatureFrom(root); err != nil {
				t.Fatalf("final certificate: %v", err)
			}
			p, _ := x509.ParseCertificate(pre)
			if cert.Leaf.SignatureAlgorithm != p.SignatureAlgorithm {
				t.Errorf("final certificate signed with %v, precertificate with %v", cert.Leaf.SignatureAlgorithm, p.SignatureAlgorithm)
			}
		})
	}
}

// flakySigner signs correctly n times, then with another key: an HSM that
// fails between the precertificate and the final certificate.
type flakySigner struct {
	crypto.Signer
	other crypto.Signer
	n     *int
}

func (f flakySigner) Sign(r io.Reader, d []byte, o crypto.SignerOpts) ([]byte, error) {
	if *f.n > 0 {
		*f.n--
		return f.Signer.Sign(r, d, o)
	}
	return f.other.Sign(r, d, o)
}

// TestFaultySignerFinalCertificate checks that a key outside the process
// has the final certificate's signature checked: its fault is ErrSigner,
// not a certificate nobody can verify.
func TestFaultySignerFinalCertificate(t *testing.T) {
	rootKey := mustEC(t)
	root, _ := ca.CreateRoot(rootKey, ca.CertTemplate{Organization: "o", CommonName: "root", Validity: time.Hour})
	n := 1
	c, err := ca.New(flakySigner{rootKey, mustEC(t), &n}, []*x509.Certificate{root}, ca.Options{SCTProvider: &fakeSCT{}})
	if err != nil {
		t.Fatal(err)
	}
	cert, err := c.Issue(context.Background(), githubIdentity(), mustEC(t).Public())
	if cert != nil || !errors.Is(err, ca.ErrSigner) || n != 0 {
		t.Fatalf("got %v, %v (good signatures left %d); want ErrSigner after one good signature", cert, err, n)
	}
}

func TestProofOfPossession(t *testing.T) {
	msg := "repo:acme/app:ref:refs/heads/main"
	p256, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	p384, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	p521, _ := ecdsa.GenerateKey(elliptic.P521(), rand.Reader)
	rsa2048, _ := rsa.GenerateKey(rand.Reader, 2048)
	_, ed, _ := ed25519.GenerateKey(rand.Reader)
	h256, h384, h512 := sha256.Sum256([]byte(msg)), sha512.Sum384([]byte(msg)), sha512.Sum512([]byte(msg))
	sig := func(s crypto.Signer, d []byte, o crypto.SignerOpts) []byte {
		b, err := s.Sign(rand.Reader, d, o)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	pss := sig(rsa2048, h256[:], &rsa.PSSOptions{Hash: crypto.SHA256})
	for _, tc := range []struct {
		name string
		key  crypto.Signer
		sig  []byte
		ok   bool
	}{
		{"P-256/SHA-256", p256, sig(p256, h256[:], crypto.SHA256), true},
		{"P-384/SHA-384", p384, sig(p384, h384[:], crypto.SHA384), true},
		{"P-384/SHA-256 refused", p384, sig(p384, h256[:], crypto.SHA256), false},
		{"P-521/SHA-512", p521, sig(p521, h512[:], crypto.SHA512), true},
		{"RSA PKCS#1 v1.5", rsa2048, sig(rsa2048, h256[:], crypto.SHA256), true},
		{"RSA-PSS refused", rsa2048, pss, false},
		{"Ed25519", ed, sig(ed, []byte(msg), crypto.Hash(0)), true},
		{"wrong message", p256, sig(p256, sha256Sum("other"), crypto.SHA256), false},
		{"empty", p256, nil, false},
	} {
		der, _ := x509.MarshalPKIXPublicKey(tc.key.Public())
		for _, content := range [][]byte{der, pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})} {
			pub, err := ca.ParsePublicKey(content)
			if err != nil {
				t.Fatalf("%s: %v", tc.name, err)
			}
			err = ca.VerifyProof(pub, tc.sig, []string{msg})
			if (err == nil) != tc.ok || (err != nil && !errors.Is(err, ca.ErrBadProof)) {
				t.Errorf("%s: got %v, want ok=%v", tc.name, err, tc.ok)
			}
		}
	}
}

func sha256Sum(s string) []byte { h := sha256.Sum256([]byte(s)); return h[:] }

func TestWeakKeys(t *testing.T) {
	rsa1024, _ := rsa.GenerateKey(rand.Reader, 1024)
	p224, _ := ecdsa.GenerateKey(elliptic.P224(), rand.Reader)
	for name, pub := range map[string]crypto.PublicKey{"RSA-1024": rsa1024.Public(), "P-224": p224.Public(), "RSA e=3": &rsa.PublicKey{N: rsa1024.N, E: 3}} {
		if err := ca.ValidatePublicKey(pub); !errors.Is(err, ca.ErrWeakKey) {
			t.Errorf("%s: got %v, want ErrWeakKey", name, err)
		}
		if der, err := x509.MarshalPKIXPublicKey(pub); err == nil {
			if _, err := ca.ParsePublicKey(der); !errors.Is(err, ca.ErrWeakKey) {
				t.Errorf("%s parsed: got %v", name, err)
			}
		}
	}
	rsa2048, _ := rsa.GenerateKey(rand.Reader, 2048)
	pkcs1 := pem.EncodeToMemory(&pem.Block{Type: "RSA PUBLIC KEY", Bytes: x509.MarshalPKCS1PublicKey(&rsa2048.PublicKey)})
	if _, err := ca.ParsePublicKey(pkcs1); err != nil {
		t.Errorf("PKCS#1 PEM: %v", err)
	}
	for _, bad := range []string{"", "garbage", "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"} {
		if _, err := ca.ParsePublicKey([]byte(bad)); !errors.Is(err, ca.ErrBadPublicKey) {
			t.Errorf("%q: got %v", bad, err)
		}
	}
}

func TestCSR(t *testing.T) {
	k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	der, _ := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{Subject: pkix.Name{CommonName: "ignored"}}, k)
	p := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der})
	for _, in := range [][]byte{der, p} {
		pub, err := ca.ParseCSR(in)
		if err != nil || !k.PublicKey.Equal(pub) {
			t.Errorf("CSR: %v", err)
		}
	}
	bad := bytes.Clone(der)
	bad[len(bad)-5] ^= 0xff
	if _, err := ca.ParseCSR(bad); err == nil {
		t.Error("tampered CSR accepted")
	}
	k384, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	der384, _ := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{SignatureAlgorithm: x509.ECDSAWithSHA256}, k384)
	if _, err := ca.ParseCSR(der384); !errors.Is(err, ca.ErrAlgNotAllowed) {
		t.Errorf("P-384 with SHA-256: got %v", err)
	}
}

func TestChainChecks(t *testing.T) {
	rootKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	root, _ := ca.CreateRoot(rootKey, ca.CertTemplate{Organization: "o", CommonName: "root", Validity: time.Hour})
	interKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	inter, _ := ca.CreateIntermediate(interKey.Public(), ca.CertTemplate{Organization: "o", CommonName: "i", Validity: 2 * time.Hour}, root, rootKey)
	if inter.NotAfter.After(root.NotAfter) {
		t.Error("intermediate outlives its root")
	}
	if err := ca.VerifyChain([]*x509.Certificate{inter, root}, nil); err != nil {
		t.Fatal(err)
	}
	if err := ca.VerifyChain([]*x509.Certificate{root}, nil); err != nil {
		t.Errorf("root-only chain: %v", err)
	}
	if err := ca.VerifyChain([]*x509.Certificate{inter}, nil); err == nil {
		t.Error("chain without root accepted")
	}
	if err := ca.VerifyChain([]*x509.Certificate{root, inter}, nil); err == nil {
		t.Error("reversed chain accepted")
	}
	// An intermediate with an EKU other than codeSigning breaks clients.
	tmpl := *inter
	tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
	der, _ := x509.CreateCertificate(rand.Reader, &tmpl, root, interKey.Public(), rootKey)
	bad, _ := x509.ParseCertificate(der)
	if err := ca.VerifyChain([]*x509.Certificate{bad, root}, nil); err == nil || !strings.Contains(err.Error(), "code signing") {
		t.Errorf("serverAuth-only intermediate: %v", err)
	}
	if _, err := ca.New(rootKey, []*x509.Certificate{inter, root}, ca.Options{}); err == nil {
		t.Error("CA accepted a key that does not match the issuing certificate")
	}
}

func TestEncryptedKey(t *testing.T) {
	for _, k := range []crypto.Signer{mustEC(t), mustEd(t)} {
		p, err := ca.EncryptKeyPEM(k, []byte("pw"))
		if err != nil {
			t.Fatal(err)
		}
		got, err := ca.DecryptKeyPEM(p, []byte("pw"))
		if err != nil {
			t.Fatal(err)
		}
		if !got.Public().(interface{ Equal(crypto.PublicKey) bool }).Equal(k.Public()) {
			t.Error("round trip changed the key")
		}
		if _, err := ca.DecryptKeyPEM(p, []byte("wrong")); err == nil {
			t.Error("wrong password accepted")
		}
	}
	plain, _ := x509.MarshalPKCS8PrivateKey(mustEC(t))
	if _, err := ca.DecryptKeyPEM(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: plain}), []byte("pw")); err == nil {
		t.Error("unencrypted key accepted")
	}
}

func mustEC(t *testing.T) crypto.Signer {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func mustEd(t *testing.T) crypto.Signer {
	_, k, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// badSigner returns signatures by a different key, like a misconfigured
// HSM slot.
type badSigner struct {
	crypto.Signer
	other crypto.Signer
}

func (b badSigner) Sign(r io.Reader, d []byte, o crypto.SignerOpts) ([]byte, error) {
	return b.other.Sign(r, d, o)
}

func TestFaultySignerIssuesNothing(t *testing.T) {
	rootKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	root, _ := ca.CreateRoot(rootKey, ca.CertTemplate{Organization: "o", CommonName: "root", Validity: time.Hour})
	c, err := ca.New(badSigner{rootKey, mustEC(t)}, []*x509.Certificate{root}, ca.Options{})
	if err != nil {
		t.Fatal(err)
	}
	cert, err := c.Issue(context.Background(), githubIdentity(), mustEC(t).Public())
	if cert != nil || !errors.Is(err, ca.ErrSigner) {
		t.Fatalf("got %v, %v; want ErrSigner", cert, err)
	}
}

func TestDeploymentFiles(t *testing.T) {
	d, err := ca.NewDeployment(ca.InitOptions{Organization: "Example"})
	if err != nil {
		t.Fatal(err)
	}
	if d.Intermediate.MaxPathLen != 0 || !d.Intermediate.MaxPathLenZero || d.Intermediate.ExtKeyUsage[0] != x509.ExtKeyUsageCodeSigning {
		t.Error("intermediate profile")
	}
	dir := t.TempDir()
	if err := d.WriteFiles(dir, []byte("pw")); err != nil {
		t.Fatal(err)
	}
	if err := d.WriteFiles(dir, []byte("pw")); err == nil {
		t.Fatal("WriteFiles overwrote an existing deployment")
	}
	s, err := ca.LoadEncryptedKeyFile(dir+"/"+ca.IntermediateKeyFile, []byte("pw"))
	if err != nil {
		t.Fatal(err)
	}
	chain, err := ca.LoadChain(dir + "/" + ca.ChainFile)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ca.New(s, chain, ca.Options{}); err != nil {
		t.Fatalf("written deployment does not load: %v", err)
	}
}

// TestUTF8Extension checks the hand-rolled UTF8String encoding against
// encoding/asn1 for short, long (multi-byte length) and non-ASCII values.
func TestUTF8Extension(t *testing.T) {
	c, _ := testCA(t, ca.Options{})
	for _, v := range []string{"a", strings.Repeat("x", 200), strings.Repeat("é", 40000)} {
		id := githubIdentity()
		id.Extensions.RunnerEnvironment = v
		cert, err := c.Issue(context.Background(), id, mustEC(t).Public())
		if err != nil {
			t.Fatal(err)
		}
		want, _ := asn1.MarshalWithParams(v, "utf8")
		found := false
		for _, e := range cert.Leaf.Extensions {
			if e.Id.String() == "1.3.6.1.4.1.57264.1.11" {
				found = bytes.Equal(e.Value, want)
			}
		}
		if !found {
			t.Errorf("value of length %d encoded differently from encoding/asn1", len(v))
		}
	}
}

func TestCheckNewPassword(t *testing.T) {
	for pw, ok := range map[string]bool{
		"": false, "x": false, "elevenchars": false, "ünicodeßß11": false,
		"twelve chars": true, "correct horse battery staple": true, "ünicodeßß12c": true,
	} {
		err := ca.CheckNewPassword([]byte(pw))
		if (err == nil) != ok || err != nil && (!errors.Is(err, ca.ErrWeakPassword) || !strings.Contains(err.Error(), "at least 12")) {
			t.Errorf("%q: %v", pw, err)
		}
	}
}

func mustKey(t *testing.T, c elliptic.Curve) crypto.Signer {
	k, err := ecdsa.GenerateKey(c, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func mustRSA(t *testing.T) crypto.Signer {
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

package ct

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"errors"
	"math/big"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hallmark-dev/hallmark/internal/benchutil"
	"github.com/hallmark-dev/hallmark/tlog"
)

// attackerChain is a leaf under n P-521 intermediates, each signed by the
// next; the last names root as its issuer but is signed by another key, so
// path building checks every signature and then fails at the root.
func attackerChain(tb testing.TB, root *x509.Certificate, n int) [][]byte {
	now := time.Now()
	// The root's name without its key: CreateCertificate then signs with
	// any key.
	parent, parentKey := &x509.Certificate{Subject: root.Subject, SubjectKeyId: root.SubjectKeyId}, any(mustKey(tb))
	var chain [][]byte
	var certs []*x509.Certificate
	for i := range n {
		k, err := ecdsa.GenerateKey(elliptic.P521(), rand.Reader)
		if err != nil {
			tb.Fatal(err)
		}
		tmpl := &x509.Certificate{SerialNumber: big.NewInt(int64(100 + i)), Subject: pkix.Name{CommonName: "attacker " + strconv.Itoa(i)},
			NotBefore: now.Add(-time.Hour), NotAfter: now.Add(time.Hour), IsCA: true, BasicConstraintsValid: true,
			KeyUsage: x509.KeyUsageCertSign}
		c := mustCert(tb, tmpl, parent, &k.PublicKey, parentKey)
		parent, parentKey = c, k
		certs = append([]*x509.Certificate{c}, certs...)
	}
	leafKey := mustKey(tb)
	leaf := mustCert(tb, &x509.Certificate{SerialNumber: big.NewInt(1), NotBefore: now, NotAfter: now.Add(time.Minute),
		EmailAddresses: []string{"a@example.com"}}, parent, &leafKey.PublicKey, parentKey)
	chain = append(chain, leaf.Raw)
	for _, c := range certs {
		chain = append(chain, c.Raw)
	}
	return chain
}

func TestAddChainLimits(t *testing.T) {
	ctx := context.Background()
	p := newPKI(t)
	c, _, _ := openTestLog(t, p.root)
	cert, _ := p.issue(t, "a@example.com")

	// The same issuer sent twice is one candidate: accepted.
	if _, err := c.AddChain(ctx, [][]byte{cert, p.inter.Raw, p.inter.Raw, p.root.Raw}, false); err != nil {
		t.Fatalf("issuer sent twice: %v", err)
	}

	now := time.Now()
	rootKey := mustKey(t) // any key: the chain is refused before any check
	fakeRoot := &x509.Certificate{Subject: p.root.Subject}
	other := mustKey(t)
	sameSubject := mustCert(t, &x509.Certificate{SerialNumber: big.NewInt(9), Subject: p.inter.Subject, NotBefore: now, NotAfter: now.Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true}, fakeRoot, &other.PublicKey, rootKey)
	n := make([]byte, 8200/8)
	rand.Read(n)
	n[0] |= 0x80
	n[len(n)-1] |= 1
	bigRSA := mustCert(t, &x509.Certificate{SerialNumber: big.NewInt(10), Subject: pkix.Name{CommonName: "big"}, NotBefore: now, NotAfter: now.Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true}, fakeRoot, &rsa.PublicKey{N: new(big.Int).SetBytes(n), E: 65537}, rootKey)

	for _, tc := range []struct {
		name  string
		chain [][]byte
		want  string
	}{
		{"issuer subject repeated", [][]byte{cert, p.inter.Raw, sameSubject.Raw}, "chain[2] repeats the subject of an earlier issuer"},
		{"RSA issuer too large", [][]byte{cert, bigRSA.Raw}, "chain[1] has a 8200-bit RSA key, the limit is 8192"},
		{"costly chain", attackerChain(t, p.root, 9), "verifying the chain would cost 288 units"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := c.AddChain(ctx, tc.chain, false)
			if !errors.Is(err, tlog.ErrInvalidRequest) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want ErrInvalidRequest saying %q", err, tc.want)
			}
		})
	}
	// Eight P-521 issuers are within the limit: refused only because the
	// chain does not reach the root.
	_, err := c.AddChain(ctx, attackerChain(t, p.root, 8), false)
	if !errors.Is(err, tlog.ErrInvalidRequest) || !strings.Contains(err.Error(), "does not verify to an accepted root") {
		t.Fatalf("8 P-521 issuers: %v", err)
	}

	big := `{"chain":["` + base64.StdEncoding.EncodeToString(make([]byte, MaxCertificateBytes+1)) + `"]}`
	if _, err := ParseChainRequest([]byte(big)); !errors.Is(err, tlog.ErrInvalidRequest) || !strings.Contains(err.Error(), "the limit is 131072") {
		t.Fatalf("oversized certificate: %v", err)
	}
}

// BenchmarkWorstCaseAddChain: a leaf under 8 P-521 intermediates (the cost
// limit), every signature checked, refused at the root; nothing is cached.
//
//	go test -run '^$' -bench WorstCase ./tlog/...
func BenchmarkWorstCaseAddChain(b *testing.B) {
	p := newPKI(b)
	c := &Log{roots: x509.NewCertPool(), raw: [][]byte{p.root.Raw}}
	c.roots.AddCert(p.root)
	chain := attackerChain(b, p.root, 8)
	if _, _, err := c.verifyChain(chain, false); err == nil {
		b.Fatal("the attacker's chain verifies")
	}
	b.ReportAllocs()
	cpu := benchutil.StartCPU()
	for b.Loop() {
		c.verifyChain(chain, false) //nolint:errcheck // refused, checked above
	}
	cpu.Report(b)
}

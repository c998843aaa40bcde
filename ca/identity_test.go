package ca_test

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"errors"
	"io"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hallmark-dev/hallmark/ca"
	"github.com/hallmark-dev/hallmark/oidc"
)

// countingSigner counts signatures, so a test can see that nothing was
// signed.
type countingSigner struct {
	crypto.Signer
	n *atomic.Int64
}

func (c countingSigner) Sign(r io.Reader, d []byte, o crypto.SignerOpts) ([]byte, error) {
	c.n.Add(1)
	return c.Signer.Sign(r, d, o)
}

// TestUncertifiableIdentity: every SAN kind is checked for what x509 can
// encode exactly, the error is ErrUncertifiableIdentity (a client error,
// not ErrSigner), and it is found before the CA key or the CT log is used.
func TestUncertifiableIdentity(t *testing.T) {
	rootKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	root, _ := ca.CreateRoot(rootKey, ca.CertTemplate{Organization: "o", CommonName: "root", Validity: time.Hour})
	var signed atomic.Int64
	sct := &fakeSCT{}
	c, err := ca.New(countingSigner{rootKey, &signed}, []*x509.Certificate{root}, ca.Options{SCTProvider: sct})
	if err != nil {
		t.Fatal(err)
	}
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	ext := oidc.Extensions{Issuer: "https://idp"}
	for _, tc := range []struct {
		name string
		kind oidc.SANKind
		san  string
		ext  oidc.Extensions
		msg  string // "" if it is certified
	}{
		{"email", oidc.SANEmail, "alice@example.com", ext, ""},
		{"email of 64+1+189", oidc.SANEmail, strings.Repeat("a", 64) + "@" + strings.Repeat("b", 189), ext, ""},
		{"email non-ASCII local part", oidc.SANEmail, "jörg@example.com", ext, "non-ASCII"},
		{"email non-ASCII domain", oidc.SANEmail, "user@bücher.example", ext, "SmtpUTF8Mailbox"},
		{"email NUL", oidc.SANEmail, "evil\x00@example.com", ext, "control character at byte 4"},
		{"email local part 65", oidc.SANEmail, strings.Repeat("a", 65) + "@example.com", ext, "local part is 65 octets"},
		{"email local part 5000", oidc.SANEmail, strings.Repeat("a", 5000) + "@example.com", ext, "local part is 5000 octets"},
		{"email domain 256", oidc.SANEmail, "a@" + strings.Repeat("b", 256), ext, "domain is 256 octets"},
		{"email address 255", oidc.SANEmail, strings.Repeat("a", 64) + "@" + strings.Repeat("b", 190), ext, "address is 255 octets"},
		{"URI", oidc.SANURI, "https://github.com/acme/app/.github/workflows/r.yml@refs/heads/main", ext, ""},
		{"URI percent-encoded", oidc.SANURI, "https://git.example/acme/%C3%BC/r.yml@refs/heads/main", ext, ""},
		{"URI non-ASCII path", oidc.SANURI, "https://github.com/acme/app/.github/workflows/r.yml@refs/heads/grüße", ext, "non-ASCII"},
		{"URI non-ASCII host", oidc.SANURI, "https://bücher.example/acme/app", ext, "non-ASCII"},
		{"URI space", oidc.SANURI, "spiffe://example.org/ns/a b", ext, "at byte 25"},
		{"URI changed by encoding", oidc.SANURI, "https://example.org/a?b#c#d", ext, "would be certified as"},
		{"SPIFFE", oidc.SANURI, "spiffe://example.org/ns/prod/sa/builder", ext, ""},
		{"username", oidc.SANOtherName, "jörg!example.com", ext, ""},
		{"username invalid UTF-8", oidc.SANOtherName, "j\xffrg!example.com", ext, "not valid UTF-8"},
		{"username control", oidc.SANOtherName, "j\x01rg!example.com", ext, "control character"},
		{"no SAN", 0, "", ext, "no subject alternative name"},
		{"extension invalid UTF-8", oidc.SANEmail, "alice@example.com", oidc.Extensions{Issuer: "https://idp", SourceRepositoryRef: "refs/heads/\xff"}, "source-repository-ref"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			id := &oidc.Identity{Issuer: "https://idp", SANKind: tc.kind, SAN: tc.san, Extensions: tc.ext}
			checkErr := ca.CheckIdentity(id)
			before := signed.Load()
			cert, err := c.Issue(context.Background(), id, key.Public())
			if tc.msg == "" {
				if checkErr != nil || err != nil {
					t.Fatalf("CheckIdentity: %v; Issue: %v", checkErr, err)
				}
				if tc.kind == oidc.SANEmail && cert.Leaf.EmailAddresses[0] != tc.san ||
					tc.kind == oidc.SANURI && cert.Leaf.URIs[0].String() != tc.san {
					t.Errorf("certified as %v %v", cert.Leaf.EmailAddresses, cert.Leaf.URIs)
				}
				return
			}
			for _, e := range []error{checkErr, err} {
				if !errors.Is(e, ca.ErrUncertifiableIdentity) || errors.Is(e, ca.ErrSigner) || !strings.Contains(e.Error(), tc.msg) {
					t.Errorf("got %v, want ErrUncertifiableIdentity saying %q", e, tc.msg)
				}
			}
			if cert != nil || signed.Load() != before {
				t.Errorf("signed %d times for a refused identity", signed.Load()-before)
			}
		})
	}
}

// FuzzCheckIdentity: whatever CheckIdentity accepts is issued (never
// ErrSigner) and the certificate names exactly that SAN; whatever it
// refuses, Issue refuses with the same sentinel.
func FuzzCheckIdentity(f *testing.F) {
	c, _ := testCA(f, ca.Options{})
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	f.Add(uint8(oidc.SANEmail), "alice@example.com", "refs/heads/main")
	f.Add(uint8(oidc.SANEmail), "jörg@example.com", "")
	f.Add(uint8(oidc.SANURI), "https://github.com/acme/app/.github/workflows/r.yml@refs/heads/main", "x")
	f.Add(uint8(oidc.SANURI), "https://example.org/a?b#c#d", "")
	f.Add(uint8(oidc.SANURI), "spiffe://example.org/ns/%41", "")
	f.Add(uint8(oidc.SANOtherName), "jörg!example.com", "\xff")
	f.Fuzz(func(t *testing.T, kind uint8, san, ref string) {
		id := &oidc.Identity{Issuer: "https://idp", SANKind: oidc.SANKind(kind % 4), SAN: san,
			Extensions: oidc.Extensions{Issuer: "https://idp", SourceRepositoryRef: ref}}
		checkErr := ca.CheckIdentity(id)
		cert, err := c.Issue(context.Background(), id, key.Public())
		if checkErr != nil {
			if !errors.Is(checkErr, ca.ErrUncertifiableIdentity) || !errors.Is(err, ca.ErrUncertifiableIdentity) {
				t.Fatalf("CheckIdentity: %v; Issue: %v", checkErr, err)
			}
			return
		}
		if err != nil {
			t.Fatalf("CheckIdentity accepted %q but Issue failed: %v", san, err)
		}
		switch id.SANKind {
		case oidc.SANEmail:
			if len(cert.Leaf.EmailAddresses) != 1 || cert.Leaf.EmailAddresses[0] != san {
				t.Fatalf("%q certified as %q", san, cert.Leaf.EmailAddresses)
			}
		case oidc.SANURI:
			if len(cert.Leaf.URIs) != 1 || cert.Leaf.URIs[0].String() != san {
				t.Fatalf("%q certified as %v", san, cert.Leaf.URIs)
			}
		}
	})
}

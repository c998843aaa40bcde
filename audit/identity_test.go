package audit

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"math/big"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	protocommon "github.com/sigstore/protobuf-specs/gen/pb-go/common/v1"
	rekortilespb "github.com/sigstore/rekor-tiles/v2/pkg/generated/protobuf"

	"github.com/hallmark-dev/hallmark/audit/audittest"
	"github.com/hallmark-dev/hallmark/tlog/rekorv1"
	"github.com/hallmark-dev/hallmark/tlog/rekorv2"
)

func mustCA(t testing.TB) *audittest.CA {
	ca, err := audittest.NewCA()
	if err != nil {
		t.Fatal(err)
	}
	return ca
}

func mustIssue(t testing.TB, ca *audittest.CA, subject, issuer string, extra ...pkix.Extension) *audittest.Leaf {
	l, err := ca.Issue(subject, issuer, extra...)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// TestCertificateIdentity compares the DER walk with crypto/x509.
func TestCertificateIdentity(t *testing.T) {
	ca := mustCA(t)
	for _, tc := range []struct{ subject, issuer string }{
		{"https://github.com/acme/app/.github/workflows/release.yml@refs/tags/v1", "https://token.actions.githubusercontent.com"},
		{"dev@example.com", "https://accounts.example.com"},
		{"spiffe://cluster.local/ns/ci/sa/builder", "https://kubernetes.default.svc"},
	} {
		leaf := mustIssue(t, ca, tc.subject, tc.issuer)
		id, err := CertificateIdentity(leaf.DER)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(id.Subjects, []string{tc.subject}) || id.Issuer != tc.issuer {
			t.Errorf("got %+v, want %s / %s", id, tc.subject, tc.issuer)
		}
		c, _ := x509.ParseCertificate(leaf.DER)
		var want []string
		want = append(want, c.EmailAddresses...)
		for _, u := range c.URIs {
			want = append(want, u.String())
		}
		if !slices.Equal(id.Subjects, want) {
			t.Errorf("x509 says %v, we say %v", want, id.Subjects)
		}
	}
}

// certWith makes a certificate with the given extra extensions and SANs.
func certWith(t testing.TB, exts []pkix.Extension, emails, dns []string) []byte {
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(7), NotBefore: time.Now(), NotAfter: time.Now().Add(time.Hour),
		ExtraExtensions: exts, EmailAddresses: emails, DNSNames: dns}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return der
}

func TestCertificateIdentityVariants(t *testing.T) {
	// Only the deprecated raw issuer extension.
	der := certWith(t, []pkix.Extension{{Id: audittest.OIDIssuerV1, Value: []byte("https://old.example")}}, []string{"a@example.com"}, []string{"build.example.com"})
	id, err := CertificateIdentity(der)
	if err != nil || id.Issuer != "https://old.example" || !slices.Equal(id.Subjects, []string{"build.example.com", "a@example.com"}) {
		t.Fatalf("v1 issuer: %+v %v", id, err)
	}
	// Both: the DER one wins.
	v2, _ := asn1.MarshalWithParams("https://new.example", "utf8")
	der = certWith(t, []pkix.Extension{{Id: audittest.OIDIssuerV1, Value: []byte("https://old.example")}, {Id: audittest.OIDIssuerV2, Value: v2}}, nil, nil)
	if id, err := CertificateIdentity(der); err != nil || id.Issuer != "https://new.example" || id.Subjects != nil {
		t.Fatalf("v2 issuer: %+v %v", id, err)
	}
	// Fulcio's otherName SAN (user names, e.g. from a username-based IdP).
	// As Fulcio marshals it (pkg/certificate/extensions.go, MarshalSANS).
	type otherName struct {
		ID    asn1.ObjectIdentifier
		Value string `asn1:"utf8,explicit,tag:0"`
	}
	on, err := asn1.MarshalWithParams(otherName{ID: asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 57264, 1, 7}, Value: "octocat!"}, "tag:0")
	if err != nil {
		t.Fatal(err)
	}
	san, _ := asn1.Marshal([]asn1.RawValue{{FullBytes: on}})
	der = certWith(t, []pkix.Extension{{Id: asn1.ObjectIdentifier{2, 5, 29, 17}, Critical: true, Value: san}}, nil, nil)
	if id, err := CertificateIdentity(der); err != nil || !slices.Equal(id.Subjects, []string{"octocat!"}) {
		t.Fatalf("otherName: %+v %v", id, err)
	}
	for _, bad := range [][]byte{nil, {0x30}, {0x30, 0x00}, der[:len(der)/2]} {
		if _, err := CertificateIdentity(bad); err == nil {
			t.Errorf("accepted %x", bad)
		}
	}
}

// TestEntryCertificatesV2 checks the fast path against bodies made by
// tlog/rekorv2 (what Hallmark's v2 logs store), and audittest's template
// against it byte for byte.
func TestEntryCertificatesV2(t *testing.T) {
	ca := mustCA(t)
	leaf := mustIssue(t, ca, "dev@example.com", "https://issuer.example")
	digest := sha256.Sum256([]byte("artifact"))
	sig, err := leaf.SignDigest(digest[:])
	if err != nil {
		t.Fatal(err)
	}
	req := &rekorv2.CreateEntryRequest{Spec: &rekortilespb.CreateEntryRequest_HashedRekordRequestV002{
		HashedRekordRequestV002: &rekortilespb.HashedRekordRequestV002{
			Digest: digest[:],
			Signature: &rekortilespb.Signature{Content: sig, Verifier: &rekortilespb.Verifier{
				Verifier:   &rekortilespb.Verifier_X509Certificate{X509Certificate: &protocommon.X509Certificate{RawBytes: leaf.DER}},
				KeyDetails: protocommon.PublicKeyDetails_PKIX_ECDSA_P256_SHA_256,
			}},
		}}}
	e, err := rekorv2.Canonicalize(req, rekorv2.DefaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	if tmpl := audittest.HashedRekordV2(leaf.DER, digest[:], sig); !bytes.Equal(tmpl, e.Canonical) {
		t.Fatalf("audittest template differs from rekorv2:\n%s\n%s", tmpl, e.Canonical)
	}
	certs, err := EntryCertificates(e.Canonical)
	if err != nil || len(certs) != 1 || !bytes.Equal(certs[0], leaf.DER) {
		t.Fatalf("got %d certs, %v", len(certs), err)
	}
	// A key-signed entry has no certificate.
	spki, _ := x509.MarshalPKIXPublicKey(&leaf.Key.PublicKey)
	req.GetHashedRekordRequestV002().Signature.Verifier.Verifier = &rekortilespb.Verifier_PublicKey{PublicKey: &rekortilespb.PublicKey{RawBytes: spki}}
	e, err = rekorv2.Canonicalize(req, rekorv2.DefaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	if certs, err := EntryCertificates(e.Canonical); err != nil || len(certs) != 0 {
		t.Fatalf("key entry: %d certs, %v", len(certs), err)
	}
}

func TestEntryCertificatesV1(t *testing.T) {
	ca := mustCA(t)
	leaf := mustIssue(t, ca, "dev@example.com", "https://issuer.example")
	digest := sha256.Sum256([]byte("artifact"))
	sig, _ := leaf.SignDigest(digest[:])
	certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: leaf.DER})
	body, _ := json.Marshal(map[string]any{"apiVersion": "0.0.1", "kind": "hashedrekord", "spec": map[string]any{
		"data":      map[string]any{"hash": map[string]string{"algorithm": "sha256", "value": hex.EncodeToString(digest[:])}},
		"signature": map[string]any{"content": base64.StdEncoding.EncodeToString(sig), "publicKey": map[string]string{"content": base64.StdEncoding.EncodeToString(certPEM)}},
	}})
	e, err := rekorv1.Canonicalize(body, rekorv1.DefaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	certs, err := EntryCertificates(e.Canonical)
	if err != nil || len(certs) != 1 || !bytes.Equal(certs[0], leaf.DER) {
		t.Fatalf("got %d certs, %v\n%s", len(certs), err, e.Canonical)
	}
	// Plain data (a tiles log's entries) has no certificates and no error.
	if certs, err := EntryCertificates([]byte("hello")); err != nil || certs != nil {
		t.Fatal("plain entry")
	}
}

func FuzzCertificateIdentity(f *testing.F) {
	ca := mustCA(f)
	f.Add(mustIssue(f, ca, "dev@example.com", "https://issuer.example").DER)
	f.Add(mustIssue(f, ca, "https://ci.example/wf", "https://issuer.example").DER)
	f.Fuzz(func(t *testing.T, der []byte) {
		id, err := CertificateIdentity(der)
		c, xerr := x509.ParseCertificate(der)
		if err != nil || xerr != nil {
			return
		}
		// Whatever x509 reads as an e-mail or URI SAN, we read too.
		for _, e := range c.EmailAddresses {
			if !slices.Contains(id.Subjects, e) {
				t.Fatalf("missed e-mail %q", e)
			}
		}
		for _, u := range c.URIs {
			if !slices.Contains(id.Subjects, u.String()) {
				t.Fatalf("missed URI %q", u)
			}
		}
	})
}

func FuzzEntryCertificates(f *testing.F) {
	ca := mustCA(f)
	leaf := mustIssue(f, ca, "dev@example.com", "https://issuer.example")
	f.Add(audittest.HashedRekordV2(leaf.DER, make([]byte, 32), []byte("sig")))
	f.Add([]byte(`{"apiVersion":"0.0.1","kind":"dsse","spec":{"signatures":[{"signature":"x","verifier":"LS0t"}]}}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		certs, err := EntryCertificates(body)
		if err != nil {
			return
		}
		for _, c := range certs {
			CertificateIdentity(c) //nolint:errcheck // must not panic
		}
	})
}

func FuzzParseCheckpointText(f *testing.F) {
	f.Add("log.example\n5\n" + strings.Repeat("A", 43) + "=\n")
	f.Add("log.example\n05\n" + strings.Repeat("A", 43) + "=\next\n")
	f.Fuzz(func(t *testing.T, text string) {
		cp, err := ParseCheckpointText(text)
		if err != nil {
			return
		}
		if len(cp.Root) != 32 || cp.Origin == "" {
			t.Fatalf("accepted %q", text)
		}
		// Canonical: the three lines re-encode to the input's prefix.
		if want := fmt.Sprintf("%s\n%d\n%s\n", cp.Origin, cp.Size, base64.StdEncoding.EncodeToString(cp.Root)); !strings.HasPrefix(text, want) {
			t.Fatalf("%q parsed as %q", text, want)
		}
	})
}

// TestCertificateIdentityB64 checks the base64 walk against the DER walk.
func TestCertificateIdentityB64(t *testing.T) {
	ca := mustCA(t)
	for _, der := range [][]byte{
		mustIssue(t, ca, "dev@example.com", "https://issuer.example").DER,
		mustIssue(t, ca, "https://ci.example/wf", "https://issuer.example", audittest.CIExtensions("acme/app", "release.yml")...).DER,
		certWith(t, nil, []string{"a@example.com"}, []string{"x.example"}),
		certWith(t, nil, nil, nil),
		ca.Cert.Raw,
	} {
		want, err := CertificateIdentity(der)
		if err != nil {
			t.Fatal(err)
		}
		got, err := certificateIdentityB64([]byte(base64.StdEncoding.EncodeToString(der)))
		if err != nil || !reflect.DeepEqual(got, want) {
			t.Fatalf("got %+v, %v; want %+v", got, err, want)
		}
	}
	leaf := mustIssue(t, ca, "dev@example.com", "https://issuer.example")
	body := audittest.HashedRekordV2(leaf.DER, make([]byte, 32), []byte("sig"))
	ids, err := EntryIdentities(body)
	if err != nil || len(ids) != 1 || ids[0].Subjects[0] != "dev@example.com" {
		t.Fatalf("EntryIdentities: %+v %v", ids, err)
	}
}

func FuzzCertificateIdentityB64(f *testing.F) {
	ca := mustCA(f)
	f.Add(mustIssue(f, ca, "dev@example.com", "https://issuer.example").DER)
	f.Add(mustIssue(f, ca, "https://ci.example/wf", "https://issuer.example", audittest.CIExtensions("acme/app", "release.yml")...).DER)
	f.Fuzz(func(t *testing.T, der []byte) {
		want, werr := CertificateIdentity(der)
		got, gerr := certificateIdentityB64([]byte(base64.StdEncoding.EncodeToString(der)))
		if werr == nil && gerr == nil && !reflect.DeepEqual(got, want) {
			t.Fatalf("DER walk %+v, base64 walk %+v", want, got)
		}
		if _, xerr := x509.ParseCertificate(der); xerr == nil && (werr == nil) != (gerr == nil) {
			t.Fatalf("valid certificate: DER walk error %v, base64 walk error %v", werr, gerr)
		}
	})
}

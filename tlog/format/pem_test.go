package format

import (
	"crypto/ecdh"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"math/big"
	"strings"
	"testing"
	"time"
)

func pemOf(typ string, der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der})
}

func selfSigned(t *testing.T, cn string) *x509.Certificate {
	t.Helper()
	k := mustKey(t)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: cn},
		NotBefore: time.Now(), NotAfter: time.Now().Add(time.Hour)}
	return mustCert(t, tmpl, tmpl, &k.PublicKey, k)
}

func TestDecodePEM(t *testing.T) {
	key := pemOf(PEMPublicKey, []byte{1, 2, 3})
	for _, tc := range []struct {
		name  string
		data  string
		types []string
		err   string // "" for success
	}{
		{"any type", string(key), nil, ""},
		{"wanted type", string(key), []string{PEMPublicKey}, ""},
		{"one of the types", string(key), []string{PEMCertificate, PEMPublicKey}, ""},
		{"text before the block", "comment\n" + string(key), []string{PEMPublicKey}, ""},
		{"other type", string(key), []string{PEMCertificate}, `PEM block is "PUBLIC KEY", want CERTIFICATE`},
		{"not PEM", "hello", []string{PEMPrivateKey, PEMECKey}, "no PEM block (want PRIVATE KEY or EC PRIVATE KEY)"},
		{"empty", "", nil, "no PEM block"},
	} {
		block, _, err := DecodePEM([]byte(tc.data), tc.types...)
		switch {
		case tc.err == "" && (err != nil || block.Type != PEMPublicKey || len(block.Bytes) != 3):
			t.Errorf("%s: %v, %v", tc.name, block, err)
		case tc.err != "" && (err == nil || err.Error() != tc.err):
			t.Errorf("%s: error %v, want %q", tc.name, err, tc.err)
		}
	}
	if _, _, err := DecodePEM([]byte("x")); !errors.Is(err, ErrNoPEM) {
		t.Errorf("no block: %v does not wrap ErrNoPEM", err)
	}
	_, rest, err := DecodePEM(append(key, "tail"...))
	if err != nil || string(rest) != "tail" {
		t.Errorf("rest = %q, %v", rest, err)
	}
}

func TestParseCertificatesPEM(t *testing.T) {
	a, b := selfSigned(t, "a"), selfSigned(t, "b")
	bundle := append(pemOf(PEMCertificate, a.Raw), pemOf(PEMPublicKey, []byte{1})...)
	bundle = append(bundle, pemOf(PEMCertificate, b.Raw)...)
	certs, err := ParseCertificatesPEM(bundle)
	if err != nil || len(certs) != 2 || certs[0].Subject.CommonName != "a" || certs[1].Subject.CommonName != "b" {
		t.Fatalf("ParseCertificatesPEM = %v, %v; want a then b, the key skipped", certs, err)
	}
	if _, err := ParseCertificatesPEM(pemOf(PEMPublicKey, []byte{1})); !errors.Is(err, ErrNoPEM) {
		t.Errorf("no certificate: %v", err)
	}
	bad := append(pemOf(PEMCertificate, a.Raw), pemOf(PEMCertificate, []byte{0x30, 0})...)
	if _, err := ParseCertificatesPEM(bad); err == nil || !strings.Contains(err.Error(), "certificate 1") {
		t.Errorf("bad second certificate: %v, want an error naming certificate 1", err)
	}
	c, err := ParseCertificatePEM(bundle)
	if err != nil || c.Subject.CommonName != "a" {
		t.Errorf("ParseCertificatePEM = %v, %v", c, err)
	}
	if _, err := ParseCertificatePEM(pemOf(PEMPublicKey, []byte{1})); err == nil {
		t.Error("ParseCertificatePEM accepted a PUBLIC KEY")
	}
}

func TestParseKeysPEM(t *testing.T) {
	ec, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	spki, _ := x509.MarshalPKIXPublicKey(&ec.PublicKey)
	pub, err := ParsePublicKeyPEM(pemOf(PEMPublicKey, spki))
	if err != nil || !ec.PublicKey.Equal(pub) {
		t.Fatalf("ParsePublicKeyPEM = %v, %v", pub, err)
	}
	if _, err := ParsePublicKeyPEM(pemOf(PEMPublicKey, []byte{0x30, 0})); err == nil || !strings.Contains(err.Error(), "public key") {
		t.Errorf("malformed SPKI: %v", err)
	}
	sec1, _ := x509.MarshalECPrivateKey(ec)
	pkcs8, _ := x509.MarshalPKCS8PrivateKey(ec)
	for _, p := range [][]byte{pemOf(PEMECKey, sec1), pemOf(PEMPrivateKey, pkcs8)} {
		k, err := ParsePrivateKeyPEM(p)
		if err != nil || !ec.Equal(k) {
			t.Errorf("ParsePrivateKeyPEM(%s) = %v", strings.SplitN(string(p), "\n", 2)[0], err)
		}
	}
	_, ed, _ := ed25519.GenerateKey(rand.Reader)
	edDER, _ := x509.MarshalPKCS8PrivateKey(ed)
	if k, err := ParsePrivateKeyPEM(pemOf(PEMPrivateKey, edDER)); err != nil || !ed.Equal(k) {
		t.Errorf("Ed25519 PKCS #8: %v", err)
	}
	if _, err := ParsePrivateKeyPEM(pemOf(PEMPublicKey, spki)); err == nil || !strings.Contains(err.Error(), `"PUBLIC KEY"`) {
		t.Errorf("a public key as private key: %v", err)
	}
	x, _ := ecdh.X25519().GenerateKey(rand.Reader)
	xDER, _ := x509.MarshalPKCS8PrivateKey(x)
	if _, err := ParsePrivateKeyPEM(pemOf(PEMPrivateKey, xDER)); err == nil || !strings.Contains(err.Error(), "cannot sign") {
		t.Errorf("X25519 key: %v, want an error saying it cannot sign", err)
	}
}

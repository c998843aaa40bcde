package ca_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"testing"

	"github.com/hallmark-dev/hallmark/ca"
)

// FuzzParseCSR: arbitrary bytes never panic, and anything accepted has an
// acceptable key; rejections wrap the documented errors.
func FuzzParseCSR(f *testing.F) {
	k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	der, _ := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{}, k)
	f.Add(der)
	f.Add(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der}))
	f.Add([]byte("-----BEGIN NEW CERTIFICATE REQUEST-----\n-----END NEW CERTIFICATE REQUEST-----\n"))
	f.Fuzz(func(t *testing.T, in []byte) {
		pub, err := ca.ParseCSR(in)
		if err != nil {
			if !errors.Is(err, ca.ErrBadCSR) && !errors.Is(err, ca.ErrWeakKey) && !errors.Is(err, ca.ErrBadProof) && !errors.Is(err, ca.ErrAlgNotAllowed) {
				t.Fatalf("undocumented error: %v", err)
			}
			return
		}
		if err := ca.ValidatePublicKey(pub); err != nil {
			t.Fatalf("accepted a CSR with a bad key: %v", err)
		}
	})
}

// FuzzParsePublicKey: the same for public keys in PEM or DER.
func FuzzParsePublicKey(f *testing.F) {
	k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	der, _ := x509.MarshalPKIXPublicKey(k.Public())
	f.Add(der)
	f.Add(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}))
	f.Add(pem.EncodeToMemory(&pem.Block{Type: "RSA PUBLIC KEY", Bytes: []byte{0x30, 0}}))
	f.Fuzz(func(t *testing.T, in []byte) {
		pub, err := ca.ParsePublicKey(in)
		if err != nil {
			if !errors.Is(err, ca.ErrBadPublicKey) && !errors.Is(err, ca.ErrWeakKey) {
				t.Fatalf("undocumented error: %v", err)
			}
			return
		}
		if ca.VerifyProof(pub, []byte{0x30, 0}, []string{"x"}) == nil {
			t.Fatal("garbage proof verified")
		}
	})
}

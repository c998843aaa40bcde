package tufrepo

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io"

	"github.com/sigstore/sigstore/pkg/signature"
	"github.com/theupdateframework/go-tuf/v2/metadata"

	"github.com/hallmark-dev/hallmark/tlog/format"
)

// Role keys are Ed25519, ECDSA P-256 or RSA (RSASSA-PSS with SHA-256):
// the key types go-tuf's metadata package (and so sigstore-go's client)
// verifies. A key held by a person or a device is any crypto.Signer: a
// key file, or an HSM or KMS key opened with the CA's signer constructors.

// KeyID returns the TUF key ID of a public key, as root metadata names it.
func KeyID(pub crypto.PublicKey) (string, error) { return keyID(pub) }

func keyID(pub crypto.PublicKey) (string, error) {
	if err := checkKeyType(pub); err != nil {
		return "", err
	}
	k, err := metadata.KeyFromPublicKey(pub)
	if err != nil {
		return "", err
	}
	return k.ID()
}

func checkKeyType(pub crypto.PublicKey) error {
	switch k := pub.(type) {
	case ed25519.PublicKey:
	case *ecdsa.PublicKey:
		if k.Curve != elliptic.P256() {
			return fmt.Errorf("ECDSA key on %s: TUF's ecdsa-sha2-nistp256 scheme needs P-256", k.Curve.Params().Name)
		}
	case *rsa.PublicKey:
		if k.N.BitLen() < 2048 {
			return fmt.Errorf("RSA key of %d bits: want at least 2048", k.N.BitLen())
		}
	default:
		return fmt.Errorf("%T: want an Ed25519, ECDSA P-256 or RSA key", pub)
	}
	return nil
}

// tufSigner adapts a crypto.Signer to the signature.Signer go-tuf signs
// with, producing the signature each key type's TUF scheme verifies:
// Ed25519 over the message, ECDSA (ASN.1) over its SHA-256, RSASSA-PSS
// over its SHA-256.
type tufSigner struct{ s crypto.Signer }

func (t tufSigner) PublicKey(...signature.PublicKeyOption) (crypto.PublicKey, error) {
	return t.s.Public(), nil
}

func (t tufSigner) SignMessage(message io.Reader, _ ...signature.SignOption) ([]byte, error) {
	msg, err := io.ReadAll(message)
	if err != nil {
		return nil, err
	}
	switch t.s.Public().(type) {
	case ed25519.PublicKey:
		return t.s.Sign(rand.Reader, msg, crypto.Hash(0))
	case *rsa.PublicKey:
		h := sha256.Sum256(msg)
		return t.s.Sign(rand.Reader, h[:], &rsa.PSSOptions{Hash: crypto.SHA256, SaltLength: rsa.PSSSaltLengthEqualsHash})
	default:
		h := sha256.Sum256(msg)
		return t.s.Sign(rand.Reader, h[:], crypto.SHA256)
	}
}

// signWith appends a signature by s to m.
func signWith[T metadata.Roles](m *metadata.Metadata[T], s crypto.Signer) error {
	if err := checkKeyType(s.Public()); err != nil {
		return err
	}
	if _, err := m.Sign(tufSigner{s}); err != nil {
		return fmt.Errorf("signing metadata: %w", err)
	}
	return nil
}

// GenerateKey returns a new Ed25519 role key as a PKCS#8 PEM private key
// and a PKIX PEM public key, for a key holder of an offline role.
func GenerateKey() (privPEM, pubPEM []byte, err error) {
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		return nil, nil, err
	}
	pubDER, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return nil, nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}),
		pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pubDER}), nil
}

// ParsePublicKey reads a role key holder's public key: a PEM "PUBLIC KEY",
// or the public half of a PEM private key.
func ParsePublicKey(data []byte) (crypto.PublicKey, error) {
	if b, _ := pem.Decode(data); b != nil && b.Type == "PUBLIC KEY" {
		pub, err := x509.ParsePKIXPublicKey(b.Bytes)
		if err != nil {
			return nil, fmt.Errorf("public key: %w", err)
		}
		return pub, checkKeyType(pub)
	}
	k, err := format.ParsePrivateKeyPEM(data)
	if err != nil {
		return nil, errors.New("want a PEM public key (PUBLIC KEY) or private key")
	}
	return k.Public(), checkKeyType(k.Public())
}

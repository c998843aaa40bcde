package ca

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"encoding/pem"
	"errors"
	"fmt"
	"os"

	"github.com/youmark/pkcs8"

	"github.com/hallmark-dev/hallmark/tlog/format"
)

// Signer is a CA signing key: a crypto.Signer whose key stays wherever it
// lives (memory, HSM, KMS), plus Close to release the resources behind it.
//
// Contract: Sign is safe for concurrent use and takes a digest made with
// opts.HashFunc() (or the message itself for Ed25519). Public returns the
// key that certifies the first certificate of the CA chain. After Close,
// Sign returns errors.
type Signer interface {
	crypto.Signer
	Close() error
}

// keySigner is a Signer over an in-memory private key.
type keySigner struct{ crypto.Signer }

func (keySigner) Close() error { return nil }

var _ Signer = keySigner{}

// NewKeySigner wraps an in-memory key (used by tests and by `init`).
func NewKeySigner(k crypto.Signer) Signer { return keySigner{k} }

// LoadEncryptedKeyFile reads an encrypted PKCS#8 PEM private key ("ENCRYPTED
// PRIVATE KEY", as written by EncryptKeyPEM or `openssl pkcs8 -topk8
// -v2 aes-256-cbc`) and decrypts it with password. Unencrypted keys are
// refused: a CA key must not sit on disk in the clear.
func LoadEncryptedKeyFile(path string, password []byte) (Signer, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading CA key: %w", err)
	}
	k, err := DecryptKeyPEM(data, password)
	if err != nil {
		return nil, fmt.Errorf("CA key %s: %w", path, err)
	}
	return keySigner{k}, nil
}

// DecryptKeyPEM decrypts an "ENCRYPTED PRIVATE KEY" PEM block.
func DecryptKeyPEM(data, password []byte) (crypto.Signer, error) {
	block, _, err := format.DecodePEM(data, "ENCRYPTED PRIVATE KEY")
	if err != nil {
		return nil, fmt.Errorf("want an encrypted PKCS #8 key: %w", err)
	}
	if len(password) == 0 {
		return nil, errors.New("a password is required")
	}
	k, err := pkcs8.ParsePKCS8PrivateKey(block.Bytes, password)
	if err != nil {
		return nil, fmt.Errorf("decrypting (wrong password?): %w", err)
	}
	switch k := k.(type) {
	case *ecdsa.PrivateKey, *rsa.PrivateKey, ed25519.PrivateKey:
		return k.(crypto.Signer), nil
	default:
		return nil, fmt.Errorf("unsupported key type %T", k)
	}
}

// EncryptKeyPEM encrypts a private key as PKCS#8 with PBES2 (PBKDF2
// HMAC-SHA-256, 600,000 iterations, AES-256-CBC), readable by OpenSSL.
func EncryptKeyPEM(k crypto.Signer, password []byte) ([]byte, error) {
	if len(password) == 0 {
		return nil, errors.New("a password is required")
	}
	der, err := pkcs8.MarshalPrivateKey(k, password, &pkcs8.Opts{
		Cipher:  pkcs8.AES256CBC,
		KDFOpts: pkcs8.PBKDF2Opts{SaltSize: 16, IterationCount: 600000, HMACHash: crypto.SHA256},
	})
	if err != nil {
		return nil, fmt.Errorf("encrypting key: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "ENCRYPTED PRIVATE KEY", Bytes: der}), nil
}

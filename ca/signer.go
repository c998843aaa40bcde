package ca

import (
	"crypto"
	"crypto/elliptic"

	"github.com/hallmark-dev/hallmark/internal/signer"
)

// The CA and TSA keys are opened by package signer, which hallmark-log uses
// for its log keys too; these names keep hallmark-ca's API and its config
// keys (signer.type, signer.file, signer.pkcs11, signer.kms) as they were.
type (
	// Signer is a CA signing key: see signer.Signer. Public returns the
	// key that certifies the first certificate of the CA chain.
	Signer = signer.Signer
	// FileSignerConfig is an encrypted key file and where its password is.
	FileSignerConfig = signer.FileConfig
	// PKCS11Config locates a key in a PKCS#11 token.
	PKCS11Config = signer.PKCS11Config
	// KMSConfig locates a key in a cloud KMS.
	KMSConfig = signer.KMSConfig
)

// KMSSchemes are the key reference prefixes the commands register.
var KMSSchemes = signer.KMSSchemes

// NewKeySigner wraps an in-memory key (used by tests and by `init`).
func NewKeySigner(k crypto.Signer) Signer { return signer.NewKeySigner(k) }

// LoadEncryptedKeyFile reads and decrypts an "ENCRYPTED PRIVATE KEY" PEM
// file. Unencrypted keys are refused: a CA key must not sit on disk in
// the clear.
func LoadEncryptedKeyFile(path string, password []byte) (Signer, error) {
	return signer.LoadEncryptedKeyFile(path, password)
}

// DecryptKeyPEM decrypts an "ENCRYPTED PRIVATE KEY" PEM block.
func DecryptKeyPEM(data, password []byte) (crypto.Signer, error) {
	return signer.DecryptKeyPEM(data, password)
}

// EncryptKeyPEM encrypts a private key as PKCS#8 with PBES2, readable by
// OpenSSL.
func EncryptKeyPEM(k crypto.Signer, password []byte) ([]byte, error) {
	return signer.EncryptKeyPEM(k, password)
}

// OpenPKCS11Signer finds the key pair labelled cfg.KeyLabel in the token.
func OpenPKCS11Signer(cfg PKCS11Config, pin string) (Signer, error) {
	return signer.OpenPKCS11Signer(cfg, pin)
}

// GeneratePKCS11Key creates an ECDSA key pair in the token (the tests use
// it; operators usually create the key with the HSM's own tools).
func GeneratePKCS11Key(cfg PKCS11Config, pin string, curve elliptic.Curve) (Signer, error) {
	return signer.GeneratePKCS11Key(cfg, pin, curve)
}

// OpenKMSSigner connects to the KMS key cfg.Key names and checks that it
// signs the way certificates and timestamps need.
func OpenKMSSigner(cfg KMSConfig) (Signer, error) { return signer.OpenKMSSigner(cfg) }

// CreateKMSKey creates the KMS key cfg.Key names, or opens it if it
// exists, for `hallmark-ca init -kms-key`.
func CreateKMSKey(cfg KMSConfig, algorithm string) (Signer, error) {
	return signer.CreateKMSKey(cfg, algorithm)
}

// ReadSecret returns the content of file (without a trailing newline) or,
// when file is empty, the value of the environment variable env.
func ReadSecret(file, env string) ([]byte, error) { return signer.ReadSecret(file, env) }

// Package signer opens the signing keys of both services, wherever they
// live: a key file, a PKCS#11 token (an HSM) or a cloud KMS. hallmark-ca's
// CA and TSA keys and every hallmark-log log key (Rekor v1 SETs and
// checkpoints, Rekor v2 and tiles checkpoints, CT SCTs and tree heads) are
// described by the same section, [Config]:
//
//	signer:
//	  type: pkcs11            # file | pkcs11 | kms
//	  pkcs11: {module: /usr/lib/softhsm/libsofthsm2.so, token_label: logs,
//	           key_label: rekor-2026, pin_file: /run/secrets/hsm-pin}
//
// A key in a token or a KMS never leaves it: Sign sends a digest (or, for
// Ed25519, the message) and gets a signature back. Secrets (passwords,
// PINs) come from files or the environment, never from the section.
//
// The package imports neither the CA nor the log engine, so each service
// links it without the other. The KMS providers register themselves from
// package signer/kms, which only the commands import.
package signer

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/youmark/pkcs8"

	"github.com/hallmark-dev/hallmark/tlog/format"
)

// Signer is a signing key: a crypto.Signer whose private key stays
// wherever it lives (memory, HSM, KMS), plus Close to release what is
// behind it (PKCS#11 sessions).
//
// Contract: Sign is safe for concurrent use and takes a digest made with
// opts.HashFunc(), or the message itself for Ed25519 (opts.HashFunc() ==
// 0). Public is read once, when the key is opened. After Close, Sign
// returns errors.
type Signer interface {
	crypto.Signer
	Close() error
}

// keySigner is a Signer over an in-memory private key.
type keySigner struct{ crypto.Signer }

func (keySigner) Close() error { return nil }

var _ Signer = keySigner{}

// InProcess reports whether s signs with a private key held in this
// process's memory (a key file, or a bare ECDSA or Ed25519 key), not in an
// HSM or a KMS: such a key signs correctly by construction, so callers may
// skip re-verifying its signatures.
func InProcess(s crypto.Signer) bool {
	if ks, ok := s.(keySigner); ok {
		s = ks.Signer
	}
	switch s.(type) {
	case *ecdsa.PrivateKey, ed25519.PrivateKey:
		return true
	}
	return false
}

// NewKeySigner wraps an in-memory key.
func NewKeySigner(k crypto.Signer) Signer { return keySigner{k} }

// Config is a signer section: where a key is and how to reach it. It is
// decoded strictly from both services' YAML files; the field comments are
// its reference (docs/ca.md, docs/log.md and docs/operations.md "Keys:
// HSM and KMS" have examples).
type Config struct {
	// Type is "file" (a PEM key file), "pkcs11" (a key in a PKCS#11 token:
	// an HSM, or SoftHSM for tests) or "kms" (a cloud KMS key: AWS, Google
	// Cloud, Azure Key Vault, or HashiCorp Vault / OpenBao transit).
	Type string `yaml:"type"`

	// File configures type file.
	File FileConfig `yaml:"file"`

	// PKCS11 configures type pkcs11.
	PKCS11 PKCS11Config `yaml:"pkcs11"`

	// KMS configures type kms.
	KMS KMSConfig `yaml:"kms"`
}

// FileConfig is a key file and where its password is.
type FileConfig struct {
	// KeyFile is an "ENCRYPTED PRIVATE KEY" PEM file (PKCS#8, PBES2), as
	// written by `hallmark-ca init`. Where the service allows it (log
	// keys), a key file without password_file or password_env is a
	// plaintext PEM key instead, as `hallmark keys generate` writes it.
	KeyFile string `yaml:"key_file"`
	// PasswordFile holds the password (a trailing newline is ignored).
	// PasswordEnv, if set instead, names an environment variable holding it.
	PasswordFile string `yaml:"password_file"`
	PasswordEnv  string `yaml:"password_env"`
}

// Options are what differs between the users of a signer section.
type Options struct {
	// PlainFile, if set, allows type file without a password: the key file
	// is then a plaintext PEM key, which PlainFile parses. Nil: a password
	// is required and the key file must be encrypted (CA and TSA keys).
	PlainFile func(pemData []byte) (crypto.Signer, error)
	// Path, if set, resolves the paths of the section (key_file,
	// password_file, pin_file), e.g. relative to the config file.
	Path func(string) string
}

func (o Options) path(p string) string {
	if o.Path == nil || p == "" {
		return p
	}
	return o.Path(p)
}

// Validate checks a signer section; prefix names it in errors (e.g.
// "signer", "logs[2].signer").
func (c *Config) Validate(prefix string, o Options) error {
	switch c.Type {
	case "file":
		if c.File.KeyFile == "" {
			return fmt.Errorf("config: %s.file.key_file is required", prefix)
		}
		both, none := c.File.PasswordFile != "" && c.File.PasswordEnv != "", c.File.PasswordFile == "" && c.File.PasswordEnv == ""
		switch {
		case o.PlainFile == nil && (both || none):
			return fmt.Errorf("config: exactly one of %s.file.password_file and password_env is required", prefix)
		case both:
			return fmt.Errorf("config: %s.file: set password_file or password_env, not both", prefix)
		}
	case "pkcs11":
		if c.PKCS11.Module == "" || c.PKCS11.TokenLabel == "" || c.PKCS11.KeyLabel == "" {
			return fmt.Errorf("config: %s.pkcs11: module, token_label and key_label are required", prefix)
		}
		if (c.PKCS11.PINFile == "") == (c.PKCS11.PINEnv == "") {
			return fmt.Errorf("config: exactly one of %s.pkcs11.pin_file and pin_env is required", prefix)
		}
		if c.PKCS11.MaxSessions < 0 || c.PKCS11.MaxSessions > 1024 {
			return fmt.Errorf("config: %s.pkcs11.max_sessions must be between 1 and 1024 (0: default 16)", prefix)
		}
	case "kms":
		if err := c.KMS.validate(prefix); err != nil {
			return err
		}
	default:
		return fmt.Errorf("config: %s.type %q: want file, pkcs11 or kms", prefix, c.Type)
	}
	return nil
}

// Open opens the key of a validated section. The caller closes it.
func (c *Config) Open(o Options) (Signer, error) {
	switch c.Type {
	case "file":
		path := o.path(c.File.KeyFile)
		if c.File.PasswordFile == "" && c.File.PasswordEnv == "" && o.PlainFile != nil {
			data, err := os.ReadFile(path)
			if err != nil {
				return nil, fmt.Errorf("reading key: %w", err)
			}
			k, err := o.PlainFile(data)
			if err != nil {
				return nil, fmt.Errorf("key %s: %w", path, err)
			}
			return keySigner{k}, nil
		}
		pw, err := ReadSecret(o.path(c.File.PasswordFile), c.File.PasswordEnv)
		if err != nil {
			return nil, fmt.Errorf("key password: %w", err)
		}
		return LoadEncryptedKeyFile(path, pw)
	case "pkcs11":
		pin, err := ReadSecret(o.path(c.PKCS11.PINFile), c.PKCS11.PINEnv)
		if err != nil {
			return nil, fmt.Errorf("PKCS#11 PIN: %w", err)
		}
		return OpenPKCS11Signer(c.PKCS11, string(pin))
	case "kms":
		return OpenKMSSigner(c.KMS)
	}
	return nil, fmt.Errorf("signer type %q: want file, pkcs11 or kms", c.Type)
}

// Describe names the key of a section for messages: "file key
// /etc/hallmark/rekor.pem", "pkcs11 key \"rekor\" in token \"logs\"", "KMS
// key awskms:///alias/rekor".
func (c *Config) Describe() string {
	switch c.Type {
	case "file":
		return "file key " + c.File.KeyFile
	case "pkcs11":
		return fmt.Sprintf("pkcs11 key %q in token %q", c.PKCS11.KeyLabel, c.PKCS11.TokenLabel)
	case "kms":
		return "KMS key " + c.KMS.Key
	}
	return c.Type + " key"
}

// ReadSecret returns the content of file (without a trailing newline) or,
// when file is empty, the value of the environment variable env.
func ReadSecret(file, env string) ([]byte, error) {
	if file != "" {
		b, err := os.ReadFile(file)
		if err != nil {
			return nil, err
		}
		b = []byte(strings.TrimRight(string(b), "\r\n"))
		if len(b) == 0 {
			return nil, fmt.Errorf("%s is empty", file)
		}
		return b, nil
	}
	v, ok := os.LookupEnv(env)
	if !ok || v == "" {
		return nil, fmt.Errorf("environment variable %s is not set", env)
	}
	return []byte(v), nil
}

// LoadEncryptedKeyFile reads an encrypted PKCS#8 PEM private key ("ENCRYPTED
// PRIVATE KEY", as written by EncryptKeyPEM or `openssl pkcs8 -topk8
// -v2 aes-256-cbc`) and decrypts it with password. Unencrypted keys are
// refused.
func LoadEncryptedKeyFile(path string, password []byte) (Signer, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading key: %w", err)
	}
	k, err := DecryptKeyPEM(data, password)
	if err != nil {
		return nil, fmt.Errorf("key %s: %w", path, err)
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

// CurveHash is the hash ECDSA signatures use with a curve, as x509 and
// Sigstore clients pair them.
func CurveHash(c elliptic.Curve) crypto.Hash {
	switch c {
	case elliptic.P384():
		return crypto.SHA384
	case elliptic.P521():
		return crypto.SHA512
	}
	return crypto.SHA256
}

// Digest hashes msg with h (SHA-256, SHA-384 or SHA-512; SHA-256 for any
// other value).
func Digest(h crypto.Hash, msg []byte) []byte {
	switch h {
	case crypto.SHA384:
		d := sha512.Sum384(msg)
		return d[:]
	case crypto.SHA512:
		d := sha512.Sum512(msg)
		return d[:]
	}
	d := sha256.Sum256(msg)
	return d[:]
}

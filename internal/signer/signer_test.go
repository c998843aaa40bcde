package signer_test

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sigstore/sigstore/pkg/signature"
	"github.com/sigstore/sigstore/pkg/signature/kms"

	"github.com/hallmark-dev/hallmark/internal/signer"
	"github.com/hallmark-dev/hallmark/tlog/format"
)

func TestValidate(t *testing.T) {
	plain := signer.Options{PlainFile: format.ParsePrivateKeyPEM}
	for _, tc := range []struct {
		name string
		cfg  signer.Config
		opts signer.Options
		want string // "" = valid
	}{
		{"encrypted file", signer.Config{Type: "file", File: signer.FileConfig{KeyFile: "k", PasswordEnv: "PW"}}, signer.Options{}, ""},
		{"CA file needs a password", signer.Config{Type: "file", File: signer.FileConfig{KeyFile: "k"}}, signer.Options{}, "exactly one of s.file.password_file and password_env is required"},
		{"log file may be plain", signer.Config{Type: "file", File: signer.FileConfig{KeyFile: "k"}}, plain, ""},
		{"two passwords", signer.Config{Type: "file", File: signer.FileConfig{KeyFile: "k", PasswordEnv: "PW", PasswordFile: "f"}}, plain, "not both"},
		{"no key file", signer.Config{Type: "file"}, plain, "s.file.key_file is required"},
		{"pkcs11 without label", signer.Config{Type: "pkcs11", PKCS11: signer.PKCS11Config{Module: "m", TokenLabel: "t", PINEnv: "PIN"}}, plain, "module, token_label and key_label are required"},
		{"pkcs11 without PIN", signer.Config{Type: "pkcs11", PKCS11: signer.PKCS11Config{Module: "m", TokenLabel: "t", KeyLabel: "k"}}, plain, "pin_file and pin_env"},
		{"pkcs11 sessions", signer.Config{Type: "pkcs11", PKCS11: signer.PKCS11Config{Module: "m", TokenLabel: "t", KeyLabel: "k", PINEnv: "P", MaxSessions: -1}}, plain, "max_sessions"},
		{"kms without key", signer.Config{Type: "kms"}, plain, "s.kms.key is required"},
		{"kms not a URI", signer.Config{Type: "kms", KMS: signer.KMSConfig{Key: "alias/x"}}, plain, "not a key reference URI"},
		{"unknown type", signer.Config{Type: "tpm"}, plain, `s.type "tpm": want file, pkcs11 or kms`},
	} {
		err := tc.cfg.Validate("s", tc.opts)
		if (tc.want == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), tc.want)) {
			t.Errorf("%s: got %v, want %q", tc.name, err, tc.want)
		}
	}
}

// TestOpenFile: a plaintext key file (where the caller allows one), an
// encrypted one with its password, paths resolved by Options.Path.
func TestOpenFile(t *testing.T) {
	dir := t.TempDir()
	k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	der, _ := x509.MarshalPKCS8PrivateKey(k)
	os.WriteFile(filepath.Join(dir, "plain.pem"), pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600)
	enc, err := signer.EncryptKeyPEM(k, []byte("pw"))
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(dir, "enc.pem"), enc, 0o600)
	os.WriteFile(filepath.Join(dir, "pw"), []byte("pw\n"), 0o600)
	rel := signer.Options{PlainFile: format.ParsePrivateKeyPEM, Path: func(p string) string { return filepath.Join(dir, p) }}

	for _, c := range []signer.Config{
		{Type: "file", File: signer.FileConfig{KeyFile: "plain.pem"}},
		{Type: "file", File: signer.FileConfig{KeyFile: "enc.pem", PasswordFile: "pw"}},
	} {
		s, err := c.Open(rel)
		if err != nil {
			t.Fatalf("%s: %v", c.Describe(), err)
		}
		if !k.PublicKey.Equal(s.Public()) {
			t.Errorf("%s: another key", c.Describe())
		}
	}
	// Without PlainFile (CA keys), a plaintext key file is refused.
	c := signer.Config{Type: "file", File: signer.FileConfig{KeyFile: filepath.Join(dir, "plain.pem"), PasswordFile: filepath.Join(dir, "pw")}}
	if _, err := c.Open(signer.Options{}); err == nil || !strings.Contains(err.Error(), "want an encrypted PKCS #8 key") {
		t.Errorf("plaintext key as a CA key: %v", err)
	}
}

// edKMS is a KMS provider with one Ed25519 key, as Vault transit holds
// them: it signs the message itself (prehashed=false), which it gets as
// the "digest" with hash 0.
type edKMS struct{ key ed25519.PrivateKey }

func (m *edKMS) SignMessage(_ io.Reader, opts ...signature.SignOption) ([]byte, error) {
	var msg []byte
	var so crypto.SignerOpts = crypto.SHA256
	for _, o := range opts {
		o.ApplyDigest(&msg)
		o.ApplyCryptoSignerOpts(&so)
	}
	if so.HashFunc() != 0 {
		return nil, errors.New("edKMS: Ed25519 keys sign messages")
	}
	return ed25519.Sign(m.key, msg), nil
}
func (m *edKMS) PublicKey(...signature.PublicKeyOption) (crypto.PublicKey, error) {
	return m.key.Public(), nil
}
func (m *edKMS) VerifySignature(io.Reader, io.Reader, ...signature.VerifyOption) error {
	return errors.New("edKMS: not used")
}
func (m *edKMS) CreateKey(context.Context, string) (crypto.PublicKey, error) {
	return m.key.Public(), nil
}
func (m *edKMS) CryptoSigner(context.Context, func(error)) (crypto.Signer, crypto.SignerOpts, error) {
	return nil, nil, errors.New("edKMS: not used")
}
func (m *edKMS) SupportedAlgorithms() []string { return []string{"ed25519"} }
func (m *edKMS) DefaultAlgorithm() string      { return "ed25519" }

func TestKMSEd25519(t *testing.T) {
	_, key, _ := ed25519.GenerateKey(rand.Reader)
	kms.AddProvider("signertest://", func(context.Context, string, crypto.Hash, ...signature.RPCOption) (kms.SignerVerifier, error) {
		return &edKMS{key: key}, nil
	})
	c := signer.Config{Type: "kms", KMS: signer.KMSConfig{Key: "signertest://ed"}}
	s, err := c.Open(signer.Options{})
	if err != nil {
		t.Fatal(err) // the self-test signed and verified once already
	}
	msg := []byte("checkpoint body\n")
	sig, err := s.Sign(rand.Reader, msg, crypto.Hash(0))
	if err != nil || !ed25519.Verify(key.Public().(ed25519.PublicKey), msg, sig) {
		t.Fatalf("Ed25519 KMS signature: %v", err)
	}
	d := sha256.Sum256(msg)
	if _, err := s.Sign(rand.Reader, d[:], crypto.SHA256); err == nil || !strings.Contains(err.Error(), "signs messages") {
		t.Errorf("Ed25519 KMS key signing a digest: %v", err)
	}
}

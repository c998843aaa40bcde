package ca_test

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sigstore/sigstore/pkg/signature"
	"github.com/sigstore/sigstore/pkg/signature/kms"

	"github.com/hallmark-dev/hallmark/ca"
)

// memKMS is a KMS provider holding keys in memory, registered under
// hallmarktest://, to drive the kms signer's checks from unit tests (the
// real providers are exercised against local-kms in interop/kms_test.go).
// With badSigner set it signs with another key, as a KMS would whose key
// and public key disagree.
type memKMS struct {
	key, badSigner *ecdsa.PrivateKey
}

func (m *memKMS) SignMessage(_ io.Reader, opts ...signature.SignOption) ([]byte, error) {
	var digest []byte
	for _, o := range opts {
		o.ApplyDigest(&digest)
	}
	if len(digest) == 0 {
		return nil, errors.New("memKMS: only digests")
	}
	k := m.key
	if m.badSigner != nil {
		k = m.badSigner
	}
	return ecdsa.SignASN1(rand.Reader, k, digest)
}
func (m *memKMS) PublicKey(...signature.PublicKeyOption) (crypto.PublicKey, error) {
	return m.key.Public(), nil
}
func (m *memKMS) VerifySignature(io.Reader, io.Reader, ...signature.VerifyOption) error {
	return errors.New("memKMS: not used")
}
func (m *memKMS) CreateKey(context.Context, string) (crypto.PublicKey, error) {
	return m.key.Public(), nil
}
func (m *memKMS) CryptoSigner(context.Context, func(error)) (crypto.Signer, crypto.SignerOpts, error) {
	return nil, nil, errors.New("memKMS: not used")
}
func (m *memKMS) SupportedAlgorithms() []string { return []string{"p256"} }
func (m *memKMS) DefaultAlgorithm() string      { return "p256" }

var memKeys = map[string]*memKMS{}

func init() {
	good, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	other, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	memKeys["hallmarktest://good"] = &memKMS{key: good}
	memKeys["hallmarktest://bad-signer"] = &memKMS{key: good, badSigner: other}
	kms.AddProvider("hallmarktest://", func(_ context.Context, ref string, _ crypto.Hash, _ ...signature.RPCOption) (kms.SignerVerifier, error) {
		if m := memKeys[ref]; m != nil {
			return m, nil
		}
		return nil, errors.New("memKMS: no such key")
	})
}

func TestKMSSigner(t *testing.T) {
	s, err := ca.CreateKMSKey(ca.KMSConfig{Key: "hallmarktest://good"}, "")
	if err != nil {
		t.Fatal(err)
	}
	d := sha256.Sum256([]byte("x"))
	sig, err := s.Sign(rand.Reader, d[:], crypto.SHA256)
	if err != nil || !ecdsa.VerifyASN1(s.Public().(*ecdsa.PublicKey), d[:], sig) {
		t.Fatalf("Sign: %v", err)
	}

	// A deployment whose intermediate is the KMS key; the signer section
	// opens it, and refuses a chain certifying another key.
	dir := t.TempDir()
	dep, err := ca.NewDeployment(ca.InitOptions{Organization: "kms test", IntermediateKey: s})
	if err != nil {
		t.Fatal(err)
	}
	if err := dep.WriteFiles(dir, []byte("pw")); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, ca.IntermediateKeyFile)); err == nil {
		t.Error("WriteFiles wrote a key file for a KMS key")
	}
	sc := ca.SignerConfig{Type: "kms", ChainFile: filepath.Join(dir, ca.ChainFile), KMS: ca.KMSConfig{Key: "hallmarktest://good"}}
	opened, chain, err := sc.Open()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ca.New(opened, chain, ca.Options{}); err != nil {
		t.Fatalf("ca.New with the KMS key: %v", err)
	}
	otherDir := t.TempDir()
	other, _ := ca.NewDeployment(ca.InitOptions{Organization: "other"})
	other.WriteFiles(otherDir, []byte("pw"))
	sc.ChainFile = filepath.Join(otherDir, ca.ChainFile)
	if _, _, err := sc.Open(); err == nil || !strings.Contains(err.Error(), "the KMS key hallmarktest://good does not match the first certificate of "+sc.ChainFile) {
		t.Errorf("Open with another key's chain: %v", err)
	}

	if _, err := opened.Sign(rand.Reader, []byte("not a digest"), crypto.SHA256); err == nil {
		t.Error("Sign accepted a message that is not a SHA-256 digest")
	}
	if err := opened.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := opened.Sign(rand.Reader, d[:], crypto.SHA256); err == nil || !strings.Contains(err.Error(), "closed") {
		t.Errorf("Sign after Close: %v", err)
	}

	for _, tc := range []struct{ ref, want string }{
		{"hallmarktest://bad-signer", "does not verify with its public key"},
		{"hallmarktest://missing", "memKMS: no such key"},
		{"nosuchkms://key", "no provider for key"},
	} {
		if _, err := ca.OpenKMSSigner(ca.KMSConfig{Key: tc.ref}); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: got %v, want %q", tc.ref, err, tc.want)
		}
	}
}

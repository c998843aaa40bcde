package signer

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync/atomic"
	"time"

	"github.com/sigstore/sigstore/pkg/signature/kms"
	"github.com/sigstore/sigstore/pkg/signature/options"
)

// KMSConfig locates a key in a cloud KMS. Keys are reached through
// sigstore's KMS providers (the ones Fulcio uses); the binary must register
// them, which hallmark-ca and hallmark-log do by importing signer/kms.
type KMSConfig struct {
	// Key is the provider's key reference, for example
	//   awskms:///alias/hallmark-ca (or awskms://ENDPOINT/… for a custom HTTPS endpoint)
	//   gcpkms://projects/P/locations/L/keyRings/R/cryptoKeys/K/cryptoKeyVersions/1
	//   azurekms://VAULT.vault.azure.net/KEY
	//   hashivault://KEY (Vault or OpenBao transit, VAULT_ADDR and VAULT_TOKEN)
	// Credentials come from each provider's standard environment
	// (docs/operations.md, "Keys: HSM and KMS"), never from this file.
	// Of the four providers only Vault (and OpenBao) transit has Ed25519
	// keys; AWS, Google Cloud and Azure keys are ECDSA or RSA, so a log key
	// there is ECDSA P-256.
	Key string `yaml:"key"`
	// Timeout bounds each call to the KMS (one per certificate, timestamp,
	// checkpoint, SET or SCT); default 10s.
	Timeout time.Duration `yaml:"timeout"`
}

// KMSSchemes are the key reference prefixes package signer/kms registers.
var KMSSchemes = []string{"awskms://", "gcpkms://", "azurekms://", "hashivault://"}

func (c KMSConfig) validate(prefix string) error {
	if c.Key == "" {
		return fmt.Errorf("config: %s.kms.key is required (a key reference such as awskms:///alias/NAME)", prefix)
	}
	if !strings.Contains(c.Key, "://") {
		return fmt.Errorf("config: %s.kms.key %q is not a key reference URI (want one of %s)", prefix, c.Key, strings.Join(KMSSchemes, ", "))
	}
	if c.Timeout < 0 || c.Timeout > 5*time.Minute {
		return fmt.Errorf("config: %s.kms.timeout must be between 0 and 5m", prefix)
	}
	return nil
}

func (c KMSConfig) timeout() time.Duration {
	if c.Timeout == 0 {
		return 10 * time.Second
	}
	return c.Timeout
}

// kmsSigner is a Signer over a KMS key. The public key is fetched once,
// at open; every Sign is one call to the KMS with its own deadline.
type kmsSigner struct {
	ref     string
	sv      kms.SignerVerifier
	pub     crypto.PublicKey
	timeout time.Duration
	closed  atomic.Bool
}

var _ Signer = (*kmsSigner)(nil)

func (s *kmsSigner) Public() crypto.PublicKey { return s.pub }

// Sign asks the KMS to sign digest, which was made with opts.HashFunc()
// (for an Ed25519 key: the message itself, opts.HashFunc() == 0).
// The KMS returns ASN.1 DER for ECDSA keys and PKCS #1 v1.5 for RSA keys
// (checked at open by selfTest), as crypto.Signer requires.
func (s *kmsSigner) Sign(_ io.Reader, digest []byte, opts crypto.SignerOpts) ([]byte, error) {
	if s.closed.Load() {
		return nil, fmt.Errorf("kms: key %s: signer is closed", s.ref)
	}
	if _, pss := opts.(*rsa.PSSOptions); pss {
		return nil, errors.New("kms: RSA-PSS is not supported; Hallmark signs with PKCS #1 v1.5")
	}
	_, pureEd25519 := s.pub.(ed25519.PublicKey)
	switch {
	case pureEd25519 && opts != nil && opts.HashFunc() != 0:
		return nil, fmt.Errorf("kms: key %s is Ed25519 and signs messages, not %v digests", s.ref, opts.HashFunc())
	case !pureEd25519 && (opts == nil || opts.HashFunc() == 0 || opts.HashFunc().Size() != len(digest)):
		return nil, fmt.Errorf("kms: key %s signs digests; got %d bytes for hash %v", s.ref, len(digest), opts)
	}
	var hash crypto.Hash // pure Ed25519: the "digest" is the message (Vault transit, prehashed=false)
	if opts != nil {
		hash = opts.HashFunc()
	}
	ctx, cancel := context.WithTimeout(context.Background(), s.timeout)
	defer cancel()
	sig, err := s.sv.SignMessage(nil, options.WithContext(ctx), options.WithDigest(digest), options.WithCryptoSignerOpts(hash))
	if err != nil {
		return nil, fmt.Errorf("kms: signing with %s: %w", s.ref, err)
	}
	return sig, nil
}

// Close makes later Signs fail. sigstore's providers hold no resources
// that need releasing beyond idle HTTP connections.
func (s *kmsSigner) Close() error {
	s.closed.Store(true)
	return nil
}

// OpenKMSSigner connects to the KMS key cfg.Key names, reads its public
// key and checks, with one signature made by the KMS and verified here,
// that the key signs the way certificates, timestamps and log signatures
// need (ECDSA with the curve's hash, or RSA PKCS #1 v1.5 with SHA-256).
func OpenKMSSigner(cfg KMSConfig) (Signer, error) {
	sv, err := getKMS(cfg.Key)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), cfg.timeout())
	defer cancel()
	return newKMSSigner(ctx, cfg, sv)
}

// CreateKMSKey creates the key cfg.Key names with the provider's
// algorithm name (empty: the provider's default, ECDSA P-256 for all four
// providers), or returns the existing key if there is one, for
// `hallmark-ca init -kms-key` and the tests. Not every provider can create
// keys (AWS needs an alias reference; see docs/ca.md).
func CreateKMSKey(cfg KMSConfig, algorithm string) (Signer, error) {
	sv, err := getKMS(cfg.Key)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*cfg.timeout())
	defer cancel()
	if algorithm == "" {
		algorithm = sv.DefaultAlgorithm()
	}
	if _, err := sv.CreateKey(ctx, algorithm); err != nil {
		return nil, fmt.Errorf("kms: creating key %s (%s; this provider supports %s): %w", cfg.Key, algorithm, strings.Join(sv.SupportedAlgorithms(), ", "), err)
	}
	return newKMSSigner(ctx, cfg, sv)
}

// getKMS builds the provider's client for ref. It gets a context that is
// never cancelled: some SDKs keep the context they were built with for
// later credential refreshes (Google's token source does), so a deadline
// here would break signing an hour later. Network calls with deadlines
// come after, in newKMSSigner.
func getKMS(ref string) (kms.SignerVerifier, error) {
	sv, err := kms.Get(context.Background(), ref, crypto.SHA256)
	var notFound *kms.ProviderNotFoundError
	if errors.As(err, &notFound) {
		return nil, fmt.Errorf("kms: no provider for key %q: this binary knows %s (and sigstore-kms-* plugins on PATH): %w", ref, strings.Join(KMSSchemes, ", "), err)
	}
	if err != nil {
		return nil, fmt.Errorf("kms: key %s: %w", ref, err)
	}
	return sv, nil
}

func newKMSSigner(ctx context.Context, cfg KMSConfig, sv kms.SignerVerifier) (*kmsSigner, error) {
	pub, err := sv.PublicKey(options.WithContext(ctx))
	if err != nil {
		return nil, fmt.Errorf("kms: reading the public key of %s: %w", cfg.Key, err)
	}
	switch k := pub.(type) {
	case *ecdsa.PublicKey:
	case *rsa.PublicKey:
		if k.N.BitLen() < 2048 {
			return nil, fmt.Errorf("kms: key %s is RSA-%d; want at least 2048 bits", cfg.Key, k.N.BitLen())
		}
	case ed25519.PublicKey: // Vault and OpenBao transit only
	default:
		return nil, fmt.Errorf("kms: key %s is %T; want an ECDSA, Ed25519 or RSA signing key", cfg.Key, pub)
	}
	s := &kmsSigner{ref: cfg.Key, sv: sv, pub: pub, timeout: cfg.timeout()}
	if err := s.selfTest(); err != nil {
		return nil, err
	}
	return s, nil
}

// selfTest signs one digest through Sign and verifies it here with the
// public key, in the scheme x509, the TSA and the logs will ask for. A KMS key that
// signs another way (RSA-PSS only, say) is refused at start-up instead of
// producing signatures no client accepts.
func (s *kmsSigner) selfTest() error {
	msg := []byte("hallmark kms self-test")
	switch k := s.pub.(type) {
	case *ecdsa.PublicKey:
		h := CurveHash(k.Curve)
		d := Digest(h, msg)
		sig, err := s.Sign(rand.Reader, d, h)
		if err != nil {
			return err
		}
		if !ecdsa.VerifyASN1(k, d, sig) {
			return fmt.Errorf("kms: key %s: its %v signature does not verify with its public key (want ASN.1 ECDSA with %v)", s.ref, k.Curve.Params().Name, h)
		}
	case ed25519.PublicKey:
		sig, err := s.Sign(rand.Reader, msg, crypto.Hash(0))
		if err != nil {
			return err
		}
		if !ed25519.Verify(k, msg, sig) {
			return fmt.Errorf("kms: key %s: its Ed25519 signature does not verify with its public key", s.ref)
		}
	case *rsa.PublicKey:
		d := sha256.Sum256(msg)
		sig, err := s.Sign(rand.Reader, d[:], crypto.SHA256)
		if err != nil {
			return err
		}
		if err := rsa.VerifyPKCS1v15(k, crypto.SHA256, d[:], sig); err != nil {
			return fmt.Errorf("kms: key %s does not sign with RSA PKCS #1 v1.5 SHA-256, which Hallmark needs: %w", s.ref, err)
		}
	}
	return nil
}

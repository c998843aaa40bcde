//go:build cgo

package ca

import (
	"crypto"
	"crypto/elliptic"
	"errors"
	"fmt"
	"io"

	"github.com/ThalesGroup/crypto11"
)

// PKCS11Config locates a CA key in a PKCS#11 token (an HSM, or SoftHSM2
// for tests).
type PKCS11Config struct {
	// Module is the path of the PKCS#11 library, e.g.
	// /usr/lib/softhsm/libsofthsm2.so.
	Module string `yaml:"module"`
	// TokenLabel selects the token.
	TokenLabel string `yaml:"token_label"`
	// KeyLabel is the CKA_LABEL of the key pair.
	KeyLabel string `yaml:"key_label"`
	// PINFile is a file holding the user PIN. PINEnv, if set instead, names
	// an environment variable holding it.
	PINFile string `yaml:"pin_file"`
	PINEnv  string `yaml:"pin_env"`
	// MaxSessions bounds concurrent signing sessions; default 16.
	MaxSessions int `yaml:"max_sessions"`
}

type pkcs11Signer struct {
	ctx    *crypto11.Context
	signer crypto11.Signer
}

var _ Signer = (*pkcs11Signer)(nil)

func (s *pkcs11Signer) Public() crypto.PublicKey { return s.signer.Public() }
func (s *pkcs11Signer) Sign(r io.Reader, d []byte, o crypto.SignerOpts) ([]byte, error) {
	return s.signer.Sign(r, d, o)
}
func (s *pkcs11Signer) Close() error { return s.ctx.Close() }

func openPKCS11(cfg PKCS11Config, pin string) (*crypto11.Context, error) {
	if cfg.Module == "" || cfg.TokenLabel == "" || cfg.KeyLabel == "" {
		return nil, errors.New("pkcs11: module, token_label and key_label are required")
	}
	if pin == "" {
		return nil, errors.New("pkcs11: a PIN is required")
	}
	n := cfg.MaxSessions
	if n == 0 {
		n = 16
	}
	ctx, err := crypto11.Configure(&crypto11.Config{Path: cfg.Module, TokenLabel: cfg.TokenLabel, Pin: pin, MaxSessions: n})
	if err != nil {
		return nil, fmt.Errorf("pkcs11: opening token %q with %s: %w", cfg.TokenLabel, cfg.Module, err)
	}
	return ctx, nil
}

// OpenPKCS11Signer finds the key pair labelled cfg.KeyLabel in the token.
func OpenPKCS11Signer(cfg PKCS11Config, pin string) (Signer, error) {
	ctx, err := openPKCS11(cfg, pin)
	if err != nil {
		return nil, err
	}
	k, err := ctx.FindKeyPair(nil, []byte(cfg.KeyLabel))
	if err == nil && k == nil {
		err = errors.New("no such key pair")
	}
	if err != nil {
		ctx.Close()
		return nil, fmt.Errorf("pkcs11: key %q: %w", cfg.KeyLabel, err)
	}
	return &pkcs11Signer{ctx: ctx, signer: k}, nil
}

// GeneratePKCS11Key creates an ECDSA key pair (P-256, P-384 or P-521) in
// the token, labelled cfg.KeyLabel (the tests use it; operators usually create
// the key with the HSM's own tools, see docs/ca.md).
func GeneratePKCS11Key(cfg PKCS11Config, pin string, curve elliptic.Curve) (Signer, error) {
	ctx, err := openPKCS11(cfg, pin)
	if err != nil {
		return nil, err
	}
	if k, _ := ctx.FindKeyPair(nil, []byte(cfg.KeyLabel)); k != nil {
		ctx.Close()
		return nil, fmt.Errorf("pkcs11: a key labelled %q already exists", cfg.KeyLabel)
	}
	k, err := ctx.GenerateECDSAKeyPairWithLabel([]byte(cfg.KeyLabel), []byte(cfg.KeyLabel), curve)
	if err != nil {
		ctx.Close()
		return nil, fmt.Errorf("pkcs11: generating key: %w", err)
	}
	return &pkcs11Signer{ctx: ctx, signer: k}, nil
}

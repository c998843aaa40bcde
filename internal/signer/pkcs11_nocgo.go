//go:build !cgo

package signer

import (
	"crypto/elliptic"
	"errors"
)

// PKCS11Config locates a key in a PKCS#11 token. This build has no cgo,
// so PKCS#11 is unavailable.
type PKCS11Config struct {
	Module      string `yaml:"module"`
	TokenLabel  string `yaml:"token_label"`
	KeyLabel    string `yaml:"key_label"`
	PINFile     string `yaml:"pin_file"`
	PINEnv      string `yaml:"pin_env"`
	MaxSessions int    `yaml:"max_sessions"`
}

var errNoCgo = errors.New("pkcs11: this binary was built without cgo; rebuild with CGO_ENABLED=1")

// OpenPKCS11Signer always fails without cgo.
func OpenPKCS11Signer(cfg PKCS11Config, pin string) (Signer, error) { return nil, errNoCgo }

// GeneratePKCS11Key always fails without cgo.
func GeneratePKCS11Key(cfg PKCS11Config, pin string, curve elliptic.Curve) (Signer, error) {
	return nil, errNoCgo
}

// GeneratePKCS11Ed25519Key always fails without cgo.
func GeneratePKCS11Ed25519Key(cfg PKCS11Config, pin string) (Signer, error) {
	return nil, errNoCgo
}

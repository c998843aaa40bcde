package tlog

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/mod/sumdb/note"
)

// Signature types of C2SP signed-note key IDs.
const (
	sigTypeEd25519 = 0x01
	sigTypeECDSA   = 0x02
)

// NoteKeyHash returns the C2SP signed-note key ID of pub under name:
// for Ed25519 the first four bytes of SHA-256(name || "\n" || 0x01 || key),
// for ECDSA the first four bytes of SHA-256(DER SPKI), as Rekor v1 and v2
// compute it (reference/rekor-compat.md §3.3).
func NoteKeyHash(name string, pub crypto.PublicKey) (uint32, error) {
	d, err := KeyDigest(name, pub)
	if err != nil {
		return 0, err
	}
	return binary.BigEndian.Uint32(d[:4]), nil
}

// KeyDigest returns the full 32-byte digest whose first four bytes are the
// note key ID. Rekor v2 publishes it as the log ID.
func KeyDigest(name string, pub crypto.PublicKey) ([32]byte, error) {
	switch k := pub.(type) {
	case ed25519.PublicKey:
		h := sha256.New()
		h.Write([]byte(name))
		h.Write([]byte{'\n', sigTypeEd25519})
		h.Write(k)
		var d [32]byte
		copy(d[:], h.Sum(nil))
		return d, nil
	case *ecdsa.PublicKey:
		der, err := x509.MarshalPKIXPublicKey(k)
		if err != nil {
			return [32]byte{}, fmt.Errorf("couldn't marshal ECDSA key: %w", err)
		}
		return sha256.Sum256(der), nil
	default:
		return [32]byte{}, fmt.Errorf("unsupported checkpoint key type %T (want Ed25519 or ECDSA P-256)", pub)
	}
}

// validNoteName reports whether name may appear in a signature line.
func validNoteName(name string) bool {
	return name != "" && utf8.ValidString(name) && !strings.ContainsFunc(name, unicode.IsSpace) && !strings.Contains(name, "+")
}

type noteSigner struct {
	name string
	hash uint32
	sign func([]byte) ([]byte, error)
}

func (s *noteSigner) Name() string                    { return s.name }
func (s *noteSigner) KeyHash() uint32                 { return s.hash }
func (s *noteSigner) Sign(msg []byte) ([]byte, error) { return s.sign(msg) }

// NewNoteSigner returns a signed-note signer for an Ed25519 or ECDSA P-256
// private key. ECDSA signatures are ASN.1 over SHA-256 of the note text.
func NewNoteSigner(name string, key crypto.Signer) (note.Signer, error) {
	if !validNoteName(name) {
		return nil, fmt.Errorf("invalid checkpoint key name %q", name)
	}
	hash, err := NoteKeyHash(name, key.Public())
	if err != nil {
		return nil, err
	}
	s := &noteSigner{name: name, hash: hash}
	switch k := key.(type) {
	case ed25519.PrivateKey:
		s.sign = func(msg []byte) ([]byte, error) { return ed25519.Sign(k, msg), nil }
	case *ecdsa.PrivateKey:
		if k.Curve != elliptic.P256() {
			return nil, errors.New("ECDSA checkpoint keys must be P-256")
		}
		s.sign = func(msg []byte) ([]byte, error) {
			d := sha256.Sum256(msg)
			return ecdsa.SignASN1(rand.Reader, k, d[:])
		}
	default:
		// Opaque signers (PKCS#11, KMS) are assumed to sign digests.
		switch key.Public().(type) {
		case *ecdsa.PublicKey:
			s.sign = func(msg []byte) ([]byte, error) {
				d := sha256.Sum256(msg)
				return key.Sign(rand.Reader, d[:], crypto.SHA256)
			}
		case ed25519.PublicKey:
			s.sign = func(msg []byte) ([]byte, error) { return key.Sign(rand.Reader, msg, crypto.Hash(0)) }
		}
	}
	return s, nil
}

type noteVerifier struct {
	name   string
	hash   uint32
	verify func(msg, sig []byte) bool
}

func (v *noteVerifier) Name() string                { return v.name }
func (v *noteVerifier) KeyHash() uint32             { return v.hash }
func (v *noteVerifier) Verify(msg, sig []byte) bool { return v.verify(msg, sig) }

// NewNoteVerifier returns a signed-note verifier for an Ed25519 or ECDSA
// public key, the counterpart of [NewNoteSigner].
func NewNoteVerifier(name string, pub crypto.PublicKey) (note.Verifier, error) {
	if !validNoteName(name) {
		return nil, fmt.Errorf("invalid checkpoint key name %q", name)
	}
	hash, err := NoteKeyHash(name, pub)
	if err != nil {
		return nil, err
	}
	v := &noteVerifier{name: name, hash: hash}
	switch k := pub.(type) {
	case ed25519.PublicKey:
		v.verify = func(msg, sig []byte) bool { return ed25519.Verify(k, msg, sig) }
	case *ecdsa.PublicKey:
		v.verify = func(msg, sig []byte) bool {
			d := sha256.Sum256(msg)
			return ecdsa.VerifyASN1(k, d[:], sig)
		}
	}
	return v, nil
}

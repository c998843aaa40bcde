package format

// Checkpoint signatures of Ed25519, ECDSA P-256 and ML-DSA-44 log keys, as
// golang.org/x/mod/sumdb/note signers and verifiers. transparency-dev/formats
// parses the checkpoint an ML-DSA-44 signature binds. rekor-tiles' pkg/note
// does the same for the keys it knows and is the reference these are tested
// against (note_test.go); it is not linked here because it wraps sigstore
// signers (no opaque PKCS#11 or KMS crypto.Signer, no clock to inject), and
// its ML-DSA-44 verifier refuses checkpoints with extension lines, which
// tlog-cosignature does not cover.

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/mldsa"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/transparency-dev/formats/log"
	"golang.org/x/crypto/cryptobyte"
	"golang.org/x/mod/sumdb/note"
)

// Signature types of C2SP signed-note keys and verifier keys.
const (
	sigTypeEd25519     = 0x01 // Ed25519 note signature (logs)
	sigTypeECDSA       = 0x02 // ECDSA note signature, key ID = SHA-256(DER SPKI)
	sigTypeCosignature = 0x04 // timestamped Ed25519 cosignature/v1 (witnesses)
	sigTypeRFC6962     = 0x05 // RFC 6962 tree head signature (static-ct-api logs)
	sigTypeMLDSA44     = 0x06 // timestamped ML-DSA-44 over tlog-cosignature's subtree/v1 message (Rekor v2, tiles logs)
)

// mldsaTimeLength is the size of the u64 timestamp before an ML-DSA-44
// note signature.
const mldsaTimeLength = 8

// NoteKeyHash returns the C2SP signed-note key ID of pub under name:
// for Ed25519 the first four bytes of SHA-256(name || "\n" || 0x01 || key),
// for ML-DSA-44 SHA-256(name || "\n" || 0x06 || 1312-byte key) (C2SP
// tlog-cosignature), for ECDSA the first four bytes of SHA-256(DER SPKI), as
// Rekor v1 and v2 compute it.
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
	case *mldsa.PublicKey:
		if k.Parameters() != mldsa.MLDSA44() {
			return [32]byte{}, fmt.Errorf("unsupported ML-DSA parameter set %s for a checkpoint key (want ML-DSA-44)", k.Parameters())
		}
		h := sha256.New()
		h.Write([]byte(name))
		h.Write([]byte{'\n', sigTypeMLDSA44})
		h.Write(k.Bytes())
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
		return [32]byte{}, fmt.Errorf("unsupported checkpoint key type %T (want Ed25519, ECDSA P-256 or ML-DSA-44)", pub)
	}
}

// IsMLDSA44 reports whether pub is an ML-DSA-44 public key.
func IsMLDSA44(pub crypto.PublicKey) bool {
	k, ok := pub.(*mldsa.PublicKey)
	return ok && k.Parameters() == mldsa.MLDSA44()
}

// mldsaSignedMessage returns the message an ML-DSA-44 checkpoint signature
// covers: C2SP tlog-cosignature's cosigned_message ("subtree/v1"), binding
// the key name, the signing time, and the checkpoint's origin, size and root
// hash. Extension lines of the checkpoint are not covered (the spec says so).
func mldsaSignedMessage(name string, timestamp uint64, text []byte) ([]byte, error) {
	var c log.Checkpoint
	if _, err := c.Unmarshal(text); err != nil {
		return nil, fmt.Errorf("couldn't parse the checkpoint to sign: %w", err)
	}
	if len(c.Hash) != sha256.Size {
		return nil, fmt.Errorf("checkpoint root hash is %d bytes, want %d", len(c.Hash), sha256.Size)
	}
	if len(name) > 255 || len(c.Origin) > 255 {
		return nil, errors.New("key name or origin longer than 255 bytes")
	}
	b := cryptobyte.NewBuilder(make([]byte, 0, 12+1+len(name)+8+1+len(c.Origin)+8+8+32))
	b.AddBytes([]byte("subtree/v1\n\x00"))
	b.AddUint8LengthPrefixed(func(b *cryptobyte.Builder) { b.AddBytes([]byte(name)) })
	b.AddUint64(timestamp)
	b.AddUint8LengthPrefixed(func(b *cryptobyte.Builder) { b.AddBytes([]byte(c.Origin)) })
	b.AddUint64(0) // start: a checkpoint is the subtree [0, size)
	b.AddUint64(c.Size)
	b.AddBytes(c.Hash)
	return b.Bytes()
}

// noteNow is the clock of ML-DSA-44 checkpoint signatures; tests replace it.
var noteNow = time.Now

// signMLDSA44 returns a C2SP timestamped_signature: the big-endian u64
// signing time, then the ML-DSA-44 signature (pure, empty context) over
// [mldsaSignedMessage]. sign is the key's crypto.Signer Sign.
func signMLDSA44(name string, msg []byte, sign func([]byte) ([]byte, error)) ([]byte, error) {
	now := noteNow().Unix()
	if now < 0 {
		return nil, fmt.Errorf("clock before 1970 (%d): an ML-DSA-44 checkpoint signature needs a POSIX time", now)
	}
	m, err := mldsaSignedMessage(name, uint64(now), msg)
	if err != nil {
		return nil, err
	}
	sig, err := sign(m)
	if err != nil {
		return nil, fmt.Errorf("couldn't sign the checkpoint with ML-DSA-44: %w", err)
	}
	if len(sig) != mldsa.MLDSA44().SignatureSize() {
		return nil, fmt.Errorf("ML-DSA-44 signer returned %d bytes, want %d", len(sig), mldsa.MLDSA44().SignatureSize())
	}
	out := binary.BigEndian.AppendUint64(make([]byte, 0, mldsaTimeLength+len(sig)), uint64(now))
	return append(out, sig...), nil
}

// verifyMLDSA44 is the counterpart of [signMLDSA44].
func verifyMLDSA44(k *mldsa.PublicKey, name string, msg, sig []byte) bool {
	if len(sig) != mldsaTimeLength+mldsa.MLDSA44().SignatureSize() {
		return false
	}
	t := binary.BigEndian.Uint64(sig[:mldsaTimeLength])
	if t > math.MaxInt64 {
		return false
	}
	m, err := mldsaSignedMessage(name, t, msg)
	if err != nil {
		return false
	}
	return mldsa.Verify(k, m, sig[mldsaTimeLength:], nil) == nil
}

// ValidNoteName reports whether name may name a note key: non-empty UTF-8
// without spaces or "+" (C2SP signed-note).
func ValidNoteName(name string) bool {
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

// NewNoteSigner returns a signed-note signer for an Ed25519, ECDSA P-256 or
// ML-DSA-44 private key. ECDSA signatures are ASN.1 over SHA-256 of the note
// text; ML-DSA-44 signatures are timestamped and cover C2SP
// tlog-cosignature's binary message, as rekor-tiles v2.4 signs and verifies.
func NewNoteSigner(name string, key crypto.Signer) (note.Signer, error) {
	if !ValidNoteName(name) {
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
	case *mldsa.PrivateKey:
		s.sign = func(msg []byte) ([]byte, error) {
			return signMLDSA44(name, msg, func(m []byte) ([]byte, error) { return k.Sign(nil, m, nil) })
		}
	default:
		// Opaque signers (PKCS#11, KMS) are assumed to sign digests, except
		// ML-DSA ones, which sign the message itself (pure ML-DSA).
		switch key.Public().(type) {
		case *mldsa.PublicKey:
			s.sign = func(msg []byte) ([]byte, error) {
				return signMLDSA44(name, msg, func(m []byte) ([]byte, error) { return key.Sign(rand.Reader, m, crypto.Hash(0)) })
			}
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

// NewNoteVerifier returns a signed-note verifier for an Ed25519, ECDSA or
// ML-DSA-44 public key, the counterpart of [NewNoteSigner].
func NewNoteVerifier(name string, pub crypto.PublicKey) (note.Verifier, error) {
	if !ValidNoteName(name) {
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
	case *mldsa.PublicKey:
		v.verify = func(msg, sig []byte) bool { return verifyMLDSA44(k, name, msg, sig) }
	}
	return v, nil
}

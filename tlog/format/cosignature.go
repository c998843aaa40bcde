package format

// C2SP tlog-cosignature's Ed25519 cosignature/v1 (signature type 0x04),
// which witnesses make, and the verifier keys (vkeys, C2SP signed-note)
// that name a log's or a witness's key in configuration.

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/mldsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"golang.org/x/mod/sumdb/note"
)

// cosignatureSize is the size of a cosignature/v1 signature: a big-endian
// uint64 timestamp followed by a 64-byte Ed25519 signature.
const cosignatureSize = 8 + ed25519.SignatureSize

// cosignedMessage returns the message a cosignature/v1 signs: the header
// line, the timestamp line, then the whole note body (the checkpoint text
// including its final newline).
func cosignedMessage(t uint64, text []byte) []byte {
	msg := make([]byte, 0, 40+len(text))
	msg = append(msg, "cosignature/v1\ntime "...)
	msg = strconv.AppendUint(msg, t, 10)
	msg = append(msg, '\n')
	return append(msg, text...)
}

// cosignatureKeyHash is the key ID of an Ed25519 cosigner:
// SHA-256(name || "\n" || 0x04 || public key)[:4].
func cosignatureKeyHash(name string, pub ed25519.PublicKey) uint32 {
	h := sha256.New()
	h.Write([]byte(name))
	h.Write([]byte{'\n', sigTypeCosignature})
	h.Write(pub)
	return binary.BigEndian.Uint32(h.Sum(nil))
}

// cosigner is a note.Signer producing cosignature/v1 signatures.
type cosigner struct {
	name string
	hash uint32
	key  ed25519.PrivateKey
	now  func() time.Time
}

// NewCosignatureSigner returns a note.Signer that makes timestamped Ed25519
// cosignatures (type 0x04) with key under name. now is the clock; nil means
// time.Now. Each signature carries the current time in seconds, which must
// be positive.
func NewCosignatureSigner(name string, key ed25519.PrivateKey, now func() time.Time) (note.Signer, error) {
	if !ValidNoteName(name) {
		return nil, fmt.Errorf("invalid witness name %q: it must be non-empty, without spaces or '+'", name)
	}
	if len(key) != ed25519.PrivateKeySize {
		return nil, errors.New("witness keys must be Ed25519")
	}
	if now == nil {
		now = time.Now
	}
	return &cosigner{name: name, hash: cosignatureKeyHash(name, key.Public().(ed25519.PublicKey)), key: key, now: now}, nil
}

func (s *cosigner) Name() string    { return s.name }
func (s *cosigner) KeyHash() uint32 { return s.hash }

// Sign cosigns msg, the text of a checkpoint.
func (s *cosigner) Sign(msg []byte) ([]byte, error) {
	t := s.now().Unix()
	if t <= 0 {
		return nil, errors.New("the clock is before 1970: a cosignature timestamp must be positive")
	}
	sig := binary.BigEndian.AppendUint64(make([]byte, 0, cosignatureSize), uint64(t))
	return append(sig, ed25519.Sign(s.key, cosignedMessage(uint64(t), msg))...), nil
}

// cosignatureVerifier verifies cosignature/v1 signatures.
type cosignatureVerifier struct {
	name string
	hash uint32
	pub  ed25519.PublicKey
}

// NewCosignatureVerifier returns a note.Verifier for the cosignatures of the witness
// called name with Ed25519 key pub.
func NewCosignatureVerifier(name string, pub ed25519.PublicKey) (note.Verifier, error) {
	if !ValidNoteName(name) {
		return nil, fmt.Errorf("invalid witness name %q", name)
	}
	if len(pub) != ed25519.PublicKeySize {
		return nil, errors.New("witness keys must be Ed25519")
	}
	return &cosignatureVerifier{name: name, hash: cosignatureKeyHash(name, pub), pub: pub}, nil
}

func (v *cosignatureVerifier) Name() string    { return v.name }
func (v *cosignatureVerifier) KeyHash() uint32 { return v.hash }

func (v *cosignatureVerifier) Verify(msg, sig []byte) bool {
	if len(sig) != cosignatureSize {
		return false
	}
	t := binary.BigEndian.Uint64(sig)
	if t == 0 || t > 1<<63-1 {
		return false
	}
	return ed25519.Verify(v.pub, cosignedMessage(t, msg), sig[8:])
}

// CosignatureTime returns the time a cosignature/v1 signature line claims.
// It does not verify the signature.
func CosignatureTime(sig note.Signature) (time.Time, error) {
	raw, err := base64.StdEncoding.DecodeString(sig.Base64)
	if err != nil || len(raw) != 4+cosignatureSize {
		return time.Time{}, errors.New("not a cosignature/v1 signature")
	}
	return time.Unix(int64(binary.BigEndian.Uint64(raw[4:])), 0), nil
}

// vkey is a parsed C2SP verifier key: <name>+<hex key ID>+<base64(type || key)>.
type vkey struct {
	name string
	hash uint32
	typ  byte
	key  []byte
}

func parseVKey(s string) (*vkey, error) {
	name, rest, ok1 := strings.Cut(s, "+")
	hash16, key64, ok2 := strings.Cut(rest, "+")
	if !ok1 || !ok2 || !ValidNoteName(name) || len(hash16) != 8 {
		return nil, fmt.Errorf("malformed verifier key %q: want <name>+<8 hex digits>+<base64 key>", s)
	}
	hash, err := strconv.ParseUint(hash16, 16, 32)
	if err != nil {
		return nil, fmt.Errorf("malformed key ID in verifier key %q", s)
	}
	raw, err := base64.StdEncoding.DecodeString(key64)
	if err != nil || len(raw) < 2 {
		return nil, fmt.Errorf("malformed key in verifier key %q", s)
	}
	return &vkey{name: name, hash: uint32(hash), typ: raw[0], key: raw[1:]}, nil
}

// ParseWitnessKey parses the verifier key of a witness: type 0x04
// (cosignature/v1), or a plain Ed25519 key (type 0x01), which is taken to be
// the same key used for cosignatures as C2SP allows. The key ID must match.
func ParseWitnessKey(s string) (note.Verifier, error) {
	k, err := parseVKey(s)
	if err != nil {
		return nil, err
	}
	if (k.typ != sigTypeCosignature && k.typ != sigTypeEd25519) || len(k.key) != ed25519.PublicKeySize {
		return nil, fmt.Errorf("verifier key %q: witnesses must have Ed25519 keys (type 0x04 or 0x01), got type 0x%02x", s, k.typ)
	}
	pub := ed25519.PublicKey(k.key)
	want := cosignatureKeyHash(k.name, pub)
	if k.typ == sigTypeEd25519 {
		want, _ = NoteKeyHash(k.name, pub)
	}
	if k.hash != want {
		return nil, fmt.Errorf("verifier key %q: key ID %08x does not match the key (want %08x)", s, k.hash, want)
	}
	return NewCosignatureVerifier(k.name, pub)
}

// ParseLogKey parses the verifier key of a log's checkpoints: Ed25519
// (type 0x01), ECDSA P-256 (type 0x02, DER SPKI, as Rekor v1 and
// omniwitness use), an RFC 6962 tree head signature key (type 0x05, DER
// SPKI, static-ct-api CT logs) or ML-DSA-44 (type 0x06, the 1312-byte
// public key, as C2SP tlog-cosignature and rekor-tiles v2.4 define it). The
// key ID must match.
func ParseLogKey(s string) (note.Verifier, error) {
	k, err := parseVKey(s)
	if err != nil {
		return nil, err
	}
	var pub any
	var v note.Verifier
	switch k.typ {
	case sigTypeEd25519:
		if len(k.key) != ed25519.PublicKeySize {
			return nil, fmt.Errorf("verifier key %q: Ed25519 keys are 32 bytes", s)
		}
		pub = ed25519.PublicKey(k.key)
	case sigTypeECDSA:
		p, err := x509.ParsePKIXPublicKey(k.key)
		if err != nil {
			return nil, fmt.Errorf("verifier key %q: %w", s, err)
		}
		if _, ok := p.(*ecdsa.PublicKey); !ok {
			return nil, fmt.Errorf("verifier key %q: type 0x02 needs an ECDSA key, got %T", s, p)
		}
		pub = p
	case sigTypeRFC6962:
		p, err := x509.ParsePKIXPublicKey(k.key)
		if err != nil {
			return nil, fmt.Errorf("verifier key %q: %w", s, err)
		}
		if v, err = NewRFC6962NoteVerifier(k.name, p); err != nil {
			return nil, fmt.Errorf("verifier key %q: %w", s, err)
		}
	case sigTypeMLDSA44:
		p, err := mldsa.NewPublicKey(mldsa.MLDSA44(), k.key)
		if err != nil {
			return nil, fmt.Errorf("verifier key %q: type 0x06 needs a %d-byte ML-DSA-44 key: %w", s, mldsa.MLDSA44().PublicKeySize(), err)
		}
		pub = p
	default:
		return nil, fmt.Errorf("verifier key %q: unsupported log key type 0x%02x (want 0x01 Ed25519, 0x02 ECDSA, 0x05 RFC 6962 or 0x06 ML-DSA-44)", s, k.typ)
	}
	if v == nil {
		var err error
		if v, err = NewNoteVerifier(k.name, pub); err != nil {
			return nil, fmt.Errorf("verifier key %q: %w", s, err)
		}
	}
	if v.KeyHash() != k.hash {
		return nil, fmt.Errorf("verifier key %q: key ID %08x does not match the key (want %08x)", s, k.hash, v.KeyHash())
	}
	return v, nil
}

// LogKey formats the verifier key of a log's checkpoint key under name:
// type 0x01 for Ed25519, type 0x02 (DER SPKI) for ECDSA, type 0x06 for
// ML-DSA-44.
func LogKey(name string, pub any) (string, error) {
	hash, err := NoteKeyHash(name, pub)
	if err != nil {
		return "", err
	}
	var raw []byte
	switch k := pub.(type) {
	case ed25519.PublicKey:
		raw = append([]byte{sigTypeEd25519}, k...)
	case *ecdsa.PublicKey:
		der, err := x509.MarshalPKIXPublicKey(k)
		if err != nil {
			return "", err
		}
		raw = append([]byte{sigTypeECDSA}, der...)
	case *mldsa.PublicKey:
		raw = append([]byte{sigTypeMLDSA44}, k.Bytes()...)
	default:
		return "", fmt.Errorf("unsupported log key type %T", pub)
	}
	return fmt.Sprintf("%s+%08x+%s", name, hash, base64.StdEncoding.EncodeToString(raw)), nil
}

// CTLogKey formats the type 0x05 verifier key of a static-ct-api log's
// checkpoints (RFC 6962 tree head signatures; name is the origin).
func CTLogKey(name string, pub any) (string, error) {
	v, err := NewRFC6962NoteVerifier(name, pub)
	if err != nil {
		return "", err
	}
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return "", err
	}
	raw := append([]byte{sigTypeRFC6962}, der...)
	return fmt.Sprintf("%s+%08x+%s", name, v.KeyHash(), base64.StdEncoding.EncodeToString(raw)), nil
}

// WitnessKey formats the type 0x04 verifier key of a witness.
func WitnessKey(name string, pub ed25519.PublicKey) (string, error) {
	if !ValidNoteName(name) {
		return "", fmt.Errorf("invalid witness name %q", name)
	}
	raw := append([]byte{sigTypeCosignature}, pub...)
	return fmt.Sprintf("%s+%08x+%s", name, cosignatureKeyHash(name, pub), base64.StdEncoding.EncodeToString(raw)), nil
}

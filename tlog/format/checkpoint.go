package format

// Checkpoint signatures of static-ct-api logs: an RFC 6962 §3.5
// TreeHeadSignature carried in a C2SP signed note. Other logs sign
// checkpoints with the keys of note.go.

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"golang.org/x/crypto/cryptobyte"
	"golang.org/x/mod/sumdb/note"
)

// rfc6962NoteKeyHash is the key ID of an RFC 6962 note key: the first four
// bytes of SHA-256(name || "\n" || 0x05 || log ID).
func rfc6962NoteKeyHash(name string, logID [32]byte) uint32 {
	h := sha256.New()
	h.Write([]byte(name))
	h.Write([]byte{'\n', sigTypeRFC6962})
	h.Write(logID[:])
	return binary.BigEndian.Uint32(h.Sum(nil))
}

// treeHeadSignature is the RFC 6962 §3.5 signed input of an STH.
func treeHeadSignature(timestamp, size uint64, root []byte) []byte {
	var b cryptobyte.Builder
	b.AddUint8(0) // version v1
	b.AddUint8(treeHash)
	b.AddUint64(timestamp)
	b.AddUint64(size)
	b.AddBytes(root)
	return b.BytesOrPanic()
}

// parseCheckpointBody reads origin, size and root from a checkpoint body
// without extension lines, the only form RFC 6962 note signatures cover.
func parseCheckpointBody(msg []byte) (origin string, size uint64, root []byte, err error) {
	lines := strings.Split(string(msg), "\n")
	if len(lines) != 4 || lines[3] != "" {
		return "", 0, nil, errors.New("checkpoint must be exactly origin, size and root hash")
	}
	if size, err = strconv.ParseUint(lines[1], 10, 64); err != nil || strconv.FormatUint(size, 10) != lines[1] {
		return "", 0, nil, errors.New("malformed checkpoint size")
	}
	if root, err = base64.StdEncoding.DecodeString(lines[2]); err != nil || len(root) != 32 {
		return "", 0, nil, errors.New("malformed checkpoint root hash")
	}
	return lines[0], size, root, nil
}

type rfc6962NoteSigner struct {
	name  string
	hash  uint32
	key   crypto.Signer
	clock func() time.Time
}

func (s *rfc6962NoteSigner) Name() string    { return s.name }
func (s *rfc6962NoteSigner) KeyHash() uint32 { return s.hash }

func (s *rfc6962NoteSigner) Sign(msg []byte) ([]byte, error) {
	origin, size, root, err := parseCheckpointBody(msg)
	if err != nil {
		return nil, err
	}
	if origin != s.name {
		return nil, fmt.Errorf("checkpoint origin %q is not the signer name %q", origin, s.name)
	}
	ts := uint64(s.clock().UnixMilli())
	sig, err := signECDSA(s.key, treeHeadSignature(ts, size, root))
	if err != nil {
		return nil, fmt.Errorf("couldn't sign tree head: %w", err)
	}
	var b cryptobyte.Builder
	b.AddUint64(ts)
	addDigitallySigned(&b, sig)
	return b.Bytes()
}

// NewRFC6962NoteSigner returns the static-ct-api checkpoint signer: key
// type 0x05, a TreeHeadSignature over the checkpoint's size and root,
// timestamped with the signing time. name must be the checkpoint origin;
// key must be ECDSA P-256.
func NewRFC6962NoteSigner(name string, key crypto.Signer) (note.Signer, error) {
	if _, err := CheckCTKey(key.Public()); err != nil {
		return nil, err
	}
	id, err := LogID(key.Public())
	if err != nil {
		return nil, err
	}
	return &rfc6962NoteSigner{name: name, hash: rfc6962NoteKeyHash(name, id), key: key, clock: time.Now}, nil
}

type rfc6962NoteVerifier struct {
	name string
	hash uint32
	key  *ecdsa.PublicKey
}

func (v *rfc6962NoteVerifier) Name() string    { return v.name }
func (v *rfc6962NoteVerifier) KeyHash() uint32 { return v.hash }

func (v *rfc6962NoteVerifier) Verify(msg, sig []byte) bool {
	origin, size, root, err := parseCheckpointBody(msg)
	if err != nil || origin != v.name {
		return false
	}
	s := cryptobyte.String(sig)
	var ts uint64
	var h, a uint8
	var der cryptobyte.String
	if !s.ReadUint64(&ts) || !s.ReadUint8(&h) || !s.ReadUint8(&a) || !s.ReadUint16LengthPrefixed(&der) ||
		!s.Empty() || h != hashSHA256 || a != sigECDSA {
		return false
	}
	d := sha256.Sum256(treeHeadSignature(ts, size, root))
	return ecdsa.VerifyASN1(v.key, d[:], der)
}

// NewRFC6962NoteVerifier is the counterpart of [NewRFC6962NoteSigner].
func NewRFC6962NoteVerifier(name string, pub crypto.PublicKey) (note.Verifier, error) {
	k, err := CheckCTKey(pub)
	if err != nil {
		return nil, err
	}
	id, err := LogID(pub)
	if err != nil {
		return nil, err
	}
	return &rfc6962NoteVerifier{name: name, hash: rfc6962NoteKeyHash(name, id), key: k}, nil
}

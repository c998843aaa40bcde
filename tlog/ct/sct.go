package ct

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"golang.org/x/crypto/cryptobyte"
	"golang.org/x/mod/sumdb/note"
)

// TLS SignatureAndHashAlgorithm of the log's signatures: SHA-256, ECDSA.
const (
	hashSHA256 = 4
	sigECDSA   = 3
)

// RFC 6962 SignatureType values.
const (
	certificateTimestamp = 0
	treeHash             = 1
)

// LogID returns the RFC 6962 log ID: SHA-256 of the key's DER SPKI.
func LogID(pub crypto.PublicKey) ([32]byte, error) {
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return [32]byte{}, fmt.Errorf("couldn't marshal CT log key: %w", err)
	}
	return sha256.Sum256(der), nil
}

// checkKey insists on ECDSA P-256, the key type every CT client supports.
func checkKey(pub crypto.PublicKey) (*ecdsa.PublicKey, error) {
	k, ok := pub.(*ecdsa.PublicKey)
	if !ok || k.Curve != elliptic.P256() {
		return nil, fmt.Errorf("CT log keys must be ECDSA P-256, not %T", pub)
	}
	return k, nil
}

// SCT is an RFC 6962 §3.2 SignedCertificateTimestamp (version v1).
type SCT struct {
	LogID      [32]byte
	Timestamp  uint64 // milliseconds since the epoch
	Extensions []byte
	// Signature is the DER ECDSA signature inside the digitally-signed
	// struct (whose algorithms are always SHA-256 and ECDSA).
	Signature []byte
}

// addDigitallySigned writes an RFC 5246 DigitallySigned struct.
func addDigitallySigned(b *cryptobyte.Builder, sig []byte) {
	b.AddUint8(hashSHA256)
	b.AddUint8(sigECDSA)
	b.AddUint16LengthPrefixed(func(b *cryptobyte.Builder) { b.AddBytes(sig) })
}

// Marshal returns the TLS encoding of the SCT, as embedded in certificates.
func (s *SCT) Marshal() []byte {
	var b cryptobyte.Builder
	b.AddUint8(0) // sct_version v1
	b.AddBytes(s.LogID[:])
	b.AddUint64(s.Timestamp)
	b.AddUint16LengthPrefixed(func(b *cryptobyte.Builder) { b.AddBytes(s.Extensions) })
	addDigitallySigned(&b, s.Signature)
	return b.BytesOrPanic()
}

// ParseSCT parses a TLS-encoded v1 SCT signed with SHA-256 and ECDSA.
func ParseSCT(b []byte) (*SCT, error) {
	s := cryptobyte.String(b)
	var v, h, a uint8
	var ext, sig cryptobyte.String
	out := &SCT{}
	if !s.ReadUint8(&v) || !s.CopyBytes(out.LogID[:]) || !s.ReadUint64(&out.Timestamp) ||
		!s.ReadUint16LengthPrefixed(&ext) || !s.ReadUint8(&h) || !s.ReadUint8(&a) ||
		!s.ReadUint16LengthPrefixed(&sig) || !s.Empty() {
		return nil, errors.New("malformed SCT")
	}
	if v != 0 || h != hashSHA256 || a != sigECDSA {
		return nil, fmt.Errorf("unsupported SCT (version %d, hash %d, signature %d)", v, h, a)
	}
	out.Extensions, out.Signature = ext, sig
	return out, nil
}

// AddChainResponse is the JSON answer of add-chain and add-pre-chain
// (RFC 6962 §4.1); Fulcio returns the same bytes as a detached SCT.
type AddChainResponse struct {
	SCTVersion uint8  `json:"sct_version"`
	ID         []byte `json:"id"`
	Timestamp  uint64 `json:"timestamp"`
	Extensions string `json:"extensions"`
	Signature  []byte `json:"signature"` // the TLS DigitallySigned struct
}

// Response converts the SCT to its add-chain JSON form.
func (s *SCT) Response() *AddChainResponse {
	var b cryptobyte.Builder
	addDigitallySigned(&b, s.Signature)
	return &AddChainResponse{ID: s.LogID[:], Timestamp: s.Timestamp,
		Extensions: base64.StdEncoding.EncodeToString(s.Extensions), Signature: b.BytesOrPanic()}
}

// ParseAddChainResponse turns an add-chain JSON answer into an SCT.
func ParseAddChainResponse(body []byte) (*SCT, error) {
	var r AddChainResponse
	if err := json.Unmarshal(body, &r); err != nil {
		return nil, fmt.Errorf("malformed add-chain response: %w", err)
	}
	if r.SCTVersion != 0 || len(r.ID) != 32 {
		return nil, fmt.Errorf("add-chain response has SCT version %d and a %d-byte log ID", r.SCTVersion, len(r.ID))
	}
	ext, err := base64.StdEncoding.DecodeString(r.Extensions)
	if err != nil {
		return nil, fmt.Errorf("add-chain response extensions: %w", err)
	}
	var b cryptobyte.Builder
	b.AddUint8(0)
	b.AddBytes(r.ID)
	b.AddUint64(r.Timestamp)
	b.AddUint16LengthPrefixed(func(b *cryptobyte.Builder) { b.AddBytes(ext) })
	b.AddBytes(r.Signature)
	raw, err := b.Bytes()
	if err != nil {
		return nil, fmt.Errorf("add-chain response: %w", err)
	}
	return ParseSCT(raw)
}

// sctSignedData is the RFC 6962 §3.2 digitally-signed input of an SCT for
// entry e (whose Timestamp and extensions come from the SCT).
func sctSignedData(e *Entry, timestamp uint64, ext []byte) []byte {
	var b cryptobyte.Builder
	b.AddUint8(0) // sct_version v1
	b.AddUint8(certificateTimestamp)
	b.AddUint64(timestamp)
	e.addSignedEntry(&b)
	b.AddUint16LengthPrefixed(func(b *cryptobyte.Builder) { b.AddBytes(ext) })
	return b.BytesOrPanic()
}

// signECDSA signs SHA-256(msg) with key, which may be an opaque signer.
func signECDSA(key crypto.Signer, msg []byte) ([]byte, error) {
	d := sha256.Sum256(msg)
	return key.Sign(rand.Reader, d[:], crypto.SHA256)
}

// SignSCT returns the SCT for e: e.Timestamp, a leaf_index extension of
// e.LeafIndex, signed by key.
func SignSCT(key crypto.Signer, logID [32]byte, e *Entry) (*SCT, error) {
	if e.LeafIndex > maxLeafIndex {
		return nil, fmt.Errorf("leaf index %d does not fit the 40-bit leaf_index extension", e.LeafIndex)
	}
	ext := extensions(e.LeafIndex)
	sig, err := signECDSA(key, sctSignedData(e, e.Timestamp, ext))
	if err != nil {
		return nil, fmt.Errorf("couldn't sign SCT: %w", err)
	}
	return &SCT{LogID: logID, Timestamp: e.Timestamp, Extensions: ext, Signature: sig}, nil
}

// VerifySCT checks that sct is pub's signature over the entry e (only its
// entry type, certificate and issuer key hash are used) and names pub's
// log ID.
func VerifySCT(pub crypto.PublicKey, sct *SCT, e *Entry) error {
	k, err := checkKey(pub)
	if err != nil {
		return err
	}
	id, err := LogID(pub)
	if err != nil {
		return err
	}
	if id != sct.LogID {
		return fmt.Errorf("SCT is from log %x, not %x", sct.LogID, id)
	}
	d := sha256.Sum256(sctSignedData(e, sct.Timestamp, sct.Extensions))
	if !ecdsa.VerifyASN1(k, d[:], sct.Signature) {
		return errors.New("SCT signature does not verify")
	}
	return nil
}

// PrecertEntry returns the entry an SCT for precert covers, issued by the
// certificate issuer (both DER).
func PrecertEntry(precert, issuer []byte) (*Entry, error) {
	tbs, err := PrecertTBS(precert)
	if err != nil {
		return nil, err
	}
	ic, err := x509.ParseCertificate(issuer)
	if err != nil {
		return nil, fmt.Errorf("couldn't parse the issuer: %w", err)
	}
	return &Entry{IsPrecert: true, Certificate: tbs, IssuerKeyHash: sha256.Sum256(ic.RawSubjectPublicKeyInfo), PreCertificate: precert}, nil
}

// Checkpoint signatures: the static-ct-api RFC 6962 note signature, a
// TreeHeadSignature carried in a C2SP signed note.

const noteSigType = 0x05

func noteKeyHash(name string, logID [32]byte) uint32 {
	h := sha256.New()
	h.Write([]byte(name))
	h.Write([]byte{'\n', noteSigType})
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

type noteSigner struct {
	name  string
	hash  uint32
	key   crypto.Signer
	clock func() time.Time
}

func (s *noteSigner) Name() string    { return s.name }
func (s *noteSigner) KeyHash() uint32 { return s.hash }

func (s *noteSigner) Sign(msg []byte) ([]byte, error) {
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

// NewNoteSigner returns the static-ct-api checkpoint signer: key type 0x05,
// a TreeHeadSignature over the checkpoint's size and root, timestamped
// with the signing time. name must be the checkpoint origin.
func NewNoteSigner(name string, key crypto.Signer) (note.Signer, error) {
	if _, err := checkKey(key.Public()); err != nil {
		return nil, err
	}
	id, err := LogID(key.Public())
	if err != nil {
		return nil, err
	}
	return &noteSigner{name: name, hash: noteKeyHash(name, id), key: key, clock: time.Now}, nil
}

type noteVerifier struct {
	name string
	hash uint32
	key  *ecdsa.PublicKey
}

func (v *noteVerifier) Name() string    { return v.name }
func (v *noteVerifier) KeyHash() uint32 { return v.hash }

func (v *noteVerifier) Verify(msg, sig []byte) bool {
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

// NewNoteVerifier is the counterpart of NewNoteSigner.
func NewNoteVerifier(name string, pub crypto.PublicKey) (note.Verifier, error) {
	k, err := checkKey(pub)
	if err != nil {
		return nil, err
	}
	id, err := LogID(pub)
	if err != nil {
		return nil, err
	}
	return &noteVerifier{name: name, hash: noteKeyHash(name, id), key: k}, nil
}

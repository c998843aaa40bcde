package format

// RFC 6962 §3.2 SignedCertificateTimestamps: their TLS encoding, the
// add-chain JSON form, the signed input, signing and verification.

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"

	"golang.org/x/crypto/cryptobyte"
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
	if e.LeafIndex > MaxLeafIndex {
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
	k, err := CheckCTKey(pub)
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

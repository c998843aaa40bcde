package format

// RFC 6962 wire structures: MerkleTreeLeaf and TimestampedEntry, the
// static-ct-api TileLeaf, and precertificate TBS extraction. They are
// hand-written with cryptobyte, as sunlight does: a dozen fields do not
// justify a reflection-based TLS encoder.

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/sha256"
	"crypto/x509"
	"encoding/asn1"
	"errors"
	"fmt"

	"golang.org/x/crypto/cryptobyte"
	cbasn1 "golang.org/x/crypto/cryptobyte/asn1"
)

// Entry types of RFC 6962 §3.1 LogEntryType.
const (
	x509Entry    = 0
	precertEntry = 1
)

// MaxLeafIndex is the largest index a 40-bit leaf_index extension holds.
const MaxLeafIndex = 1<<40 - 1

var (
	// OIDPoison is the critical precertificate poison extension (RFC 6962 §3.1).
	OIDPoison = asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 11129, 2, 4, 3}
	// OIDSCTList is the embedded SCT list extension (RFC 6962 §3.3).
	OIDSCTList = asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 11129, 2, 4, 2}
	// OIDPrecertSigning is the Precertificate Signing Certificate EKU
	// (RFC 6962 §3.1), which Hallmark's CT log rejects (static-ct-api
	// allows it).
	OIDPrecertSigning = asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 11129, 2, 4, 4}
)

// Entry is one log entry: the RFC 6962 TimestampedEntry plus what a
// static-ct-api data tile records about the submission.
type Entry struct {
	// Timestamp is the SCT and entry time, in milliseconds since the epoch.
	Timestamp uint64
	// LeafIndex is the entry's index, carried in its leaf_index extension.
	LeafIndex uint64
	// IsPrecert selects precert_entry; Certificate is then the
	// precertificate's TBSCertificate without the poison extension, and
	// IssuerKeyHash the SHA-256 of the issuer's SubjectPublicKeyInfo.
	// Otherwise Certificate is the submitted certificate.
	IsPrecert     bool
	Certificate   []byte
	IssuerKeyHash [32]byte
	// PreCertificate is the submitted precertificate (precert entries only).
	PreCertificate []byte
	// ChainFingerprints are the SHA-256 hashes of the issuers of the
	// verified chain, up to and including the root.
	ChainFingerprints [][32]byte
}

// extensions returns the CtExtensions holding the leaf_index extension.
func extensions(leafIndex uint64) []byte {
	b := cryptobyte.NewFixedBuilder(make([]byte, 0, 8))
	b.AddUint8(0) // leaf_index
	b.AddUint16LengthPrefixed(func(b *cryptobyte.Builder) {
		b.AddUint8(uint8(leafIndex >> 32))
		b.AddUint32(uint32(leafIndex))
	})
	return b.BytesOrPanic()
}

// ParseLeafIndex returns the leaf_index of a CtExtensions field. Unknown
// extensions are skipped; a missing or duplicated leaf_index is an error.
func ParseLeafIndex(ext []byte) (uint64, error) {
	s := cryptobyte.String(ext)
	var idx uint64
	found := false
	for !s.Empty() {
		var typ uint8
		var data cryptobyte.String
		if !s.ReadUint8(&typ) || !s.ReadUint16LengthPrefixed(&data) {
			return 0, errors.New("malformed CT extensions")
		}
		if typ != 0 {
			continue
		}
		var hi uint8
		var lo uint32
		if found || !data.ReadUint8(&hi) || !data.ReadUint32(&lo) || !data.Empty() {
			return 0, errors.New("malformed or duplicate leaf_index extension")
		}
		idx, found = uint64(hi)<<32|uint64(lo), true
	}
	if !found {
		return 0, errors.New("no leaf_index extension")
	}
	return idx, nil
}

// addTimestampedEntry writes the RFC 6962 TimestampedEntry.
func (e *Entry) addTimestampedEntry(b *cryptobyte.Builder) {
	b.AddUint64(e.Timestamp)
	e.addSignedEntry(b)
	b.AddUint16LengthPrefixed(func(b *cryptobyte.Builder) { b.AddBytes(extensions(e.LeafIndex)) })
}

// addSignedEntry writes entry_type and the x509_entry or precert_entry.
func (e *Entry) addSignedEntry(b *cryptobyte.Builder) {
	if e.IsPrecert {
		b.AddUint16(precertEntry)
		b.AddBytes(e.IssuerKeyHash[:])
	} else {
		b.AddUint16(x509Entry)
	}
	b.AddUint24LengthPrefixed(func(b *cryptobyte.Builder) { b.AddBytes(e.Certificate) })
}

// MerkleTreeLeaf returns the RFC 6962 §3.4 MerkleTreeLeaf, whose RFC 6962
// leaf hash is the entry's Merkle leaf.
func (e *Entry) MerkleTreeLeaf() []byte {
	var b cryptobyte.Builder
	b.AddUint8(0) // version v1
	b.AddUint8(0) // leaf_type timestamped_entry
	e.addTimestampedEntry(&b)
	return b.BytesOrPanic()
}

// TileLeaf returns the static-ct-api TileLeaf stored in data tiles.
func (e *Entry) TileLeaf() []byte {
	var b cryptobyte.Builder
	e.addTimestampedEntry(&b)
	if e.IsPrecert {
		b.AddUint24LengthPrefixed(func(b *cryptobyte.Builder) { b.AddBytes(e.PreCertificate) })
	}
	b.AddUint16LengthPrefixed(func(b *cryptobyte.Builder) {
		for _, fp := range e.ChainFingerprints {
			b.AddBytes(fp[:])
		}
	})
	return b.BytesOrPanic()
}

// readTileLeaf reads one TileLeaf from s.
func readTileLeaf(s *cryptobyte.String) (*Entry, error) {
	e := &Entry{}
	var typ uint16
	var cert, ext, chain cryptobyte.String
	if !s.ReadUint64(&e.Timestamp) || !s.ReadUint16(&typ) {
		return nil, errors.New("truncated TileLeaf")
	}
	switch typ {
	case x509Entry:
	case precertEntry:
		e.IsPrecert = true
		if !s.CopyBytes(e.IssuerKeyHash[:]) {
			return nil, errors.New("truncated TileLeaf issuer key hash")
		}
	default:
		return nil, fmt.Errorf("unknown entry type %d", typ)
	}
	if !s.ReadUint24LengthPrefixed(&cert) || !s.ReadUint16LengthPrefixed(&ext) {
		return nil, errors.New("truncated TileLeaf entry")
	}
	e.Certificate = cert
	idx, err := ParseLeafIndex(ext)
	if err != nil {
		return nil, err
	}
	e.LeafIndex = idx
	if e.IsPrecert {
		var pre cryptobyte.String
		if !s.ReadUint24LengthPrefixed(&pre) {
			return nil, errors.New("truncated TileLeaf precertificate")
		}
		e.PreCertificate = pre
	}
	if !s.ReadUint16LengthPrefixed(&chain) || len(chain)%32 != 0 {
		return nil, errors.New("malformed TileLeaf certificate chain")
	}
	for len(chain) > 0 {
		var fp [32]byte
		chain.CopyBytes(fp[:])
		e.ChainFingerprints = append(e.ChainFingerprints, fp)
	}
	return e, nil
}

// ParseTileLeaf parses one whole TileLeaf. The Entry aliases b.
func ParseTileLeaf(b []byte) (*Entry, error) {
	s := cryptobyte.String(b)
	e, err := readTileLeaf(&s)
	if err != nil {
		return nil, err
	}
	if !s.Empty() {
		return nil, errors.New("trailing data after TileLeaf")
	}
	return e, nil
}

// CTDataTiles lays out static-ct-api data tiles: concatenated,
// self-delimiting TileLeaf structures.
var CTDataTiles Framing = tileLeafFraming{}

type tileLeafFraming struct{}

func (tileLeafFraming) Append(bundle, entry []byte) []byte { return append(bundle, entry...) }

func (tileLeafFraming) Split(bundle []byte) ([][]byte, []int, error) {
	var out [][]byte
	var ends []int
	s := cryptobyte.String(bundle)
	for !s.Empty() {
		start := len(bundle) - len(s)
		if _, err := readTileLeaf(&s); err != nil {
			return nil, nil, fmt.Errorf("data tile entry %d: %w", len(out), err)
		}
		end := len(bundle) - len(s)
		out = append(out, bundle[start:end:end])
		ends = append(ends, end)
	}
	return out, ends, nil
}

// DedupKey identifies an entry independently of its index and time: a CT
// log logs the same certificate (or precertificate TBS under the same
// issuer key) once.
func (e *Entry) DedupKey() [32]byte {
	h := sha256.New()
	if e.IsPrecert {
		h.Write([]byte{precertEntry})
		h.Write(e.IssuerKeyHash[:])
	} else {
		h.Write([]byte{x509Entry})
	}
	h.Write(e.Certificate)
	var k [32]byte
	h.Sum(k[:0])
	return k
}

// PrecertTBS returns the TBSCertificate of a precertificate with the
// poison extension removed (RFC 6962 §3.2), the certificate part of a
// precert_entry. It fails unless the poison is present exactly once and
// critical with a NULL value. Every other byte is kept as it is, in order.
func PrecertTBS(precert []byte) ([]byte, error) {
	input := cryptobyte.String(precert)
	var cert, tbs cryptobyte.String
	if !input.ReadASN1(&cert, cbasn1.SEQUENCE) || !input.Empty() || !cert.ReadASN1(&tbs, cbasn1.SEQUENCE) {
		return nil, errors.New("malformed certificate")
	}
	extTag := cbasn1.Tag(3).Constructed().ContextSpecific()
	var b cryptobyte.Builder
	poisons := 0
	b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
		for !tbs.Empty() {
			var el cryptobyte.String
			var tag cbasn1.Tag
			if !tbs.ReadAnyASN1Element(&el, &tag) {
				b.SetError(errors.New("malformed TBSCertificate"))
				return
			}
			if tag != extTag {
				b.AddBytes(el)
				continue
			}
			var wrapper, exts cryptobyte.String
			if !el.ReadASN1(&wrapper, extTag) || !wrapper.ReadASN1(&exts, cbasn1.SEQUENCE) || !wrapper.Empty() {
				b.SetError(errors.New("malformed extensions"))
				return
			}
			var kept [][]byte
			for !exts.Empty() {
				var ext, body cryptobyte.String
				var oid asn1.ObjectIdentifier
				if !exts.ReadASN1Element(&ext, cbasn1.SEQUENCE) {
					b.SetError(errors.New("malformed extension"))
					return
				}
				outer := ext
				if !outer.ReadASN1(&body, cbasn1.SEQUENCE) || !body.ReadASN1ObjectIdentifier(&oid) {
					b.SetError(errors.New("malformed extension"))
					return
				}
				if !oid.Equal(OIDPoison) {
					kept = append(kept, ext)
					continue
				}
				critical := false
				var value cryptobyte.String
				if body.PeekASN1Tag(cbasn1.BOOLEAN) && !body.ReadASN1Boolean(&critical) {
					b.SetError(errors.New("malformed extension"))
					return
				}
				if !body.ReadASN1(&value, cbasn1.OCTET_STRING) ||
					!body.Empty() || !critical || !bytes.Equal(value, asn1.NullBytes) {
					b.SetError(errors.New("the poison extension must be critical with a NULL value"))
					return
				}
				poisons++
			}
			if len(kept) == 0 {
				continue
			}
			b.AddASN1(extTag, func(b *cryptobyte.Builder) {
				b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
					for _, k := range kept {
						b.AddBytes(k)
					}
				})
			})
		}
	})
	out, err := b.Bytes()
	if err != nil {
		return nil, err
	}
	if poisons != 1 {
		return nil, fmt.Errorf("a precertificate needs exactly one poison extension, this one has %d", poisons)
	}
	return out, nil
}

// LogID returns the RFC 6962 log ID: SHA-256 of the key's DER SPKI.
func LogID(pub crypto.PublicKey) ([32]byte, error) {
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return [32]byte{}, fmt.Errorf("couldn't marshal CT log key: %w", err)
	}
	return sha256.Sum256(der), nil
}

// CheckCTKey insists on ECDSA P-256, the CT log key type every CT client
// supports, and returns the key as such.
func CheckCTKey(pub crypto.PublicKey) (*ecdsa.PublicKey, error) {
	k, ok := pub.(*ecdsa.PublicKey)
	if !ok || k.Curve != elliptic.P256() {
		return nil, fmt.Errorf("CT log keys must be ECDSA P-256, not %T", pub)
	}
	return k, nil
}

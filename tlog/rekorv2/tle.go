package rekorv2

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/mldsa"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"

	protocommon "github.com/sigstore/protobuf-specs/gen/pb-go/common/v1"
	protorekor "github.com/sigstore/protobuf-specs/gen/pb-go/rekor/v1"
	"google.golang.org/protobuf/encoding/protojson"
)

// KeyHash returns the identity of a Rekor v2 log key, computed as
// rekor-tiles' pkg/note does:
//
//   - ECDSA: SHA-256(DER SubjectPublicKeyInfo), the C2SP signed-note ECDSA
//     key ID (the origin is not part of it);
//   - Ed25519: SHA-256(origin || "\n" || 0x01 || 32-byte key), C2SP's
//     Ed25519 key ID;
//   - RSA: SHA-256(origin || "\n" || 0xff || "PKIX-RSA-PKCS#1v1.5" || DER
//     SubjectPublicKeyInfo);
//   - ML-DSA-44: SHA-256(origin || "\n" || 0x06 || 1312-byte key), C2SP
//     tlog-cosignature's ML-DSA-44 key ID (rekor-tiles v2.4).
//
// The first 4 bytes, big-endian, are the key ID in the checkpoint's note
// signature line; all 32 bytes are the TransparencyLogEntry's logId.keyId and
// the trusted root's logId.keyId. origin is the checkpoint origin, which is
// also the note key name and must be the log's host name as clients see it in
// the trusted root's baseUrl; it must be a valid note key name (non-empty
// UTF-8 without spaces or '+').
func KeyHash(origin string, pub crypto.PublicKey) ([sha256.Size]byte, error) {
	if origin == "" || !utf8.ValidString(origin) || strings.IndexFunc(origin, unicode.IsSpace) >= 0 || strings.Contains(origin, "+") {
		return [sha256.Size]byte{}, fmt.Errorf("rekorv2: origin %q is not a valid signed-note key name", origin)
	}
	switch k := pub.(type) {
	case *ecdsa.PublicKey:
		der, err := x509.MarshalPKIXPublicKey(k)
		if err != nil {
			return [sha256.Size]byte{}, fmt.Errorf("rekorv2: couldn't marshal ECDSA log key: %w", err)
		}
		return sha256.Sum256(der), nil
	case ed25519.PublicKey:
		if len(k) != ed25519.PublicKeySize {
			return [sha256.Size]byte{}, fmt.Errorf("rekorv2: Ed25519 log key is %d bytes, want %d", len(k), ed25519.PublicKeySize)
		}
		return sha256.Sum256(slices.Concat([]byte(origin), []byte{'\n', 0x01}, k)), nil
	case *rsa.PublicKey:
		der, err := x509.MarshalPKIXPublicKey(k)
		if err != nil {
			return [sha256.Size]byte{}, fmt.Errorf("rekorv2: couldn't marshal RSA log key: %w", err)
		}
		return sha256.Sum256(slices.Concat([]byte(origin), []byte("\n\xffPKIX-RSA-PKCS#1v1.5"), der)), nil
	case *mldsa.PublicKey:
		if k.Parameters() != mldsa.MLDSA44() {
			return [sha256.Size]byte{}, fmt.Errorf("rekorv2: ML-DSA log keys must be ML-DSA-44, not %s", k.Parameters())
		}
		return sha256.Sum256(slices.Concat([]byte(origin), []byte{'\n', 0x06}, k.Bytes())), nil
	}
	return [sha256.Size]byte{}, fmt.Errorf("rekorv2: unsupported log key type %T", pub)
}

// NewTransparencyLogEntry builds the CreateEntry response for e, appended at
// index, with an inclusion proof (proofHashes, leaf to root) in the tree of
// treeSize leaves and rootHash that checkpoint (a signed note) commits to.
// keyID is the log's KeyHash.
//
// As in rekor-tiles, integratedTime is 0 and there is no inclusion promise:
// Rekor v2 entries are proven by the checkpoint only. sigstore-go verifies
// the proof with the top-level logIndex and the checkpoint's size and root,
// so the checkpoint must be the one the proof was built for; the caller
// should verify the proof before serving it.
//
// Requires index < treeSize <= math.MaxInt64 (protobuf int64 fields); panics
// otherwise. The result shares e.Canonical, rootHash and proofHashes.
func NewTransparencyLogEntry(e *Entry, index uint64, keyID [32]byte, treeSize uint64, rootHash []byte, proofHashes [][]byte, checkpoint []byte) *protorekor.TransparencyLogEntry {
	if index >= treeSize || treeSize > math.MaxInt64 {
		panic(fmt.Sprintf("rekorv2: NewTransparencyLogEntry needs index < treeSize <= MaxInt64, got index %d, treeSize %d", index, treeSize))
	}
	return &protorekor.TransparencyLogEntry{
		LogIndex:    int64(index),
		LogId:       &protocommon.LogId{KeyId: bytes.Clone(keyID[:])},
		KindVersion: &protorekor.KindVersion{Kind: e.Kind, Version: e.Version},
		InclusionProof: &protorekor.InclusionProof{
			LogIndex:   int64(index),
			RootHash:   rootHash,
			TreeSize:   int64(treeSize),
			Hashes:     proofHashes,
			Checkpoint: &protorekor.Checkpoint{Envelope: string(checkpoint)},
		},
		CanonicalizedBody: e.Canonical,
	}
}

// MarshalTLE encodes a TransparencyLogEntry as rekor-tiles' HTTP gateway
// does: protojson with EmitUnpopulated (so "integratedTime":"0" and
// "inclusionPromise":null appear), lowerCamelCase names, int64 as decimal
// strings, bytes as standard base64. rekor-tiles' Go client decodes it with
// strict protojson, so no field outside the protobuf-specs message may be
// added. The output is compact, without protojson's randomised whitespace.
func MarshalTLE(tle *protorekor.TransparencyLogEntry) ([]byte, error) {
	out, err := protojson.MarshalOptions{EmitUnpopulated: true}.Marshal(tle)
	if err != nil {
		return nil, fmt.Errorf("rekorv2: couldn't marshal TransparencyLogEntry: %w", err)
	}
	var compact bytes.Buffer
	if err := json.Compact(&compact, out); err != nil {
		return nil, fmt.Errorf("rekorv2: couldn't compact TransparencyLogEntry JSON: %w", err)
	}
	return compact.Bytes(), nil
}

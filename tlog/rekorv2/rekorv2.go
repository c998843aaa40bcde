// Package rekorv2 is the entry layer of Hallmark's Rekor v2 log personality,
// wire-compatible with Sigstore's rekor-tiles.
//
// It turns a CreateEntry request into the exact leaf bytes rekor-tiles stores
// (the canonical body), after validating the request the way rekor-tiles does,
// and it builds the TransparencyLogEntry returned to clients. It knows nothing
// about storage or sequencing: the caller appends [Entry.Canonical] to a log
// and hands the resulting index, proof and checkpoint to
// [NewTransparencyLogEntry].
//
// Wire types are Sigstore's published Go types: rekor-tiles v2.3.0
// pkg/generated/protobuf for requests and entries, protobuf-specs for the
// TransparencyLogEntry. rekor-tiles v2.3.0 dropped DSSE entries from its
// server but still ships the (deprecated) generated DSSERequestV002 and
// DSSELogEntryV002 messages, so dsse 0.0.2 requests, which cosign v3.0.x
// (sigstore-go v1.1.x) sends for attestations, are parsed by the same
// generated code and canonicalised as rekor-tiles v2.2.1 did.
//
// The canonical body is protojson(Entry) re-encoded with RFC 8785 JSON
// canonicalisation. sigstore-go v1.2 and later do not read it: they rebuild
// the hashedrekord leaf from the bundle (digest, signature, and the verifier
// with keyDetails derived from the key), so the body must contain exactly what
// the client sent. Validation here is deliberately a little stricter than
// rekor-tiles (keyDetails must describe the key precisely, see
// [Canonicalize]): every hashedrekord request accepted here is accepted by
// rekor-tiles v2.3.0 with a byte-identical leaf, and every dsse request by
// rekor-tiles v2.2.1. dsse 0.0.2 entries can only be verified by clients that
// hash the returned canonicalizedBody (sigstore-go v1.1.x, i.e. the cosign
// v3.0.x that creates them); newer clients rebuild every v2 leaf as
// hashedrekord.
package rekorv2

//lint:file-ignore SA1019 DSSE v0.0.2 is deprecated in rekor-tiles but still sent by cosign v3.0.x (sigstore-go v1.1.x); Hallmark accepts it.

import (
	"crypto"
	"crypto/sha256"
	"crypto/x509"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/gowebpki/jcs"
	protocommon "github.com/sigstore/protobuf-specs/gen/pb-go/common/v1"
	rekortilespb "github.com/sigstore/rekor-tiles/v2/pkg/generated/protobuf"
	"github.com/transparency-dev/merkle/rfc6962"
	"google.golang.org/protobuf/encoding/protojson"
)

// CreateEntryRequest is the body of Rekor v2's CreateEntry call
// (POST /api/v2/log/entries, or the gRPC method): exactly one of
// hashedRekordRequestV002 or dsseRequestV002.
type CreateEntryRequest = rekortilespb.CreateEntryRequest

// Kinds and the version of the entries this package produces. They are the
// values of a TransparencyLogEntry's kindVersion.
const (
	KindHashedRekord = "hashedrekord"
	KindDSSE         = "dsse"
	Version          = "0.0.2"
)

// Limits on dsse 0.0.2 requests, as rekor-tiles v2.2.1 enforced them.
const (
	MaxDSSEVerifiers  = 10
	MaxDSSESignatures = 10
)

// MaxEntrySize is the largest leaf a log can hold: C2SP tlog-tiles entry
// bundles prefix each entry with a 16-bit length. (Tessera refuses larger
// entries too, which rekor-tiles reports as an internal error; here it is
// the client's InputError.)
const MaxEntrySize = 1<<16 - 1

// Entry is a validated entry, ready to be appended to the log.
type Entry struct {
	Kind    string // KindHashedRekord or KindDSSE
	Version string // always Version
	// Canonical is the log leaf: the JCS-canonical protojson encoding of the
	// rekor-tiles Entry message, byte-identical to what rekor-tiles stores.
	Canonical []byte
}

// LeafHash returns the RFC 6962 leaf hash of the entry,
// SHA-256(0x00 || Canonical).
func (e *Entry) LeafHash() [sha256.Size]byte {
	return [sha256.Size]byte(rfc6962.DefaultHasher.HashLeaf(e.Canonical))
}

// InputError reports a request that cannot be logged because of what the
// client sent. The API answers it with gRPC InvalidArgument / HTTP 400 and the
// error text; any other error from this package is a server fault.
type InputError struct {
	// Field is the lowerCamelCase JSON path of the offending field, such as
	// "hashedRekordRequestV002.signature.verifier.keyDetails" or
	// "dsseRequestV002.envelope.signatures[2].sig". It is empty when the
	// problem is the request as a whole.
	Field string
	Err   error
}

func (e *InputError) Error() string {
	if e.Field == "" {
		return "invalid request: " + e.Err.Error()
	}
	return "invalid request: " + e.Field + ": " + e.Err.Error()
}

func (e *InputError) Unwrap() error { return e.Err }

func inputErrorf(field, format string, args ...any) *InputError {
	return &InputError{Field: field, Err: fmt.Errorf(format, args...)}
}

// Options configures which entries a log accepts. The zero Options accepts
// nothing; start from DefaultOptions.
type Options struct {
	// AllowedAlgorithms lists the signing algorithms accepted for entry
	// signatures. A verifier's keyDetails must be one of them (and must
	// describe its key). Only the algorithms in DefaultOptions are
	// supported; Validate reports any other.
	AllowedAlgorithms []protocommon.PublicKeyDetails

	// Authorize, if set, is called with every verifier's key (and its
	// certificate, if the verifier is one) once the verifier is parsed
	// and before any signature is verified: a log's write policy.
	// Canonicalize returns its error unchanged, not as an *InputError.
	Authorize func(key crypto.PublicKey, chain []*x509.Certificate) error
}

// DefaultOptions returns rekor-tiles' defaults (v2.3.0, and v2.2.1 which last
// accepted DSSE): RSA PKCS#1 v1.5 2048/3072/4096 with SHA-256, ECDSA
// P-256/SHA-256, P-384/SHA-384, P-521/SHA-512, Ed25519 and Ed25519ph.
// Pure Ed25519 is only usable by dsse entries; hashedrekord requires
// Ed25519ph.
func DefaultOptions() Options {
	var allowed []protocommon.PublicKeyDetails
	for _, a := range algorithms {
		allowed = append(allowed, a.details)
	}
	return Options{AllowedAlgorithms: allowed}
}

// Validate reports whether every allowed algorithm is one this package can
// verify. Call it once when loading configuration; Canonicalize treats an
// unsupported algorithm as not allowed.
func (o Options) Validate() error {
	if len(o.AllowedAlgorithms) == 0 {
		return errors.New("rekorv2: no signing algorithms allowed")
	}
	for _, d := range o.AllowedAlgorithms {
		if _, ok := lookupAlgorithm(d); !ok {
			return fmt.Errorf("rekorv2: signing algorithm %s is not supported (supported: %s)", d, supportedAlgorithmNames())
		}
	}
	return nil
}

func (o Options) allows(d protocommon.PublicKeyDetails) bool {
	return slices.Contains(o.AllowedAlgorithms, d)
}

// ParseCreateEntryJSON decodes a REST CreateEntry body the way rekor-tiles'
// grpc-gateway does: protojson, accepting lowerCamelCase and snake_case field
// names and enum names or numbers, and rejecting unknown fields. Errors are
// *InputError. The request is not validated; pass it to Canonicalize.
func ParseCreateEntryJSON(body []byte) (*CreateEntryRequest, error) {
	req := new(CreateEntryRequest)
	if err := (protojson.UnmarshalOptions{DiscardUnknown: false}).Unmarshal(body, req); err != nil {
		return nil, &InputError{Err: fmt.Errorf("couldn't decode CreateEntryRequest JSON: %w", err)}
	}
	return req, nil
}

// Canonicalize validates req and returns the entry to append to the log.
// Every error caused by the request's content is an *InputError.
//
// For hashedRekordRequestV002 (→ hashedrekord 0.0.2) it requires a signature,
// a digest and a verifier whose public key or X.509 certificate parses; the
// verifier's keyDetails must be a supported, allowed algorithm that matches
// the key exactly (key type, curve or RSA modulus size); Ed25519 keys must use
// PKIX_ED25519_PH, because only a prehash signature can be checked against a
// digest; the digest must be as long as the keyDetails' hash; and the
// signature must verify over the digest. The leaf records data.algorithm
// derived from keyDetails, the digest, and the request's signature and
// verifier verbatim.
//
// For dsseRequestV002 (→ dsse 0.0.2) it requires an envelope with 1 to
// MaxDSSESignatures non-empty signatures and 1 to MaxDSSEVerifiers distinct
// verifiers, validated as above except that signatures are over the DSSE PAE
// (Ed25519 keys must use pure PKIX_ED25519). Signatures equal byte for byte
// count once. Each signature must be verified by exactly one verifier and each
// verifier must verify exactly one signature: rekor-tiles v2.2.1 let a
// verifier account for one signature and attributed signatures in map order,
// so this is the subset of its behaviour that is deterministic. The leaf
// records the SHA-256 of the payload and the (signature, verifier) pairs
// sorted by signature bytes; the envelope itself is not logged.
//
// Either way the canonical leaf must fit in MaxEntrySize bytes.
func Canonicalize(req *CreateEntryRequest, opts Options) (*Entry, error) {
	var (
		entry *rekortilespb.Entry
		err   error
		field string
	)
	switch spec := req.GetSpec().(type) {
	case *rekortilespb.CreateEntryRequest_HashedRekordRequestV002:
		field = "hashedRekordRequestV002"
		entry, err = hashedRekordEntry(spec.HashedRekordRequestV002, opts)
	case *rekortilespb.CreateEntryRequest_DsseRequestV002:
		field = "dsseRequestV002"
		entry, err = dsseEntry(spec.DsseRequestV002, opts)
	default:
		return nil, &InputError{Err: errors.New("request has no entry: expected hashedRekordRequestV002 or dsseRequestV002")}
	}
	if err != nil {
		return nil, err
	}
	canonical, err := canonicalJSON(entry)
	if err != nil {
		return nil, err
	}
	if len(canonical) > MaxEntrySize {
		return nil, inputErrorf(field, "the log entry would be %d bytes, more than the %d a log entry can hold; use smaller certificates or fewer signatures",
			len(canonical), MaxEntrySize)
	}
	return &Entry{Kind: entry.Kind, Version: entry.ApiVersion, Canonical: canonical}, nil
}

// canonicalJSON encodes an entry exactly as rekor-tiles' CreateEntry does:
// protojson with default options, then RFC 8785 canonicalisation, which also
// removes protojson's deliberately unstable whitespace.
func canonicalJSON(entry *rekortilespb.Entry) ([]byte, error) {
	serialized, err := protojson.Marshal(entry)
	if err != nil {
		return nil, fmt.Errorf("rekorv2: couldn't marshal %s entry: %w", entry.Kind, err)
	}
	canonical, err := jcs.Transform(serialized)
	if err != nil {
		return nil, fmt.Errorf("rekorv2: couldn't canonicalise %s entry: %w", entry.Kind, err)
	}
	return canonical, nil
}

func supportedAlgorithmNames() string {
	names := make([]string, len(algorithms))
	for i, a := range algorithms {
		names[i] = a.details.String()
	}
	return strings.Join(names, ", ")
}

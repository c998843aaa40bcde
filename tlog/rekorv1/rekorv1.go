// Package rekorv1 is the Rekor v1 entry-type layer: it validates proposed
// entries exactly as Rekor v1.5.4 does, verifies their signatures, and
// produces the canonical leaf bytes and search-index keys Rekor would.
//
// The canonical bytes are the contract with clients: cosign and sigstore-go
// check that the leaf hash of an entry's body equals its UUID, and cosign v2
// finds entries by re-canonicalising a proposed entry and looking the leaf
// hash up. Any byte that differs from Rekor's output breaks them, so every
// quirk of Rekor's canonicalisation is reproduced on purpose (and tested
// against Rekor's own code in the interop module).
//
// Supported kinds: hashedrekord 0.0.1, dsse 0.0.1, intoto 0.0.1 and 0.0.2.
// The package does no I/O and keeps no state; it is safe for concurrent use.
package rekorv1

import (
	"bytes"
	"crypto"
	"crypto/sha256"
	"crypto/x509"
	"encoding/json"
	"encoding/json/jsontext"
	jsonv2 "encoding/json/v2"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"

	"github.com/gowebpki/jcs"
)

// Entry is a validated, canonicalised Rekor v1 entry.
type Entry struct {
	Kind, APIVersion string

	// Canonical is the Merkle leaf: RFC 8785 (JCS) JSON, byte-identical to
	// what Rekor's types.CanonicalizeEntry returns for the same request.
	Canonical []byte

	// IndexKeys are the search-index keys Rekor writes for this entry,
	// lower-cased as Rekor's index stores store them, without duplicates.
	// They may be empty: where Rekor fails to compute keys for an entry it
	// still accepts, it indexes nothing.
	IndexKeys []string
}

// LeafHash is the RFC 6962 leaf hash of the canonical entry, which is the
// entry's Rekor UUID.
func (e *Entry) LeafHash() [32]byte {
	h := sha256.New()
	h.Write([]byte{0})
	h.Write(e.Canonical)
	var out [32]byte
	h.Sum(out[:0])
	return out
}

// Options restrict what Canonicalize accepts, like rekor-server's
// --enabled_entry_types and --client-signing-algorithms flags.
type Options struct {
	// Kinds that may be submitted. Empty means every kind this package
	// implements (Kinds()).
	Kinds []string

	// Algorithms admitted for hashedrekord entries: each pairs a key type
	// with the artifact hash algorithm it may be used with, so this also
	// decides which of sha256, sha384 and sha512 are allowed for which key.
	// Empty means DefaultAlgorithms. As in Rekor, other kinds are not
	// subject to this check.
	Algorithms []Algorithm

	// MaxSignatures bounds the signatures of one DSSE envelope (dsse and
	// intoto entries). Zero means DefaultMaxSignatures.
	MaxSignatures int
	// MaxVerifiers bounds the keys of one entry (dsse verifiers, intoto
	// 0.0.2 signature keys). Zero means DefaultMaxVerifiers.
	MaxVerifiers int
	// MaxSignatureChecks bounds signatures × keys, the most signature
	// verifications one entry may need. Zero means
	// DefaultMaxSignatureChecks.
	MaxSignatureChecks int

	// MaxEntryBytes bounds the request body by entry kind (a log's
	// limits.max_entry_bytes); a larger one is refused with 413 once its
	// kind is known, before the kind's own validation. Kinds without an
	// entry are not bounded here.
	MaxEntryBytes map[string]int64

	// Authorize, if set, is called with every key the entry names (and
	// its certificate chain as submitted, leaf first, if it came with
	// certificates) once the entry is decoded and before any signature is
	// verified: a log's write policy. Canonicalize returns its error
	// unchanged, not as an *InputError.
	Authorize func(key crypto.PublicKey, chain []*x509.Certificate) error
}

// DefaultOptions are Rekor's defaults: every implemented kind, and
// DefaultAlgorithms.
func DefaultOptions() Options {
	return Options{Kinds: Kinds(), Algorithms: slices.Clone(DefaultAlgorithms)}
}

// Validate reports options that name unknown kinds or algorithms, as
// rekor-server refuses to start with them.
func (o Options) Validate() error {
	for _, k := range o.Kinds {
		if !slices.Contains(Kinds(), k) {
			return fmt.Errorf("rekorv1: unknown or unsupported entry kind %q (supported: %s)", k, strings.Join(Kinds(), ", "))
		}
	}
	for _, a := range o.Algorithms {
		if _, ok := algorithmRegistry[a]; !ok {
			return fmt.Errorf("rekorv1: unknown signing algorithm %q", a)
		}
	}
	if o.MaxSignatures < 0 || o.MaxVerifiers < 0 || o.MaxSignatureChecks < 0 {
		return errors.New("rekorv1: verification limits must not be negative")
	}
	return nil
}

// Kinds lists the kinds this package implements.
func Kinds() []string { return []string{kindDSSE, kindHashedRekord, kindIntoto} }

const (
	kindHashedRekord = "hashedrekord"
	kindDSSE         = "dsse"
	kindIntoto       = "intoto"
)

// InputError is a problem with the submitted entry: Rekor answers it with a
// 4xx and the message below; anything else Canonicalize returns is internal.
type InputError struct {
	// Code is the HTTP status Rekor answers with: 400, or 422 when the body
	// fails the OpenAPI schema of a ProposedEntry itself (unknown kind,
	// missing apiVersion or spec).
	Code int

	// Message is the "message" of Rekor's {code, message} error body for
	// POST /api/v1/log/entries, e.g. "error processing entry: all signatures
	// must have a key that verifies it".
	Message string

	// Err is the underlying cause; its text is Rekor's error text without
	// the "error processing entry: " prefix.
	Err error
}

func (e *InputError) Error() string { return e.Message }
func (e *InputError) Unwrap() error { return e.Err }

// invalid builds the 400 Rekor's createLogEntry returns for an entry that
// does not validate.
func invalid(err error) *InputError {
	return &InputError{Code: http.StatusBadRequest, Message: "error processing entry: " + err.Error(), Err: err}
}

// invalidf is invalid(fmt.Errorf(format, args...)).
func invalidf(format string, args ...any) *InputError {
	return invalid(fmt.Errorf(format, args...))
}

// schemaInvalid builds the 422 go-openapi answers when the request body
// does not even bind as a ProposedEntry.
func schemaInvalid(msg string) *InputError {
	return &InputError{Code: http.StatusUnprocessableEntity, Message: msg, Err: errors.New(msg)}
}

// rekorKinds are all the kinds Rekor's ProposedEntry discriminator knows.
// Kinds outside Kinds() pass the schema but are not enabled here.
var rekorKinds = []string{"alpine", "cose", "dsse", "hashedrekord", "helm", "intoto", "jar", "rekord", "rfc3161", "rpm", "tuf"}

// apiVersionPattern is the semver pattern of every kind's apiVersion field.
const apiVersionPattern = `^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)(?:-((?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*)(?:\.(?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*))*))?(?:\+([0-9a-zA-Z-]+(?:\.[0-9a-zA-Z-]+)*))?$`

// targetedProposedEntry is the first decoding step of a request body. Its
// name appears in encoding/json type errors, as it does in Rekor's.
type targetedProposedEntry struct {
	Kind       string  `json:"kind"`
	APIVersion *string `json:"apiVersion"`
	Spec       any     `json:"spec"`
}

// Canonicalize validates a Rekor v1 ProposedEntry (the JSON body of POST
// /api/v1/log/entries), verifies its signatures and returns its canonical
// form. The checks and their order are Rekor's: request schema, kind and
// version, the kind's own validation (including signature verification),
// enabled kinds, insertability, then the signing-algorithm registry.
//
// Like Rekor's JSON decoder, Canonicalize reads the first JSON value of body
// and ignores anything after it. Errors a client caused are *InputError.
func Canonicalize(body []byte, opts Options) (*Entry, error) {
	return canonicalize(body, opts, true)
}

// canonicalize is Canonicalize; with direct, a kind that writes its
// canonical entry itself (jcsWriter) does so instead of going through
// toJCS. Tests compare the two.
func canonicalize(body []byte, opts Options, direct bool) (*Entry, error) {
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	kinds, algorithms := opts.Kinds, opts.Algorithms
	if len(kinds) == 0 {
		kinds = Kinds()
	}
	if len(algorithms) == 0 {
		algorithms = DefaultAlgorithms
	}

	pe, err := decodeProposedEntry(body)
	if err != nil {
		return nil, err
	}
	version := *pe.APIVersion
	if err := checkEntrySize(pe.Kind, len(body), opts.MaxEntryBytes); err != nil {
		return nil, err
	}

	var k kindImpl
	switch pe.Kind {
	case kindHashedRekord:
		if version == "0.0.1" {
			k = &hashedRekordV001{}
		}
	case kindDSSE:
		if version == "0.0.1" {
			k = &dsseV001{}
		}
	case kindIntoto:
		switch version {
		case "0.0.1":
			k = &intotoV001{}
		case "0.0.2":
			k = &intotoV002{}
		}
	default:
		// Rekor knows these kinds, but this server does not accept them.
		return nil, invalidf("entry kind '%v' is not enabled for submission on this server", pe.Kind)
	}
	if k == nil {
		return nil, invalidf("%s implementation for version '%v' not found: unable to locate entry for version %s", pe.Kind, version, version)
	}

	// The kind keeps what it needs of the spec and drops the rest as it
	// goes: the spec must not stay reachable from here, or a large
	// envelope's text would be held until the end.
	spec := pe.Spec
	pe.Spec = nil
	if err := k.unmarshal(spec, opts.limits()); err != nil {
		return nil, err
	}
	if !slices.Contains(kinds, pe.Kind) {
		return nil, invalidf("entry kind '%v' is not enabled for submission on this server", pe.Kind)
	}
	if err := k.insertable(); err != nil {
		return nil, invalidf("entry not insertable into log: %w", err)
	}
	if err := k.checkAlgorithms(algorithms); err != nil {
		return nil, err
	}
	doc, err := k.canonical()
	if err != nil {
		return nil, err
	}
	var canonical []byte
	if w, ok := k.(jcsWriter); ok && direct {
		canonical, ok = w.appendJCS(nil)
		if !ok {
			canonical = nil
		}
	}
	if canonical == nil {
		if canonical, err = toJCS(pe.Kind, version, doc); err != nil {
			return nil, err
		}
	}
	return &Entry{
		Kind:       pe.Kind,
		APIVersion: version,
		Canonical:  canonical,
		IndexKeys:  normalizeKeys(k.indexKeys()),
	}, nil
}

// kindImpl is one kind at one version. Its methods are called in order;
// each relies on the state the previous ones established.
type kindImpl interface {
	// unmarshal decodes and validates the spec and verifies signatures,
	// within lim.
	unmarshal(spec any, lim limits) error
	// insertable reports why a valid spec still cannot be added to the log.
	insertable() error
	// checkAlgorithms applies the signing-algorithm registry.
	checkAlgorithms(allowed []Algorithm) error
	// canonical returns the spec object of the canonical entry.
	canonical() (any, error)
	// indexKeys returns the search-index keys, as Rekor computes them.
	indexKeys() []string
}

// decodeProposedEntry performs the request binding: the discriminator and
// the schema of the kind's envelope (apiVersion and spec are required).
func decodeProposedEntry(body []byte) (*targetedProposedEntry, error) {
	pe, err := bindProposedEntry(body)
	if err != nil {
		return nil, err
	}
	if pe.Kind == "" {
		return nil, schemaInvalid("kind in body is required")
	}
	if pe.Kind == "ProposedEntry" {
		// The abstract base type binds, but no kind implements it.
		return nil, invalidf("could not unmarshal entry for kind '%v'", pe.Kind)
	}
	if !slices.Contains(rekorKinds, pe.Kind) {
		return nil, schemaInvalid(fmt.Sprintf("invalid kind value: %q", pe.Kind))
	}
	if pe.APIVersion == nil {
		return nil, schemaInvalid(requiredMsg("apiVersion"))
	}
	if !apiVersionRE.MatchString(*pe.APIVersion) {
		return nil, schemaInvalid(patternMsg("apiVersion", apiVersionPattern))
	}
	if pe.Spec == nil {
		return nil, schemaInvalid(requiredMsg("spec"))
	}
	return pe, nil
}

// bindProposedEntry decodes the first JSON value of body into a
// targetedProposedEntry exactly as Rekor's json.Decoder with UseNumber does,
// at a fraction of the cost: one pass validates the whole value and binds
// kind and apiVersion (jsontext reads body in place, where json.Decoder
// copies it into a growing buffer), and decodeValidJSON converts the spec
// without validating it again. An envelope string of a megabyte is thus
// scanned once here instead of three times. Bodies that do not bind are
// decoded again by json.Decoder, for its exact error text.
func bindProposedEntry(body []byte) (*targetedProposedEntry, error) {
	opts := json.DefaultOptionsV1() // what json.Decoder uses
	var bound struct {
		Kind       string     `json:"kind"`
		APIVersion *string    `json:"apiVersion"`
		Spec       validValue `json:"spec"`
	}
	if jsonv2.UnmarshalDecode(jsontext.NewDecoder(bytes.NewBuffer(body), opts), &bound, opts) == nil {
		return &targetedProposedEntry{Kind: bound.Kind, APIVersion: bound.APIVersion, Spec: bound.Spec.v}, nil
	}

	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	var pe targetedProposedEntry
	if err := dec.Decode(&pe); err != nil {
		if errors.Is(err, io.EOF) { // nothing but JSON whitespace
			return nil, schemaInvalid("proposedEntry in body is required")
		}
		// Rekor serves these as 500s; they are the client's mistake.
		return nil, &InputError{Code: http.StatusBadRequest, Message: err.Error(), Err: err}
	}
	return &pe, nil
}

// validValue is a JSON value that encoding/json has already validated,
// decoded with decodeValidJSON.
type validValue struct{ v any }

func (vv *validValue) UnmarshalJSON(b []byte) error {
	vv.v = decodeValidJSON(b) // copies what it keeps, as it must
	return nil
}

// jcsWriter is a kind that can write its canonical entry directly, byte
// for byte what toJCS makes of the spec canonical returned, without
// marshalling it and parsing it again (most of the cost of a hashedrekord
// after its signature check). appendJCS is called after canonical; it
// answers false where it cannot be sure of toJCS's bytes, and toJCS then
// does the work.
type jcsWriter interface {
	appendJCS(dst []byte) ([]byte, bool)
}

// jcsPlain reports whether encoding/json followed by RFC 8785 writes s as
// itself between quotes: printable ASCII without a quote or a backslash
// (encoding/json escapes '<', '>' and '&', but the JCS step writes them
// back as they are).
func jcsPlain(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c >= 0x7f || c == '"' || c == '\\' {
			return false
		}
	}
	return true
}

// canonicalEntry is the JSON Rekor marshals before canonicalising: the
// go-swagger model writes apiVersion and spec, then appends kind.
type canonicalEntry struct {
	APIVersion string `json:"apiVersion"`
	Spec       any    `json:"spec"`
	Kind       string `json:"kind"`
}

// toJCS marshals the entry with encoding/json, as Rekor does, and then
// canonicalises it with RFC 8785. Both steps matter: encoding/json decides
// how []byte fields are base64-encoded and how strings are sanitised.
func toJCS(kind, version string, spec any) ([]byte, error) {
	raw, err := json.Marshal(canonicalEntry{APIVersion: version, Spec: spec, Kind: kind})
	if err != nil {
		return nil, fmt.Errorf("couldn't marshal canonical %s entry: %w", kind, err)
	}
	out, err := jcs.Transform(raw)
	if err != nil {
		return nil, fmt.Errorf("couldn't canonicalise %s entry: %w", kind, err)
	}
	return out, nil
}

// normalizeKeys lower-cases keys, as Rekor's index stores do on write, and
// drops duplicates (which the stores also collapse), keeping first-seen order.
func normalizeKeys(keys []string) []string {
	out := make([]string, 0, len(keys))
	seen := make(map[string]bool, len(keys))
	for _, k := range keys {
		k = strings.ToLower(k)
		if !seen[k] {
			seen[k] = true
			out = append(out, k)
		}
	}
	return out
}

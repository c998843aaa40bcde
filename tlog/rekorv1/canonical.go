package rekorv1

// Index keys of entries already in a log.
//
// A log adopted from Rekor brings its leaves (canonical entries) but not its
// search index (Redis or MySQL). IndexKeysFromCanonical rebuilds the index
// from the leaves alone, as Rekor's own cmd/backfill-index does: it decodes
// each leaf as a canonical entry and asks the kind for its IndexKeys. So the
// keys are those Rekor computes for a canonical entry, which for dsse and
// intoto entries is fewer than at insertion: the canonical form keeps only
// digests of the envelope and payload, so the in-toto subject and material
// digests a statement contributed at insertion cannot be recomputed.

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
)

// ErrUnsupportedKind is returned by IndexKeysFromCanonical for entries of a
// kind or version this package does not implement (rekord, rpm, jar, ...).
var ErrUnsupportedKind = errors.New("rekorv1: unsupported entry kind")

// IndexKeysFromCanonical returns the search-index keys of a canonical
// entry (a Rekor v1 leaf), lower-cased and without duplicates, as Rekor
// v1.5.4's backfill-index computes them. Signatures are not verified again:
// the leaf was verified when the log accepted it, and it is in the log
// whether or not today's rules would accept it.
//
// Where Rekor's IndexKeys fails for a canonical entry (an unparsable key,
// a missing field) this fails too; Rekor's backfill then indexes nothing
// for the entry.
func IndexKeysFromCanonical(leaf []byte) ([]string, error) {
	if keys, ok := hashedRekordKeysTemplate(leaf); ok {
		return keys, nil
	}
	if keys, ok := hashedRekordKeysFast(leaf); ok {
		return keys, nil
	}
	var ce struct {
		APIVersion string          `json:"apiVersion"`
		Kind       string          `json:"kind"`
		Spec       json.RawMessage `json:"spec"`
	}
	if err := json.Unmarshal(leaf, &ce); err != nil {
		return nil, fmt.Errorf("rekorv1: leaf is not a canonical entry: %w", err)
	}
	var keys []string
	var err error
	switch {
	case ce.Kind == kindHashedRekord && ce.APIVersion == "0.0.1":
		keys, err = hashedRekordKeysFromCanonical(ce.Spec)
	case ce.Kind == kindDSSE && ce.APIVersion == "0.0.1":
		keys, err = dsseKeysFromCanonical(ce.Spec)
	case ce.Kind == kindIntoto && ce.APIVersion == "0.0.1":
		keys, err = intotoV001KeysFromCanonical(ce.Spec)
	case ce.Kind == kindIntoto && ce.APIVersion == "0.0.2":
		keys, err = intotoV002KeysFromCanonical(ce.Spec)
	default:
		return nil, fmt.Errorf("%w: %s %s", ErrUnsupportedKind, ce.Kind, ce.APIVersion)
	}
	if err != nil {
		return nil, fmt.Errorf("rekorv1: %s %s leaf: %w", ce.Kind, ce.APIVersion, err)
	}
	return normalizeKeys(keys), nil
}

// canonicalHashedRekordSpec is the part of a hashedrekord 0.0.1 spec its
// keys need.
type canonicalHashedRekordSpec struct {
	Data struct {
		Hash *hashObject `json:"hash"`
	} `json:"data"`
	Signature *struct {
		PublicKey *struct {
			Content []byte `json:"content"`
		} `json:"publicKey"`
	} `json:"signature"`
}

// The members of a canonical hashedrekord 0.0.1 leaf around its four
// strings, as Rekor writes them (canonical JSON: sorted, no spaces).
var (
	templateHead      = []byte(`{"apiVersion":"0.0.1","kind":"hashedrekord","spec":{"data":{"hash":{"algorithm":"`)
	templateValue     = []byte(`,"value":"`)
	templateSignature = []byte(`}},"signature":{"content":"`)
	templatePublicKey = []byte(`,"publicKey":{"content":"`)
	templateTail      = []byte(`}}}}`)
)

// hashedRekordKeysTemplate computes the keys of a hashedrekord 0.0.1 leaf
// laid out exactly as Rekor writes one, without a JSON decoder: it matches
// the members around the four strings byte for byte and takes the strings
// as they are. It answers only where encoding/json would read the same:
// the leaf is that text with nothing else in it (so one member of each
// name, spelled so), the strings are printable ASCII without escapes (so
// they read as themselves), and the public key decodes as base64 as
// encoding/json decodes a []byte. It answers no errors: for anything else,
// or a key it cannot use, the caller decodes the JSON.
func hashedRekordKeysTemplate(leaf []byte) ([]string, bool) {
	var alg, value, key []byte
	rest, ok := bytes.CutPrefix(leaf, templateHead)
	if alg, rest, ok = plainString(rest, ok); ok {
		rest, ok = bytes.CutPrefix(rest, templateValue)
	}
	if value, rest, ok = plainString(rest, ok); ok {
		rest, ok = bytes.CutPrefix(rest, templateSignature)
	}
	if _, rest, ok = plainString(rest, ok); ok {
		rest, ok = bytes.CutPrefix(rest, templatePublicKey)
	}
	if key, rest, ok = plainString(rest, ok); !ok || !bytes.Equal(rest, templateTail) {
		return nil, false
	}
	pemBytes := make([]byte, base64.StdEncoding.DecodedLen(len(key)))
	n, err := base64.StdEncoding.Decode(pemBytes, key)
	if err != nil {
		return nil, false
	}
	a, v := string(alg), string(value)
	keys, err := hashedRekordKeysOf(&hashObject{Algorithm: &a, Value: &v}, pemBytes[:n])
	if err != nil {
		return nil, false
	}
	return normalizeKeys(keys), true
}

// plainString reads a JSON string's content up to its closing quote (the
// opening one already read) if it has only printable ASCII and no escapes,
// and returns the rest after the quote. It fails if ok is false.
func plainString(b []byte, ok bool) (s, rest []byte, _ bool) {
	if !ok {
		return nil, nil, false
	}
	for i, c := range b {
		switch {
		case c == '"':
			return b[:i], b[i+1:], true
		case c < 0x20 || c >= 0x7f || c == '\\':
			return nil, nil, false
		}
	}
	return nil, nil, false
}

// hashedRekordKeysFast computes the keys of a hashedrekord 0.0.1 leaf with
// one JSON decoding instead of two (the entry, then its spec), which is
// most of what an import spends per entry. It answers only where that
// gives what the two decodings give: the leaf decodes without error, and
// has exactly one member that encoding/json would take for "spec" (plain
// ASCII without escapes, so that a member matches "spec" only if it is
// spelled so, in any case, and "spec" occurs once in the whole leaf; with
// two, the two decodings take the last and one decoding merges them). It
// answers no errors: for those the caller takes the two decodings.
func hashedRekordKeysFast(leaf []byte) ([]string, bool) {
	specs := 0
	for i, c := range leaf {
		if c >= 0x80 || c == '\\' {
			return nil, false
		}
		if c == '"' && i+6 <= len(leaf) && leaf[i+5] == '"' &&
			leaf[i+1]|0x20 == 's' && leaf[i+2]|0x20 == 'p' && leaf[i+3]|0x20 == 'e' && leaf[i+4]|0x20 == 'c' {
			specs++
		}
	}
	if specs != 1 {
		return nil, false
	}
	var ce struct {
		APIVersion string                    `json:"apiVersion"`
		Kind       string                    `json:"kind"`
		Spec       canonicalHashedRekordSpec `json:"spec"`
	}
	if err := json.Unmarshal(leaf, &ce); err != nil || ce.Kind != kindHashedRekord || ce.APIVersion != "0.0.1" {
		return nil, false
	}
	keys, err := hashedRekordKeys(&ce.Spec)
	if err != nil {
		return nil, false
	}
	return normalizeKeys(keys), true
}

// hashedrekord: the key hash is over the stored (canonical) PEM as it is.
func hashedRekordKeysFromCanonical(spec []byte) ([]string, error) {
	// An unnamed type, as this was before the single decoding: decoding
	// errors name the type, and stay the same.
	var s struct {
		Data struct {
			Hash *hashObject `json:"hash"`
		} `json:"data"`
		Signature *struct {
			PublicKey *struct {
				Content []byte `json:"content"`
			} `json:"publicKey"`
		} `json:"signature"`
	}
	if err := json.Unmarshal(spec, &s); err != nil {
		return nil, err
	}
	return hashedRekordKeys((*canonicalHashedRekordSpec)(&s))
}

func hashedRekordKeys(s *canonicalHashedRekordSpec) ([]string, error) {
	if s.Signature == nil || s.Signature.PublicKey == nil {
		return nil, errors.New("no public key")
	}
	return hashedRekordKeysOf(s.Data.Hash, s.Signature.PublicKey.Content)
}

// hashedRekordKeysOf returns the keys of a hashedrekord with this data
// hash and public key (or certificate) PEM.
func hashedRekordKeysOf(hash *hashObject, pemBytes []byte) ([]string, error) {
	h := sha256.Sum256(pemBytes)
	keys := []string{hex.EncodeToString(h[:])}
	k := cachedKeyInfo(pemBytes, h)
	if k.err != nil {
		return nil, k.err
	}
	keys = append(keys, k.subjects...)
	if hk := hash.key(); hk != "" {
		keys = append(keys, hk)
	}
	return keys, nil
}

// verifierKeys are the keys of one verifier of a dsse or intoto 0.0.2
// entry: the hash of its re-canonicalised PEM, and its identities.
func verifierKeys(pemBytes []byte) ([]string, error) {
	k := cachedKeyInfo(pemBytes, sha256.Sum256(pemBytes))
	if k.err != nil {
		return nil, k.err
	}
	if k.canonicalErr != nil {
		return nil, k.canonicalErr
	}
	return append([]string{k.canonicalHash}, k.subjects...), nil
}

func dsseKeysFromCanonical(spec []byte) ([]string, error) {
	var s struct {
		EnvelopeHash *hashObject `json:"envelopeHash"`
		PayloadHash  *hashObject `json:"payloadHash"`
		Signatures   []*struct {
			Verifier []byte `json:"verifier"`
		} `json:"signatures"`
	}
	if err := json.Unmarshal(spec, &s); err != nil {
		return nil, err
	}
	var keys []string
	for _, sig := range s.Signatures {
		if sig == nil || sig.Verifier == nil {
			return nil, errors.New("missing or malformed public key")
		}
		vk, err := verifierKeys(sig.Verifier)
		if err != nil {
			return nil, err
		}
		keys = append(keys, vk...)
	}
	for _, h := range []*hashObject{s.PayloadHash, s.EnvelopeHash} {
		if hk := h.key(); hk != "" {
			keys = append(keys, hk)
		}
	}
	return keys, nil
}

func intotoV001KeysFromCanonical(spec []byte) ([]string, error) {
	var s struct {
		Content *struct {
			Hash        *hashObject `json:"hash"`
			PayloadHash *hashObject `json:"payloadHash"` // absent in old entries
		} `json:"content"`
		PublicKey []byte `json:"publicKey"`
	}
	if err := json.Unmarshal(spec, &s); err != nil {
		return nil, err
	}
	if s.PublicKey == nil {
		return nil, errors.New("missing public key")
	}
	k := cachedKeyInfo(s.PublicKey, sha256.Sum256(s.PublicKey))
	if k.err != nil {
		return nil, k.err
	}
	var keys []string
	if s.Content != nil && s.Content.Hash != nil {
		keys = append(keys, hashKeyOrEmpty(s.Content.Hash))
	}
	if k.canonicalErr == nil {
		keys = append(keys, k.canonicalHash)
		keys = append(keys, k.subjects...)
	}
	if s.Content != nil && s.Content.PayloadHash != nil {
		keys = append(keys, hashKeyOrEmpty(s.Content.PayloadHash))
	}
	return keys, nil
}

// hashKeyOrEmpty renders a hash object as Rekor's intoto 0.0.1 does, with
// missing fields as empty strings.
func hashKeyOrEmpty(h *hashObject) string {
	var alg, value string
	if h.Algorithm != nil {
		alg = *h.Algorithm
	}
	if h.Value != nil {
		value = *h.Value
	}
	return alg + ":" + value
}

func intotoV002KeysFromCanonical(spec []byte) ([]string, error) {
	var s struct {
		Content *struct {
			Envelope *struct {
				Signatures []*struct {
					PublicKey []byte `json:"publicKey"`
				} `json:"signatures"`
			} `json:"envelope"`
			PayloadHash *hashObject `json:"payloadHash"`
		} `json:"content"`
	}
	if err := json.Unmarshal(spec, &s); err != nil {
		return nil, err
	}
	if s.Content == nil || s.Content.Envelope == nil {
		return nil, nil
	}
	var keys []string
	for _, sig := range s.Content.Envelope.Signatures {
		if sig == nil || sig.PublicKey == nil {
			return nil, errors.New("malformed or missing signature")
		}
		vk, err := verifierKeys(sig.PublicKey)
		if err != nil {
			return nil, err
		}
		keys = append(keys, vk...)
	}
	if hk := s.Content.PayloadHash.key(); hk != "" {
		keys = append(keys, hk)
	}
	// The payload is not part of the canonical entry, so there are no
	// statement subjects to add (Rekor: "IntotoObj DSSE payload is empty").
	return keys, nil
}

// keyInfo is what the index keys of a canonical entry take from one key or
// certificate PEM: whether it parses, its identities, and the hash of its
// canonical form. It depends on the PEM's bytes only.
type keyInfo struct {
	err           error    // parsePublicKey's error; nothing else is set
	subjects      []string // the leaf certificate's identities; never modified
	canonicalHash string   // "sha256:" and the hex SHA-256 of the canonical PEM
	canonicalErr  error    // why there is no canonical PEM
}

// keyInfoCacheSize bounds the cache of keyInfo. A log's entries come from
// far fewer keys and certificates than entries (a signer reuses its key;
// a Fulcio certificate signs one or a few artifacts, but a Rekor log's
// leaves repeat it in its hashedrekord and its attestation), and parsing a
// certificate costs more than everything else an entry's keys need.
const keyInfoCacheSize = 1 << 14

var keyInfoCache = resettingCache[[32]byte, *keyInfo]{max: keyInfoCacheSize} // by the SHA-256 of the PEM bytes

// cachedKeyInfo returns the keyInfo of raw, whose SHA-256 is h, from the
// cache or by parsing it.
func cachedKeyInfo(raw []byte, h [32]byte) *keyInfo {
	if k, ok := keyInfoCache.get(h); ok {
		return k
	}
	k := newKeyInfo(raw)
	keyInfoCache.put(h, k)
	return k
}

// resettingCache is a map safe for concurrent use that starts over when
// it holds max entries: bounded memory without the bookkeeping of an LRU,
// for values that are cheap to make again.
type resettingCache[K comparable, V any] struct {
	max int
	mu  sync.Mutex
	m   map[K]V
}

func (c *resettingCache[K, V]) get(k K) (V, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	v, ok := c.m[k]
	return v, ok
}

func (c *resettingCache[K, V]) put(k K, v V) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil || len(c.m) >= c.max {
		c.m = make(map[K]V)
	}
	c.m[k] = v
}

func newKeyInfo(raw []byte) *keyInfo {
	pk, err := parsePublicKey(raw)
	if err != nil {
		return &keyInfo{err: err}
	}
	k := &keyInfo{subjects: pk.subjects()}
	canonical, err := pk.canonical()
	if err != nil {
		k.canonicalErr = err
	} else {
		ch := sha256.Sum256(canonical)
		k.canonicalHash = "sha256:" + hex.EncodeToString(ch[:])
	}
	return k
}

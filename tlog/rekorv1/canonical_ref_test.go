package rekorv1

// The index-key code of IndexKeysFromCanonical as it was before its
// per-key cache, kept as the reference for TestIndexKeysFromCanonicalCached.

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
)

func IndexKeysFromCanonicalRef(leaf []byte) ([]string, error) {
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
		keys, err = hashedRekordKeysFromCanonicalRef(ce.Spec)
	case ce.Kind == kindDSSE && ce.APIVersion == "0.0.1":
		keys, err = dsseKeysFromCanonicalRef(ce.Spec)
	case ce.Kind == kindIntoto && ce.APIVersion == "0.0.1":
		keys, err = intotoV001KeysFromCanonicalRef(ce.Spec)
	case ce.Kind == kindIntoto && ce.APIVersion == "0.0.2":
		keys, err = intotoV002KeysFromCanonicalRef(ce.Spec)
	default:
		return nil, fmt.Errorf("%w: %s %s", ErrUnsupportedKind, ce.Kind, ce.APIVersion)
	}
	if err != nil {
		return nil, fmt.Errorf("rekorv1: %s %s leaf: %w", ce.Kind, ce.APIVersion, err)
	}
	return normalizeKeys(keys), nil
}

// hashedrekord: the key hash is over the stored (canonical) PEM as it is.
func hashedRekordKeysFromCanonicalRef(spec []byte) ([]string, error) {
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
	if s.Signature == nil || s.Signature.PublicKey == nil {
		return nil, errors.New("no public key")
	}
	pemBytes := s.Signature.PublicKey.Content
	h := sha256.Sum256(pemBytes)
	keys := []string{hex.EncodeToString(h[:])}
	k, err := parsePublicKey(pemBytes)
	if err != nil {
		return nil, err
	}
	keys = append(keys, k.subjects()...)
	if hk := s.Data.Hash.key(); hk != "" {
		keys = append(keys, hk)
	}
	return keys, nil
}

// verifierKeys are the keys of one verifier of a dsse or intoto 0.0.2
// entry: the hash of its re-canonicalised PEM, and its identities.
func verifierKeysRef(pemBytes []byte) ([]string, error) {
	k, err := parsePublicKey(pemBytes)
	if err != nil {
		return nil, err
	}
	canonical, err := k.canonical()
	if err != nil {
		return nil, err
	}
	h := sha256.Sum256(canonical)
	return append([]string{"sha256:" + hex.EncodeToString(h[:])}, k.subjects()...), nil
}

func dsseKeysFromCanonicalRef(spec []byte) ([]string, error) {
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
		vk, err := verifierKeysRef(sig.Verifier)
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

func intotoV001KeysFromCanonicalRef(spec []byte) ([]string, error) {
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
	k, err := parsePublicKey(s.PublicKey)
	if err != nil {
		return nil, err
	}
	var keys []string
	if s.Content != nil && s.Content.Hash != nil {
		keys = append(keys, hashKeyOrEmptyRef(s.Content.Hash))
	}
	if canonical, err := k.canonical(); err == nil {
		h := sha256.Sum256(canonical)
		keys = append(keys, "sha256:"+hex.EncodeToString(h[:]))
		keys = append(keys, k.subjects()...)
	}
	if s.Content != nil && s.Content.PayloadHash != nil {
		keys = append(keys, hashKeyOrEmptyRef(s.Content.PayloadHash))
	}
	return keys, nil
}

// hashKeyOrEmpty renders a hash object as Rekor's intoto 0.0.1 does, with
// missing fields as empty strings.
func hashKeyOrEmptyRef(h *hashObject) string {
	var alg, value string
	if h.Algorithm != nil {
		alg = *h.Algorithm
	}
	if h.Value != nil {
		value = *h.Value
	}
	return alg + ":" + value
}

func intotoV002KeysFromCanonicalRef(spec []byte) ([]string, error) {
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
		vk, err := verifierKeysRef(sig.PublicKey)
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

package rekorv1

// hashedrekord 0.0.1: a signature over an artifact digest, with the key or
// certificate that made it. This is what cosign and sigstore-go log for
// blobs and container images.
//
//	request:   {"data":{"hash":{"algorithm","value"}},
//	            "signature":{"content":b64 sig,"publicKey":{"content":b64 PEM}}}
//	canonical: the same, with the PEM re-encoded (see publicKey.canonical)

import (
	"crypto"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
)

type hashedRekordV001 struct {
	hash      *hashObject
	hasData   bool // a "data" object with a "hash" object was submitted
	hasSig    bool // a "signature" object was submitted
	hasKey    bool // a "signature.publicKey" object was submitted
	signature []byte
	keyPEM    []byte
	key       *publicKey
	hashAlg   crypto.Hash
}

func (e *hashedRekordV001) unmarshal(spec any, lim limits) error {
	m, ok := spec.(map[string]any)
	if !ok {
		return invalidf("unsupported input type %T for DecodeEntry", spec)
	}
	if sig, ok := m["signature"].(map[string]any); ok {
		e.hasSig = true
		var err error
		if e.signature, _, err = base64Field(sig, "content", "signature content"); err != nil {
			return err
		}
		if pk, ok := sig["publicKey"].(map[string]any); ok {
			e.hasKey = true
			if e.keyPEM, _, err = base64Field(pk, "content", "public key content"); err != nil {
				return err
			}
		}
	}
	// A "data" object without a "hash" object counts as no data at all.
	if data, ok := m["data"].(map[string]any); ok {
		if e.hash = decodeHash(data, "hash"); e.hash != nil {
			e.hasData = true
		}
	}

	var errs schemaErrors
	if !e.hasData {
		errs.add(requiredMsg("data"))
	} else if msg := e.hash.validate("data.hash", "sha256", "sha384", "sha512"); msg != "" {
		errs.add(nested(msg, "data", "data.hash"))
	}
	if !e.hasSig {
		errs.add(requiredMsg("signature"))
	}
	if err := errs.err(); err != nil {
		return err
	}
	return e.validate(lim)
}

// validate is the cross-field validation of Rekor's V001Entry.validate.
func (e *hashedRekordV001) validate(lim limits) error {
	if !e.hasKey {
		return invalid(errors.New("missing public key"))
	}
	// The leaf holds the signature and the key (or chain): refuse what
	// cannot fit before parsing anything.
	if err := checkKeySize("the public key", e.keyPEM); err != nil {
		return invalid(err)
	}
	if n := len(e.signature) + len(e.keyPEM); n > maxKeyBytes {
		return invalid(overLimit("the signature and public key are %d bytes, more than the %d a log entry can hold", n, maxKeyBytes))
	}
	key, err := parsePublicKey(e.keyPEM)
	if err != nil {
		return invalid(err)
	}
	e.key = key
	if err := lim.authorize(key); err != nil {
		return invalidUnlessRefused(err)
	}

	// Unknown algorithms cannot pass the schema; the fallback is Rekor's.
	value := *e.hash.Value
	switch *e.hash.Algorithm {
	case "sha384":
		e.hashAlg = crypto.SHA384
	case "sha512":
		e.hashAlg = crypto.SHA512
	default:
		e.hashAlg = crypto.SHA256
	}
	if len(value) != e.hashAlg.Size()*2 {
		return invalid(errors.New("invalid value for hash"))
	}
	digest, err := hex.DecodeString(value)
	if err != nil {
		return invalid(err)
	}
	if err := e.verify(digest); err != nil {
		return invalidf("verifying signature: %w", err)
	}
	return nil
}

func (e *hashedRekordV001) verify(digest []byte) error {
	if len(e.signature) == 0 {
		return errors.New("X509 signature has not been initialized")
	}
	if err := checkKeyCost(e.key); err != nil {
		return err
	}
	// Only hashedrekord checks a submitted chain; the other kinds just use
	// the leaf's key.
	if err := checkChainCost(e.key.chain); err != nil {
		return err
	}
	if err := verifyChain(e.key.chain); err != nil {
		return err
	}
	return verifyDigest(e.key.cryptoKey(), e.hashAlg, digest, e.signature)
}

// insertable has nothing left to check: validate already required a
// signature, a key and a hash.
func (e *hashedRekordV001) insertable() error { return nil }

func (e *hashedRekordV001) checkAlgorithms(allowed []Algorithm) error {
	if pub := e.key.cryptoKey(); !algorithmPermitted(allowed, pub, e.hashAlg) {
		cause := fmt.Errorf("entry algorithm %T/%v not allowed", pub, e.hashAlg)
		return &InputError{Code: http.StatusBadRequest, Message: "error processing entry: entry algorithms are not allowed", Err: cause}
	}
	return nil
}

type hashedRekordSpec struct {
	Data      hashedRekordData      `json:"data"`
	Signature hashedRekordSignature `json:"signature"`
}

type hashedRekordData struct {
	Hash *hashObject `json:"hash,omitempty"`
}

type hashedRekordSignature struct {
	Content   []byte                `json:"content,omitempty"`
	PublicKey hashedRekordPublicKey `json:"publicKey"`
}

type hashedRekordPublicKey struct {
	Content []byte `json:"content,omitempty"`
}

func (e *hashedRekordV001) canonical() (any, error) {
	pemBytes, err := e.key.canonical()
	if err != nil {
		return nil, err
	}
	// Rekor replaces its entry with the canonical one before computing index
	// keys, so the key hash indexed below is over the canonical PEM.
	e.keyPEM = pemBytes
	return hashedRekordSpec{
		Data:      hashedRekordData{Hash: e.hash},
		Signature: hashedRekordSignature{Content: e.signature, PublicKey: hashedRekordPublicKey{Content: pemBytes}},
	}, nil
}

// appendJCS writes the canonical entry toJCS makes of canonical's spec:
// RFC 8785 orders the members by name, and the four strings (the schema's
// algorithm, the hex value validate decoded, two base64 strings) are
// written as they are.
func (e *hashedRekordV001) appendJCS(dst []byte) ([]byte, bool) {
	if e.hash == nil || e.hash.Algorithm == nil || e.hash.Value == nil || !jcsPlain(*e.hash.Algorithm) || !jcsPlain(*e.hash.Value) ||
		len(e.signature) == 0 || len(e.keyPEM) == 0 { // omitempty would drop them
		return nil, false
	}
	dst = append(dst, `{"apiVersion":"0.0.1","kind":"hashedrekord","spec":{"data":{"hash":{"algorithm":"`...)
	dst = append(dst, *e.hash.Algorithm...)
	dst = append(dst, `","value":"`...)
	dst = append(dst, *e.hash.Value...)
	dst = append(dst, `"}},"signature":{"content":"`...)
	dst = base64.StdEncoding.AppendEncode(dst, e.signature)
	dst = append(dst, `","publicKey":{"content":"`...)
	dst = base64.StdEncoding.AppendEncode(dst, e.keyPEM)
	return append(dst, `"}}}}`...), true
}

func (e *hashedRekordV001) indexKeys() []string {
	keyHash := sha256.Sum256(e.keyPEM)
	keys := []string{hex.EncodeToString(keyHash[:])}
	keys = append(keys, e.key.subjects()...)
	return append(keys, e.hash.key())
}

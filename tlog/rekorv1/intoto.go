package rekorv1

// The intoto kind: a DSSE envelope holding an in-toto statement.
//
// 0.0.1 (cosign v2 attest --rekor-entry-type intoto):
//
//	request:   {"content":{"envelope":"<envelope JSON as a string>"},"publicKey":b64 PEM}
//	canonical: {"content":{"hash":{sha256 of the envelope string},
//	                       "payloadHash":{sha256 of the payload}},
//	            "publicKey":b64 canonical PEM}
//
// 0.0.2 (Rekor's default intoto version, the one sigstore-go verifies):
//
//	request:   {"content":{"envelope":{"payload":b64(b64 payload),"payloadType",
//	            "signatures":[{"keyid","sig":b64(b64 sig),"publicKey":b64 PEM}]},
//	            "hash":{client-computed sha256 of the envelope}}}
//	canonical: the request without envelope.payload, plus payloadHash. The
//	           keys and the client's hash are kept as submitted, and payload
//	           and signatures stay base64 of base64 ("double base64").

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"
)

type intotoV001 struct {
	hasEnvelope bool        // a non-empty envelope was submitted
	payloadB64  bool        // its payload was not empty
	hash        *hashObject // the envelope's hash: client's, then computed
	payloadHash *hashObject
	keyPEM      []byte // nil when publicKey was absent
	key         *publicKey
	env         envelope
	payload     []byte // env.Payload decoded, once verified
}

func (e *intotoV001) unmarshal(spec any, lim limits) error {
	m, ok := spec.(map[string]any)
	if !ok {
		return invalidf("unsupported input type %T for DecodeEntry", spec)
	}
	content, hasContent := m["content"].(map[string]any)
	var envelopeText string
	if hasContent {
		if s := stringField(content, "envelope"); s != nil {
			envelopeText = *s
		}
		e.hash = decodeHash(content, "hash")
		e.payloadHash = decodeHash(content, "payloadHash")
	}
	keyPEM, hasKey, err := base64Field(m, "publicKey", "public key")
	if err != nil {
		return err
	}

	var errs schemaErrors
	if !hasContent {
		errs.add(requiredMsg("content"))
	} else if msg := e.hash.validate("content.hash", "sha256"); msg != "" {
		errs.add(nested(msg, "content", "content.hash"))
	} else {
		errs.add(nested(e.payloadHash.validate("content.payloadHash", "sha256"), "content", "content.payloadHash"))
	}
	if !hasKey {
		errs.add(requiredMsg("publicKey"))
	}
	if err := errs.err(); err != nil {
		return err
	}

	e.keyPEM = keyPEM
	if err := checkKeySize("the public key", keyPEM); err != nil {
		return invalid(err)
	}
	if e.key, err = parsePublicKey(keyPEM); err != nil {
		return invalid(err)
	}
	e.hasEnvelope = envelopeText != ""
	if !e.hasEnvelope {
		// A canonical entry: it must carry the hashes the schema already
		// checked, and it cannot be inserted.
		if e.hash == nil {
			return invalid(errors.New("missing hash value for envelope"))
		}
		return nil
	}

	if err := lim.authorize(e.key); err != nil {
		return invalidUnlessRefused(err)
	}
	pub := e.key.cryptoKey()
	if err := checkVerifierKey(pub); err != nil {
		return invalid(err)
	}
	// Decoded, hashed, then dropped: a large envelope is held twice at
	// most (its text and the payload decoded from it).
	envelopeBytes := []byte(envelopeText)
	envelopeText = ""
	if err := json.Unmarshal(envelopeBytes, &e.env); err != nil {
		return invalid(err)
	}
	eh := sha256.Sum256(envelopeBytes)
	envelopeBytes = nil
	e.payloadB64 = e.env.Payload != ""
	if err := lim.checkEnvelope(len(e.env.Signatures), 1, len(e.env.Payload)); err != nil {
		return invalid(err)
	}
	if err := checkKeyCost(e.key); err != nil {
		return invalid(err)
	}
	if err := checkVerifyCost([]*publicKey{e.key}, len(e.env.Signatures), len(e.env.Payload)); err != nil {
		return invalid(err)
	}
	// sigstore's DSSE verifier wrapper passes the key, so signatures with a
	// keyid other than the key's SSH fingerprint are not tried.
	prepared := prepareEnvelope(&e.env, nil)
	e.env.Payload = "" // decoded: the text is not needed any more
	if _, err := prepared.verifyOne(pub, sshKeyID(pub)); err != nil {
		return invalid(err)
	}
	// Rekor decodes the payload again, as standard base64 only.
	if prepared.stdErr != nil {
		return invalid(prepared.stdErr)
	}
	e.payload = prepared.payload
	ph := sha256.Sum256(e.payload)
	e.payloadHash = sha256Hash(hex.EncodeToString(ph[:]))
	e.hash = sha256Hash(hex.EncodeToString(eh[:]))
	return nil
}

func (e *intotoV001) insertable() error {
	switch {
	case !e.hasEnvelope:
		return errors.New("missing envelope content")
	case len(e.keyPEM) == 0:
		return errors.New("missing publicKey content")
	case !e.payloadB64 || e.env.PayloadType == "" || len(e.env.Signatures) == 0:
		return errors.New("invalid DSSE envelope")
	}
	return nil
}

func (e *intotoV001) checkAlgorithms([]Algorithm) error { return nil }

type intotoV001Spec struct {
	Content   intotoV001Content `json:"content"`
	PublicKey []byte            `json:"publicKey"`
}

type intotoV001Content struct {
	Hash        *hashObject `json:"hash,omitempty"`
	PayloadHash *hashObject `json:"payloadHash,omitempty"`
}

func (e *intotoV001) canonical() (any, error) {
	pemBytes, err := e.key.canonical()
	if err != nil {
		return nil, err
	}
	return intotoV001Spec{
		Content:   intotoV001Content{Hash: e.hash, PayloadHash: e.payloadHash},
		PublicKey: pemBytes,
	}, nil
}

func (e *intotoV001) indexKeys() []string {
	keys := []string{e.hash.key()}
	if pemBytes, err := e.key.canonical(); err == nil {
		h := sha256.Sum256(pemBytes)
		keys = append(keys, "sha256:"+hex.EncodeToString(h[:]))
		keys = append(keys, e.key.subjects()...)
	}
	keys = append(keys, e.payloadHash.key())
	if e.env.PayloadType != inTotoPayloadType {
		return keys
	}
	subjects, err := statementSubjectKeys(e.payload)
	if err != nil {
		return keys
	}
	return append(append(keys, subjects...), provenanceMaterialKeys(e.payload)...)
}

type intotoV002 struct {
	payload     []byte // the envelope's payload field: base64 text, until decoded
	hasPayload  bool   // payload was not empty
	decoded     []byte // payload decoded, once verified
	payloadType *string
	sigs        []intotoV002Signature
	hash        *hashObject // client-supplied, kept as is
	payloadHash *hashObject
}

type intotoV002Signature struct {
	Keyid     string `json:"keyid,omitempty"`
	PublicKey []byte `json:"publicKey"`
	Sig       []byte `json:"sig"`
}

func (e *intotoV002) unmarshal(spec any, lim limits) error {
	m, ok := spec.(map[string]any)
	if !ok {
		return invalidf("unsupported input type %T for DecodeEntry", spec)
	}
	// Unlike the other kinds, a missing content or envelope is decoded as an
	// empty one, so the schema complains about their fields instead.
	var sigsPresent bool
	var missingField []string // per signature: first missing required field
	if content, ok := m["content"].(map[string]any); ok {
		if env, ok := content["envelope"].(map[string]any); ok {
			e.payloadType = stringField(env, "payloadType")
			var err error
			if e.payload, _, err = base64Field(env, "payload", "payload"); err != nil {
				return err
			}
			// Decoded: a large payload's text is held once, as bytes, from
			// here (Canonicalize dropped its own reference to the spec).
			delete(env, "payload")
			if list, ok := env["signatures"].([]any); ok {
				sigsPresent = true
				for _, it := range list {
					sm, ok := it.(map[string]any)
					if !ok {
						continue
					}
					s, missing, err := decodeIntotoV002Signature(sm)
					if err != nil {
						return err
					}
					e.sigs = append(e.sigs, s)
					missingField = append(missingField, missing)
				}
			}
		}
		e.hash = decodeHash(content, "hash")
		e.payloadHash = decodeHash(content, "payloadHash")
	}

	// The schema reports only the first failure within content.
	if msg := e.schemaFailure(sigsPresent, missingField); msg != "" {
		return invalidf("validation failure list:\n%s", msg)
	}
	if e.hasPayload = len(e.payload) > 0; !e.hasPayload {
		return nil // not insertable; reported by insertable
	}
	if err := e.checkLimits(lim); err != nil {
		return invalid(err)
	}
	prepared, err := e.verify(lim)
	if err != nil {
		return invalidUnlessRefused(err)
	}
	// Rekor decodes the payload again, as standard base64 only.
	if prepared.stdErr != nil {
		return invalidf("could not decode envelope payload: %w", prepared.stdErr)
	}
	e.decoded = prepared.payload
	e.payload = nil // decoded: the text is not needed any more
	h := sha256.Sum256(e.decoded)
	e.payloadHash = sha256Hash(hex.EncodeToString(h[:]))
	return nil
}

// decodeIntotoV002Signature decodes one signature object. Unlike elsewhere,
// empty strings count as present (and decode to nothing). missing names
// the first required field that is absent, or is "".
func decodeIntotoV002Signature(sm map[string]any) (s intotoV002Signature, missing string, err error) {
	if kid := stringField(sm, "keyid"); kid != nil {
		s.Keyid = *kid
	}
	hasSig, hasKey := false, false
	if v := stringField(sm, "sig"); v != nil {
		if s.Sig, err = decodeStdBase64(*v, "signature"); err != nil {
			return s, "", err
		}
		hasSig = true
	}
	if v := stringField(sm, "publicKey"); v != nil {
		if s.PublicKey, err = decodeStdBase64(*v, "public key"); err != nil {
			return s, "", err
		}
		hasKey = true
	}
	switch {
	case !hasKey:
		missing = "publicKey"
	case !hasSig:
		missing = "sig"
	}
	return s, missing, nil
}

func (e *intotoV002) schemaFailure(sigsPresent bool, missingField []string) string {
	in := func(msg string, path ...string) string { return nested(msg, append([]string{"content"}, path...)...) }
	switch {
	case e.payloadType == nil:
		return in(requiredMsg("content.envelope.payloadType"), "content.envelope")
	case !sigsPresent:
		return in(requiredMsg("content.envelope.signatures"), "content.envelope")
	case len(e.sigs) == 0:
		return in(minItemsMsg("content.envelope.signatures", 1), "content.envelope")
	}
	for i, missing := range missingField {
		if missing != "" {
			return in(requiredMsg(missing), "content.envelope", "content.envelope.signatures."+strconv.Itoa(i))
		}
	}
	if msg := e.hash.validate("content.hash", "sha256"); msg != "" {
		return in(msg, "content.hash")
	}
	return in(e.payloadHash.validate("content.payloadHash", "sha256"), "content.payloadHash")
}

// checkLimits bounds the work of verify before it parses or checks
// anything: every key is checked against every signature, and the leaf
// holds every signature and key base64-encoded.
func (e *intotoV002) checkLimits(lim limits) error {
	if err := lim.checkEnvelope(len(e.sigs), len(e.sigs), len(e.payload)); err != nil {
		return err
	}
	total := 0
	for i, s := range e.sigs {
		if err := checkKeySize(fmt.Sprintf("the public key of signature %d", i), s.PublicKey); err != nil {
			return err
		}
		total += len(s.Sig) + len(s.PublicKey)
	}
	if total > maxKeyBytes {
		return overLimit("the envelope's signatures and keys are %d bytes, more than the %d a log entry can hold", total, maxKeyBytes)
	}
	return nil
}

// verify requires every signature to be verified by one of the submitted
// keys; unlike dsse, every key is tried and must verify one signature. It
// returns the envelope as verified.
func (e *intotoV002) verify(lim limits) (*preparedEnvelope, error) {
	env := envelope{PayloadType: *e.payloadType} // its payload is e.payload
	for _, s := range e.sigs {
		env.Signatures = append(env.Signatures, envelopeSignature{KeyID: s.Keyid, Sig: string(s.Sig)})
	}
	pending := make(map[string]bool)
	for _, s := range env.Signatures {
		pending[s.Sig] = true
	}
	raws := make([][]byte, len(e.sigs))
	for i, s := range e.sigs {
		raws[i] = s.PublicKey
	}
	keys, keyErrs := parseVerifierKeys(raws)
	if err := checkVerifyCost(keys, len(e.sigs), len(e.payload)); err != nil {
		return nil, err
	}
	if err := lim.authorize(keys...); err != nil {
		return nil, err
	}
	prepared := prepareEnvelope(&env, e.payload)
	for i, key := range keys {
		if keyErrs[i] != nil {
			return nil, keyErrs[i]
		}
		accepted, err := prepared.verifyOne(key.cryptoKey(), "")
		if err != nil {
			return nil, fmt.Errorf("could not verify envelope: %w", err)
		}
		delete(pending, accepted.Sig)
	}
	if len(pending) > 0 {
		return nil, errors.New("all signatures must have a key that verifies it")
	}
	return prepared, nil
}

func (e *intotoV002) insertable() error {
	switch {
	case !e.hasPayload:
		return errors.New("missing envelope content")
	case *e.payloadType == "":
		return errors.New("missing payloadType content")
	}
	for _, s := range e.sigs {
		if len(s.Sig) == 0 {
			return errors.New("missing signature content")
		}
		if len(s.PublicKey) == 0 {
			return errors.New("missing publicKey content")
		}
	}
	return nil
}

func (e *intotoV002) checkAlgorithms([]Algorithm) error { return nil }

type intotoV002Spec struct {
	Content intotoV002Content `json:"content"`
}

type intotoV002Content struct {
	Envelope    intotoV002Envelope `json:"envelope"`
	Hash        *hashObject        `json:"hash,omitempty"`
	PayloadHash *hashObject        `json:"payloadHash,omitempty"`
}

type intotoV002Envelope struct {
	PayloadType *string               `json:"payloadType"`
	Signatures  []intotoV002Signature `json:"signatures"`
}

func (e *intotoV002) canonical() (any, error) {
	if e.hash == nil {
		// Rekor answers this with a 500; it is the client's omission.
		return nil, invalid(errors.New("missing envelope digest"))
	}
	return intotoV002Spec{Content: intotoV002Content{
		Envelope:    intotoV002Envelope{PayloadType: e.payloadType, Signatures: e.sigs},
		Hash:        e.hash,
		PayloadHash: e.payloadHash,
	}}, nil
}

// indexKeys follows Rekor's V002Entry.IndexKeys, including its failure mode:
// when it errors (an in-toto payload that is not a JSON statement) Rekor
// indexes nothing at all.
func (e *intotoV002) indexKeys() []string {
	var keys []string
	for _, s := range e.sigs {
		k, ok := keyIndexKeys(s.PublicKey)
		if !ok {
			return nil
		}
		keys = append(keys, k...)
	}
	keys = append(keys, e.payloadHash.key())
	if *e.payloadType != inTotoPayloadType {
		return keys
	}
	subjects, err := statementSubjectKeys(e.decoded)
	if err != nil {
		return nil
	}
	return append(append(keys, subjects...), provenanceMaterialKeys(e.decoded)...)
}

// statementSubjectKeys returns the "alg:digest" keys of a statement's
// subjects.
func statementSubjectKeys(payload []byte) ([]string, error) {
	var st struct {
		Subject []struct {
			Digest map[string]string `json:"digest"`
		} `json:"subject"`
	}
	if err := json.Unmarshal(payload, &st); err != nil {
		return nil, err
	}
	var keys []string
	for _, s := range st.Subject {
		keys = append(keys, digestKeys(s.Digest)...)
	}
	return keys, nil
}

// provenanceMaterialKeys returns the "alg:digest" keys of the materials of a
// SLSA v0.2 provenance statement. Rekor decodes the payload into in-toto's
// typed ProvenanceStatement, so any field of the wrong JSON type anywhere in
// the statement (even an unrelated one) means no material keys at all. This
// struct reproduces the field types that decision depends on.
func provenanceMaterialKeys(payload []byte) []string {
	type digestSet map[string]string
	var st struct {
		Type          string `json:"_type"`
		PredicateType string `json:"predicateType"`
		Subject       []struct {
			Name   string    `json:"name"`
			Digest digestSet `json:"digest"`
		} `json:"subject"`
		Predicate struct {
			Builder struct {
				ID string `json:"id"`
			} `json:"builder"`
			BuildType  string `json:"buildType"`
			Invocation struct {
				ConfigSource struct {
					URI        string    `json:"uri"`
					Digest     digestSet `json:"digest"`
					EntryPoint string    `json:"entryPoint"`
				} `json:"configSource"`
				Parameters  any `json:"parameters"`
				Environment any `json:"environment"`
			} `json:"invocation"`
			BuildConfig any `json:"buildConfig"`
			Metadata    *struct {
				BuildInvocationID string     `json:"buildInvocationID"`
				BuildStartedOn    *time.Time `json:"buildStartedOn"`
				BuildFinishedOn   *time.Time `json:"buildFinishedOn"`
				Completeness      struct {
					Parameters  bool `json:"parameters"`
					Environment bool `json:"environment"`
					Materials   bool `json:"materials"`
				} `json:"completeness"`
				Reproducible bool `json:"reproducible"`
			} `json:"metadata"`
			Materials []struct {
				URI    string    `json:"uri"`
				Digest digestSet `json:"digest"`
			} `json:"materials"`
		} `json:"predicate"`
	}
	if json.Unmarshal(payload, &st) != nil {
		return nil
	}
	var keys []string
	for _, m := range st.Predicate.Materials {
		keys = append(keys, digestKeys(m.Digest)...)
	}
	return keys
}

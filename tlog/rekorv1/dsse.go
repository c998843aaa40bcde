package rekorv1

// DSSE envelopes (shared by the dsse and intoto kinds) and the dsse 0.0.1
// kind, which cosign attest and sigstore-go use for attestations.
//
//	request:   {"proposedContent":{"envelope":"<envelope JSON as a string>",
//	                               "verifiers":[b64 PEM, ...]}}
//	canonical: {"envelopeHash":{sha256 of the envelope string as submitted},
//	            "payloadHash":{sha256 of the decoded payload},
//	            "signatures":[{"signature":sig as in envelope,"verifier":b64 PEM}]}
//
// Rekor verifies envelopes with secure-systems-lab's EnvelopeVerifier, one
// key at a time with a threshold of one. Its quirks shape what is accepted,
// so preparedEnvelope.verifyOne reproduces them: a key accepts at most one signature (the
// first that verifies), a key that verifies none fails the whole request,
// and every signature must be valid base64 even after a key has matched.

import (
	"crypto"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strconv"

	"github.com/hallmark-dev/hallmark/tlog/format"
)

// base64SigPattern is the schema pattern for signatures of a canonical
// dsse entry (only checked, never produced, by this package).
const base64SigPattern = `^(?:[A-Za-z0-9+\/]{4})*(?:[A-Za-z0-9+\/]{2}==|[A-Za-z0-9+\/]{3}=|[A-Za-z0-9+\/]{4})$`

var base64SigRE = regexp.MustCompile(base64SigPattern)

// inTotoPayloadType is the DSSE payload type of in-toto statements; only
// such payloads contribute subject and material digests to the index.
const inTotoPayloadType = "application/vnd.in-toto+json"

// envelope is a DSSE envelope, decoded with encoding/json as Rekor does
// (field names match case-insensitively, the last duplicate wins).
type envelope struct {
	PayloadType string              `json:"payloadType"`
	Payload     string              `json:"payload"`
	Signatures  []envelopeSignature `json:"signatures"`
}

type envelopeSignature struct {
	KeyID string `json:"keyid"`
	Sig   string `json:"sig"`
}

// dsseB64Decode accepts standard or URL-safe base64, both padded.
func dsseB64Decode(s string) ([]byte, error) {
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		if b, err = base64.URLEncoding.DecodeString(s); err != nil {
			return nil, errors.New("unable to base64 decode payload (is payload in the right format?)")
		}
	}
	return b, nil
}

// decodeBase64 is enc.DecodeString for text held as a string or as bytes,
// decoded into one buffer of the decoded size: the text is not copied
// first (DecodeString's conversion of a string is not a copy either), so
// a large payload costs its decoded size once.
func decodeBase64(enc *base64.Encoding, s string, b []byte) ([]byte, error) {
	if b == nil {
		return enc.DecodeString(s)
	}
	out := make([]byte, enc.DecodedLen(len(b)))
	n, err := enc.Decode(out, b)
	return out[:n], err
}

// preparedEnvelope is an envelope decoded once for all the keys it is
// checked against: its payload, the SHA-256 of its PAE message (which RSA
// and ECDSA checks sign), and every signature. The PAE message itself, a
// copy of the payload, is built only if an Ed25519 key needs it.
type preparedEnvelope struct {
	env     *envelope
	payload []byte
	msg     []byte // the PAE message, once an Ed25519 check asked for it
	digest  [sha256.Size]byte
	sigs    [][]byte
	err     error // the decoding error verifyOne reports, if any
	// stdErr is why the payload is not standard base64 (it may still be
	// URL-safe base64), for the intoto kinds, which decode it again
	// strictly after verifying: they use payload unless stdErr is set.
	stdErr error
}

// prepareEnvelope decodes env. payloadB64, if not nil, is the payload's
// base64 text (intoto 0.0.2 holds it as bytes), which env.Payload is then
// not. Once it returns, the caller may drop the base64 text: a large
// payload is then held once, decoded.
func prepareEnvelope(env *envelope, payloadB64 []byte) *preparedEnvelope {
	p := &preparedEnvelope{env: env}
	if p.payload, p.stdErr = decodeBase64(base64.StdEncoding, env.Payload, payloadB64); p.stdErr != nil {
		if p.payload, p.err = decodeBase64(base64.URLEncoding, env.Payload, payloadB64); p.err != nil {
			p.err = errors.New("unable to base64 decode payload (is payload in the right format?)")
			return p
		}
	}
	h := sha256.New()
	h.Write(format.PAEHeader(env.PayloadType, len(p.payload)))
	h.Write(p.payload)
	h.Sum(p.digest[:0])
	p.sigs = make([][]byte, len(env.Signatures))
	for i, s := range env.Signatures {
		if p.sigs[i], p.err = dsseB64Decode(s.Sig); p.err != nil {
			return p
		}
	}
	return p
}

// verifyOne verifies the envelope with a single key, as securesystemslib's
// EnvelopeVerifier does with one provider and threshold 1: the key accepts
// the first signature that verifies. keyID, if not empty, restricts the key
// to signatures whose keyid is empty or equal. A payload or any signature
// that is not base64 fails every key, before any check: securesystemslib
// decodes every signature even after one has verified.
func (p *preparedEnvelope) verifyOne(pub crypto.PublicKey, keyID string) (*envelopeSignature, error) {
	if len(p.env.Signatures) == 0 {
		return nil, errors.New("no signature found")
	}
	if p.err != nil {
		return nil, p.err
	}
	for i := range p.env.Signatures {
		s := &p.env.Signatures[i]
		if s.KeyID != "" && keyID != "" && s.KeyID != keyID {
			continue
		}
		if verifyPrepared(pub, p.message, p.digest[:], p.sigs[i]) == nil {
			return s, nil
		}
	}
	return nil, errors.New("accepted signatures do not match threshold, Found: 0, Expected 1")
}

// message returns the PAE message, built on first use.
func (p *preparedEnvelope) message() []byte {
	if p.msg == nil {
		p.msg = format.PAE(p.env.PayloadType, p.payload)
	}
	return p.msg
}

type dsseV001 struct {
	env       envelope
	payload   []byte // decoded payload, as verified
	verifiers [][]byte
	sigs      []dsseSignature // sorted by signature string
	payloadH  string
	envelopeH string
}

type dsseSignature struct {
	Signature string `json:"signature"`
	Verifier  []byte `json:"verifier"`
}

// dsseInput is a dsse spec as Rekor's DecodeEntry reads it: a request
// (proposedContent) or, never insertable, a canonical entry.
type dsseInput struct {
	proposed     bool // a proposedContent object was submitted
	envelope     *string
	hasVerifiers bool     // a verifiers array was submitted, maybe empty
	verifiers    [][]byte // its non-empty strings, decoded
	sigs         []dsseInputSignature
	hasSigs      bool // a signatures array was submitted, maybe empty
	envelopeHash *hashObject
	payloadHash  *hashObject
}

type dsseInputSignature struct {
	signature   *string
	hasVerifier bool
}

// decodeDSSE walks the spec in Rekor's order, so that base64 errors surface
// in the same order.
func decodeDSSE(m map[string]any) (*dsseInput, error) {
	var req dsseInput
	if pc, ok := m["proposedContent"].(map[string]any); ok {
		req.proposed = true
		req.envelope = stringField(pc, "envelope")
		if list, ok := pc["verifiers"].([]any); ok {
			req.hasVerifiers = true
			for _, v := range list {
				// Empty strings and non-strings are skipped.
				if s, ok := v.(string); ok && s != "" {
					b, err := decodeStdBase64(s, "verifier")
					if err != nil {
						return nil, err
					}
					req.verifiers = append(req.verifiers, b)
				}
			}
		}
	}
	if list, ok := m["signatures"].([]any); ok {
		req.hasSigs = true
		for _, it := range list {
			if sm, ok := it.(map[string]any); ok {
				_, hasVerifier, err := base64Field(sm, "verifier", "signature verifier")
				if err != nil {
					return nil, err
				}
				req.sigs = append(req.sigs, dsseInputSignature{stringField(sm, "signature"), hasVerifier})
			}
		}
	}
	req.envelopeHash = decodeHash(m, "envelopeHash")
	req.payloadHash = decodeHash(m, "payloadHash")
	return &req, nil
}

// validate applies the schema: envelopeHash, payloadHash, proposedContent,
// then signatures, reporting the first failure within each.
func (req *dsseInput) validate() error {
	var errs schemaErrors
	errs.add(nested(req.envelopeHash.validate("envelopeHash", "sha256"), "envelopeHash"))
	errs.add(nested(req.payloadHash.validate("payloadHash", "sha256"), "payloadHash"))
	if req.proposed {
		switch {
		case req.envelope == nil:
			errs.add(nested(requiredMsg("proposedContent.envelope"), "proposedContent"))
		case !req.hasVerifiers:
			errs.add(nested(requiredMsg("proposedContent.verifiers"), "proposedContent"))
		case len(req.verifiers) == 0:
			errs.add(nested(minItemsMsg("proposedContent.verifiers", 1), "proposedContent"))
		}
	}
	if req.hasSigs && len(req.sigs) == 0 {
		errs.add(minItemsMsg("signatures", 1))
	}
	for i, s := range req.sigs {
		var msg string
		switch {
		case s.signature == nil:
			msg = requiredMsg("signature")
		case !base64SigRE.MatchString(*s.signature):
			msg = patternMsg("signature", base64SigPattern)
		case !s.hasVerifier:
			msg = requiredMsg("verifier")
		}
		if msg != "" {
			errs.add(nested(msg, "signatures."+strconv.Itoa(i)))
			break
		}
	}
	return errs.err()
}

func (e *dsseV001) unmarshal(spec any, lim limits) error {
	m, ok := spec.(map[string]any)
	if !ok {
		return invalidf("unsupported input type %T for DecodeEntry", spec)
	}
	req, err := decodeDSSE(m)
	if err != nil {
		return err
	}
	if err := req.validate(); err != nil {
		return err
	}
	if !req.proposed {
		if req.envelopeHash == nil || req.payloadHash == nil || len(req.sigs) == 0 {
			return invalid(errors.New("either proposedContent or envelopeHash, payloadHash, and signatures must be present"))
		}
		// A canonical entry: valid, but not something that can be inserted.
		return nil
	}
	if req.envelopeHash != nil || req.payloadHash != nil || len(req.sigs) != 0 {
		return invalid(errors.New("either proposedContent or envelopeHash, payloadHash, and signatures must be present but not both"))
	}

	e.verifiers = req.verifiers
	// The envelope exactly as submitted (after JSON unescaping): decoded,
	// then hashed, then dropped (a large envelope is held twice at most:
	// its text and the payload decoded from it).
	envelopeBytes := []byte(*req.envelope)
	req.envelope = nil
	if err := json.Unmarshal(envelopeBytes, &e.env); err != nil {
		return invalid(err)
	}
	envelopeHash256 := sha256.Sum256(envelopeBytes)
	envelopeBytes = nil
	e.envelopeH = hex.EncodeToString(envelopeHash256[:])
	if len(e.env.Signatures) == 0 {
		return invalid(errors.New("DSSE envelope must contain 1 or more signatures"))
	}
	if err := e.checkLimits(lim); err != nil {
		return invalid(err)
	}
	if err := e.verify(lim); err != nil {
		return invalidUnlessRefused(err)
	}
	payloadHash256 := sha256.Sum256(e.payload)
	e.payloadH = hex.EncodeToString(payloadHash256[:])
	return nil
}

// checkLimits bounds the work of verify before it parses or checks
// anything: the counts, each verifier's size, and the signatures the leaf
// will hold (each distinct one once).
func (e *dsseV001) checkLimits(lim limits) error {
	if err := lim.checkEnvelope(len(e.env.Signatures), len(e.verifiers), len(e.env.Payload)); err != nil {
		return err
	}
	for i, v := range e.verifiers {
		if err := checkKeySize(fmt.Sprintf("verifier %d", i), v); err != nil {
			return err
		}
	}
	seen := make(map[string]bool, len(e.env.Signatures))
	total := 0
	for _, s := range e.env.Signatures {
		if !seen[s.Sig] {
			seen[s.Sig] = true
			total += len(s.Sig)
		}
	}
	if total > maxEntryBytes {
		return overLimit("the envelope's signatures are %d bytes, more than the %d a log entry can hold", total, maxEntryBytes)
	}
	return nil
}

// verify requires every envelope signature to be verified by one of the
// verifiers, trying verifiers in order and stopping once all are verified.
// The last verifier to accept a signature is the one recorded for it.
func (e *dsseV001) verify(lim limits) error {
	pending := make(map[string]bool)
	for _, s := range e.env.Signatures {
		pending[s.Sig] = true
	}
	keys, keyErrs := parseVerifierKeys(e.verifiers)
	if err := checkVerifyCost(keys, len(e.env.Signatures), len(e.env.Payload)); err != nil {
		return err
	}
	if err := lim.authorize(keys...); err != nil {
		return err
	}
	prepared := prepareEnvelope(&e.env, nil)
	e.env.Payload = "" // decoded: the text is not needed any more
	bySig := make(map[string]*publicKey)
	for i, key := range keys {
		if len(pending) == 0 {
			break
		}
		if keyErrs[i] != nil {
			return keyErrs[i]
		}
		sig, err := prepared.verifyOne(key.cryptoKey(), "")
		if err != nil {
			return fmt.Errorf("could not verify envelope: %w", err)
		}
		e.payload = prepared.payload
		delete(pending, sig.Sig)
		bySig[sig.Sig] = key
	}
	if len(pending) > 0 {
		return errors.New("all signatures must have a key that verifies it")
	}

	sorted := make([]string, 0, len(bySig))
	for s := range bySig {
		sorted = append(sorted, s)
	}
	slices.Sort(sorted)
	for _, s := range sorted {
		pemBytes, err := bySig[s].canonical()
		if err != nil {
			return err
		}
		e.sigs = append(e.sigs, dsseSignature{Signature: s, Verifier: pemBytes})
	}
	return nil
}

// insertable: only a proposedContent request carries what Rekor needs.
func (e *dsseV001) insertable() error {
	if e.sigs == nil {
		return errors.New("missing proposed content")
	}
	return nil
}

func (e *dsseV001) checkAlgorithms([]Algorithm) error { return nil }

type dsseSpec struct {
	EnvelopeHash *hashObject     `json:"envelopeHash"`
	PayloadHash  *hashObject     `json:"payloadHash"`
	Signatures   []dsseSignature `json:"signatures"`
}

func (e *dsseV001) canonical() (any, error) {
	return dsseSpec{
		EnvelopeHash: sha256Hash(e.envelopeH),
		PayloadHash:  sha256Hash(e.payloadH),
		Signatures:   e.sigs,
	}, nil
}

func (e *dsseV001) indexKeys() []string {
	var keys []string
	for _, s := range e.sigs {
		// Rekor re-parses the canonical verifier it stored.
		k, ok := keyIndexKeys(s.Verifier)
		if !ok {
			return nil
		}
		keys = append(keys, k...)
	}
	keys = append(keys, "sha256:"+e.payloadH, "sha256:"+e.envelopeH)
	if e.env.PayloadType == inTotoPayloadType {
		keys = append(keys, dsseStatementKeys(e.payload)...)
	}
	return keys
}

// dsseStatementKeys extracts "alg:digest" keys from an in-toto statement's
// subjects and from any "materials" list in its predicate. The payload must
// decode as a whole, or nothing is extracted; a predicate that does not
// decode as {materials: [{digest}]} gives no material keys.
func dsseStatementKeys(payload []byte) []string {
	var st struct {
		Subject []struct {
			Digest map[string]string `json:"digest"`
		} `json:"subject"`
		Predicate predicateMaterials `json:"predicate"`
	}
	if json.Unmarshal(payload, &st) != nil {
		return nil
	}
	var keys []string
	for _, s := range st.Subject {
		keys = append(keys, digestKeys(s.Digest)...)
	}
	return append(keys, st.Predicate.keys...)
}

// predicateMaterials decodes a predicate's material keys where it stands
// in the payload, as a json.RawMessage decoded afterwards would, without
// copying a predicate that may be most of a large payload: the last
// predicate member wins, and its failure to decode only means no keys.
type predicateMaterials struct{ keys []string }

func (p *predicateMaterials) UnmarshalJSON(b []byte) error {
	p.keys = nil
	var pred struct {
		Materials []struct {
			Digest map[string]string `json:"digest"`
		} `json:"materials"`
	}
	if json.Unmarshal(b, &pred) == nil {
		for _, m := range pred.Materials {
			p.keys = append(p.keys, digestKeys(m.Digest)...)
		}
	}
	return nil
}

// digestKeys renders a digest set as "alg:digest" keys. Rekor iterates the
// map in random order; sorting makes the output stable.
func digestKeys(set map[string]string) []string {
	keys := make([]string, 0, len(set))
	for alg, d := range set {
		keys = append(keys, alg+":"+d)
	}
	slices.Sort(keys)
	return keys
}

// keyIndexKeys are the search keys Rekor derives from a signature's public
// key or certificate: the SHA-256 of its canonical PEM and the subjects it
// names. ok is false where Rekor fails and indexes nothing for the entry.
func keyIndexKeys(raw []byte) (keys []string, ok bool) {
	k, err := parsePublicKey(raw)
	if err != nil {
		return nil, false
	}
	pemBytes, err := k.canonical()
	if err != nil {
		return nil, false
	}
	h := sha256.Sum256(pemBytes)
	return append([]string{"sha256:" + hex.EncodeToString(h[:])}, k.subjects()...), true
}

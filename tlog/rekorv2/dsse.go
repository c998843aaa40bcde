package rekorv2

//lint:file-ignore SA1019 DSSE v0.0.2 is deprecated in rekor-tiles but still sent by cosign v3.0.x (sigstore-go v1.1.x); Hallmark accepts it.

import (
	"bytes"
	"crypto"
	"crypto/ed25519"
	"crypto/sha256"
	"github.com/hallmark-dev/hallmark/internal/sigcost"
	"github.com/hallmark-dev/hallmark/tlog/format"
	"slices"
	"strconv"

	protocommon "github.com/sigstore/protobuf-specs/gen/pb-go/common/v1"
	rekortilespb "github.com/sigstore/rekor-tiles/v2/pkg/generated/protobuf"
)

// dsseEntry validates a dsse 0.0.2 request and returns the entry rekor-tiles
// v2.2.1 would have built from it (see Canonicalize for the rules).
func dsseEntry(ds *rekortilespb.DSSERequestV002, opts Options) (*rekortilespb.Entry, error) {
	const field = "dsseRequestV002"
	if ds == nil {
		return nil, inputErrorf(field, "missing request")
	}
	env := ds.GetEnvelope()
	if env == nil {
		return nil, inputErrorf(field+".envelope", "missing envelope")
	}
	if len(ds.GetVerifiers()) == 0 {
		return nil, inputErrorf(field+".verifiers", "no verifiers")
	}
	if n := len(ds.Verifiers); n > MaxDSSEVerifiers {
		return nil, inputErrorf(field+".verifiers", "%d verifiers, at most %d are allowed", n, MaxDSSEVerifiers)
	}
	if len(env.GetSignatures()) == 0 {
		return nil, inputErrorf(field+".envelope.signatures", "envelope has no signatures")
	}
	if n := len(env.Signatures); n > MaxDSSESignatures {
		return nil, inputErrorf(field+".envelope.signatures", "%d signatures, at most %d are allowed", n, MaxDSSESignatures)
	}

	// Signatures identical byte for byte are one signature (keyid is not
	// logged); sigIndex remembers where each first appeared, for errors.
	var sigs [][]byte
	var sigIndex []int
	for i, s := range env.Signatures {
		if len(s.GetSig()) == 0 {
			return nil, inputErrorf(field+".envelope.signatures["+strconv.Itoa(i)+"].sig", "empty signature")
		}
		if !slices.ContainsFunc(sigs, func(b []byte) bool { return bytes.Equal(b, s.Sig) }) {
			sigs = append(sigs, s.Sig)
			sigIndex = append(sigIndex, i)
		}
	}

	// Bound the work before parsing anything: every signature is checked
	// against every verifier, over the whole payload for Ed25519, and the
	// leaf holds every signature and verifier.
	checks := len(sigs) * len(ds.Verifiers)
	if checks > MaxDSSESignatureChecks {
		return nil, overLimit(field, "%d distinct signatures and %d verifiers need %d signature checks, at most %d are allowed",
			len(sigs), len(ds.Verifiers), checks, MaxDSSESignatureChecks)
	}
	if n := int64(len(env.Payload)); !sigcost.PayloadHashing(checks, n, maxVerifyBytes) {
		return nil, overLimit(field+".envelope.payload", "%d signature checks over a %d-byte payload would hash %d bytes, at most %d are allowed (or a larger payload %d times); send fewer signatures or verifiers",
			checks, n, int64(checks)*n, maxVerifyBytes, sigcost.MaxPayloadPasses)
	}
	size := 0
	for _, sig := range sigs {
		size += len(sig)
	}
	for _, v := range ds.Verifiers {
		size += verifierBytes(v)
	}
	if size > maxLoggedBytes {
		return nil, overLimit(field, "the signatures and verifiers are %d bytes, more than the %d a log entry can hold", size, maxLoggedBytes)
	}

	type parsed struct {
		pub crypto.PublicKey
		alg algorithm
	}
	verifiers := make([]parsed, len(ds.Verifiers))
	for j, v := range ds.Verifiers {
		vf := field + ".verifiers[" + strconv.Itoa(j) + "]"
		pub, alg, err := parseVerifier(vf, v, dsseType, opts)
		if err != nil {
			return nil, err
		}
		for k := range j {
			if pub.(interface{ Equal(crypto.PublicKey) bool }).Equal(verifiers[k].pub) {
				return nil, inputErrorf(vf, "same public key as verifiers[%d]", k)
			}
		}
		verifiers[j] = parsed{pub, alg}
	}
	cost := 0
	for _, v := range verifiers {
		cost += sigcost.Check(v.pub) * len(sigs)
	}
	if cost > maxVerifyCost {
		return nil, overLimit(field+".verifiers", "checking %d signatures with these verifiers would cost %d units (one unit: a P-256 check), at most %d are allowed; P-521 keys cost the most",
			len(sigs), cost, maxVerifyCost)
	}

	// Try every (signature, verifier) pair: at most MaxDSSESignatureChecks
	// verifications. The pairing must be one-to-one for the leaf not to
	// depend on order. RSA and ECDSA sign a digest of the PAE, computed
	// once per hash over its header and the payload in place; pure Ed25519
	// hashes the PAE in every check, so only it needs the PAE as one
	// message, a copy of the payload built on first use.
	var pae []byte
	digests := map[crypto.Hash][]byte{}
	check := func(v parsed, sig []byte) error {
		if _, ok := v.pub.(ed25519.PublicKey); ok {
			if pae == nil {
				pae = format.PAE(env.PayloadType, env.Payload)
			}
			return v.alg.verifyMessage(v.pub, pae, sig)
		}
		d, ok := digests[v.alg.hash]
		if !ok {
			h := v.alg.hash.New()
			h.Write(format.PAEHeader(env.PayloadType, len(env.Payload)))
			h.Write(env.Payload)
			d = h.Sum(nil)
			digests[v.alg.hash] = d
		}
		return v.alg.verifyDigest(v.pub, d, sig)
	}
	signer := make([]int, len(sigs))      // verifier of each signature
	signed := make([]int, len(verifiers)) // signature of each verifier
	for j := range signed {
		signed[j] = -1
	}
	for i, sig := range sigs {
		signer[i] = -1
		sf := field + ".envelope.signatures[" + strconv.Itoa(sigIndex[i]) + "].sig"
		for j, v := range verifiers {
			if check(v, sig) != nil {
				continue
			}
			if signer[i] >= 0 {
				return nil, inputErrorf(sf, "signature is verified by both verifiers[%d] and verifiers[%d]", signer[i], j)
			}
			if signed[j] >= 0 {
				return nil, inputErrorf(field+".verifiers["+strconv.Itoa(j)+"]",
					"verifier verifies both signatures[%d] and signatures[%d]; each verifier must sign exactly once", sigIndex[signed[j]], sigIndex[i])
			}
			signer[i], signed[j] = j, i
		}
		if signer[i] < 0 && len(verifiers) == 1 {
			return nil, inputErrorf(sf, "signature does not verify over the DSSE PAE with the verifier's %s key", describeKey(verifiers[0].pub))
		}
		if signer[i] < 0 {
			return nil, inputErrorf(sf, "signature does not verify over the DSSE PAE with any of the %d verifiers", len(verifiers))
		}
	}
	for j, i := range signed {
		if i < 0 {
			return nil, inputErrorf(field+".verifiers["+strconv.Itoa(j)+"]", "verifier verifies none of the envelope's signatures")
		}
	}

	logged := make([]*rekortilespb.Signature, len(sigs))
	for i, sig := range sigs {
		logged[i] = &rekortilespb.Signature{Content: sig, Verifier: ds.Verifiers[signer[i]]}
	}
	slices.SortFunc(logged, func(a, b *rekortilespb.Signature) int { return bytes.Compare(a.Content, b.Content) })
	// The payload hash is always SHA-256, whatever the signature algorithms.
	payloadHash := sha256.Sum256(env.Payload)
	return &rekortilespb.Entry{
		Kind:       KindDSSE,
		ApiVersion: Version,
		Spec: &rekortilespb.Spec{
			Spec: &rekortilespb.Spec_DsseV002{
				DsseV002: &rekortilespb.DSSELogEntryV002{
					PayloadHash: &protocommon.HashOutput{Algorithm: protocommon.HashAlgorithm_SHA2_256, Digest: payloadHash[:]},
					Signatures:  logged,
				},
			},
		},
	}, nil
}

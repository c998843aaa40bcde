package rekorv2

import (
	protocommon "github.com/sigstore/protobuf-specs/gen/pb-go/common/v1"
	rekortilespb "github.com/sigstore/rekor-tiles/v2/pkg/generated/protobuf"
)

// hashedRekordEntry validates a hashedrekord 0.0.2 request and returns the
// entry rekor-tiles would build from it (see Canonicalize).
func hashedRekordEntry(hr *rekortilespb.HashedRekordRequestV002, opts Options) (*rekortilespb.Entry, error) {
	const field = "hashedRekordRequestV002"
	if hr == nil {
		return nil, inputErrorf(field, "missing request")
	}
	sig := hr.GetSignature()
	if sig == nil {
		return nil, inputErrorf(field+".signature", "missing signature")
	}
	if len(sig.GetContent()) == 0 {
		return nil, inputErrorf(field+".signature.content", "empty signature")
	}
	if len(hr.GetDigest()) == 0 {
		return nil, inputErrorf(field+".digest", "empty digest")
	}
	// The leaf holds the signature, the digest and the verifier: refuse what
	// cannot fit before parsing it.
	if n := len(sig.Content) + len(hr.Digest) + verifierBytes(sig.GetVerifier()); n > maxLoggedBytes {
		return nil, overLimit(field, "the signature, digest and verifier are %d bytes, more than the %d a log entry can hold", n, maxLoggedBytes)
	}
	pub, alg, err := parseVerifier(field+".signature.verifier", sig.GetVerifier(), hashedRekordType, opts)
	if err != nil {
		return nil, err
	}
	// parseVerifier rejected pure Ed25519, so alg.hash is set.
	if len(hr.Digest) != alg.hash.Size() {
		return nil, inputErrorf(field+".digest", "digest is %d bytes, but keyDetails %s signs %s digests of %d bytes",
			len(hr.Digest), alg.details, alg.hash, alg.hash.Size())
	}
	if err := alg.verifyDigest(pub, hr.Digest, sig.Content); err != nil {
		return nil, inputErrorf(field+".signature.content", "signature does not verify over the digest with the verifier's %s key: %w",
			describeKey(pub), err)
	}

	// The request's signature message, including its verifier, goes into the
	// leaf as sent: clients rebuild this leaf from their bundle.
	return &rekortilespb.Entry{
		Kind:       KindHashedRekord,
		ApiVersion: Version,
		Spec: &rekortilespb.Spec{
			Spec: &rekortilespb.Spec_HashedRekordV002{
				HashedRekordV002: &rekortilespb.HashedRekordLogEntryV002{
					Data:      &protocommon.HashOutput{Algorithm: alg.protoHash, Digest: hr.Digest},
					Signature: sig,
				},
			},
		},
	}, nil
}

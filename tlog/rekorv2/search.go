//lint:file-ignore SA1019 DSSE v0.0.2 is deprecated in rekor-tiles but still sent by cosign v3.0.x (sigstore-go v1.1.x); its entries are indexed too.

package rekorv2

// Search-index keys of Rekor v2 entries. rekor-tiles has no search (its
// issue #15); Hallmark indexes a v2 entry under the keys a Rekor v1 entry
// of the same content gets, so that the v1 query shapes (hash, publicKey,
// email, subject: tlog/rekorv1.SearchQuery) find entries of both:
//
//	key                                   from
//	"sha256:<hex>" (the digest's          hashedrekord data digest, dsse
//	  algorithm prefix)                   payload hash
//	"<hex SHA-256 of the canonical PEM>"  each verifier: a PUBLIC KEY block of
//	                                      the key, or a CERTIFICATE block
//	the SANs of the certificate           x509Certificate verifiers
//
// A v2 dsse entry keeps only the payload's hash (not the envelope or the
// in-toto statement), so the envelope-hash and subject-digest keys of v1
// dsse entries have no v2 counterpart.

import (
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"fmt"

	protocommon "github.com/sigstore/protobuf-specs/gen/pb-go/common/v1"
	rekortilespb "github.com/sigstore/rekor-tiles/v2/pkg/generated/protobuf"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/hallmark-dev/hallmark/tlog/rekorv1"
)

// IndexKeys returns the search keys of a canonical Rekor v2 entry (a log
// leaf), normalised as the Rekor v1 index stores them.
func IndexKeys(canonical []byte) ([]string, error) {
	var e rekortilespb.Entry
	if err := protojson.Unmarshal(canonical, &e); err != nil {
		return nil, fmt.Errorf("rekorv2: leaf is not an entry: %w", err)
	}
	var keys []string
	var sigs []*rekortilespb.Signature
	switch {
	case e.GetSpec().GetHashedRekordV002() != nil:
		s := e.GetSpec().GetHashedRekordV002()
		keys = append(keys, digestKey(s.GetData()))
		sigs = append(sigs, s.GetSignature())
	case e.GetSpec().GetDsseV002() != nil:
		s := e.GetSpec().GetDsseV002()
		keys = append(keys, digestKey(s.GetPayloadHash()))
		sigs = s.GetSignatures()
	default:
		return nil, fmt.Errorf("rekorv2: entry of kind %q has no spec Hallmark indexes", e.GetKind())
	}
	for _, sig := range sigs {
		v := sig.GetVerifier()
		switch {
		case v.GetX509Certificate() != nil:
			der := v.GetX509Certificate().GetRawBytes()
			keys = append(keys, pemKey("CERTIFICATE", der))
			c, err := x509.ParseCertificate(der)
			if err != nil {
				return nil, fmt.Errorf("rekorv2: verifier certificate: %w", err)
			}
			keys = append(keys, rekorv1.CertificateSubjects(c)...)
		case v.GetPublicKey() != nil:
			keys = append(keys, pemKey("PUBLIC KEY", v.GetPublicKey().GetRawBytes()))
		}
	}
	out := keys[:0]
	for _, k := range keys {
		if k != "" {
			out = append(out, k)
		}
	}
	return rekorv1.NormalizeIndexKeys(out), nil
}

// IndexKeys returns the entry's search keys (see the package's IndexKeys);
// nil if it has none Hallmark can read.
func (e *Entry) IndexKeys() []string {
	keys, err := IndexKeys(e.Canonical)
	if err != nil {
		return nil
	}
	return keys
}

// digestKey is "<alg>:<hex>" as Rekor v1 writes artifact hashes.
func digestKey(h *protocommon.HashOutput) string {
	if h == nil || len(h.GetDigest()) == 0 {
		return ""
	}
	alg := "sha256"
	switch h.GetAlgorithm() {
	case protocommon.HashAlgorithm_SHA2_384:
		alg = "sha384"
	case protocommon.HashAlgorithm_SHA2_512:
		alg = "sha512"
	}
	return alg + ":" + hex.EncodeToString(h.GetDigest())
}

// pemKey is the hex SHA-256 of the canonical PEM of a key or certificate,
// Rekor v1's publicKey search key.
func pemKey(typ string, der []byte) string {
	if len(der) == 0 {
		return ""
	}
	sum := sha256.Sum256(pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}))
	return hex.EncodeToString(sum[:])
}

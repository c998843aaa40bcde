package rekorv2

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/x509"
	"errors"
	"fmt"

	protocommon "github.com/sigstore/protobuf-specs/gen/pb-go/common/v1"
	rekortilespb "github.com/sigstore/rekor-tiles/v2/pkg/generated/protobuf"
)

// algorithm is one signing algorithm a verifier's keyDetails can name.
type algorithm struct {
	details protocommon.PublicKeyDetails
	// hash is the digest algorithm: the hashedrekord digest must be one of
	// its outputs, and DSSE signatures are over hash(PAE). Zero for pure
	// Ed25519, which signs the message itself.
	hash      crypto.Hash
	protoHash protocommon.HashAlgorithm
	keyType   keyType
	curve     elliptic.Curve // ECDSA only
	rsaBits   int            // RSA only
}

type keyType int

const (
	keyRSA keyType = iota
	keyECDSA
	keyEd25519
)

// algorithms is the set rekor-tiles accepts by default, in the order of its
// allowed-algorithm list. The hash of each is the one sigstore/sigstore's
// algorithm registry assigns to it, which rekor-tiles records as
// data.algorithm.
var algorithms = []algorithm{
	{protocommon.PublicKeyDetails_PKIX_RSA_PKCS1V15_2048_SHA256, crypto.SHA256, protocommon.HashAlgorithm_SHA2_256, keyRSA, nil, 2048},
	{protocommon.PublicKeyDetails_PKIX_RSA_PKCS1V15_3072_SHA256, crypto.SHA256, protocommon.HashAlgorithm_SHA2_256, keyRSA, nil, 3072},
	{protocommon.PublicKeyDetails_PKIX_RSA_PKCS1V15_4096_SHA256, crypto.SHA256, protocommon.HashAlgorithm_SHA2_256, keyRSA, nil, 4096},
	{protocommon.PublicKeyDetails_PKIX_ECDSA_P256_SHA_256, crypto.SHA256, protocommon.HashAlgorithm_SHA2_256, keyECDSA, elliptic.P256(), 0},
	{protocommon.PublicKeyDetails_PKIX_ECDSA_P384_SHA_384, crypto.SHA384, protocommon.HashAlgorithm_SHA2_384, keyECDSA, elliptic.P384(), 0},
	{protocommon.PublicKeyDetails_PKIX_ECDSA_P521_SHA_512, crypto.SHA512, protocommon.HashAlgorithm_SHA2_512, keyECDSA, elliptic.P521(), 0},
	{protocommon.PublicKeyDetails_PKIX_ED25519, 0, protocommon.HashAlgorithm_HASH_ALGORITHM_UNSPECIFIED, keyEd25519, nil, 0},
	{protocommon.PublicKeyDetails_PKIX_ED25519_PH, crypto.SHA512, protocommon.HashAlgorithm_SHA2_512, keyEd25519, nil, 0},
}

func lookupAlgorithm(d protocommon.PublicKeyDetails) (algorithm, bool) {
	for _, a := range algorithms {
		if a.details == d {
			return a, true
		}
	}
	return algorithm{}, false
}

// matches reports whether pub is a key this algorithm applies to. RSA sizes
// are compared as the modulus length in bytes times 8, as sigstore's
// algorithm registry does.
func (a algorithm) matches(pub crypto.PublicKey) bool {
	switch k := pub.(type) {
	case *rsa.PublicKey:
		return a.keyType == keyRSA && k.Size()*8 == a.rsaBits
	case *ecdsa.PublicKey:
		return a.keyType == keyECDSA && k.Curve == a.curve
	case ed25519.PublicKey:
		return a.keyType == keyEd25519
	}
	return false
}

// verifyDigest checks a signature over a digest that is already a.hash's
// output (hashedrekord). a.hash must not be zero.
func (a algorithm) verifyDigest(pub crypto.PublicKey, digest, sig []byte) error {
	switch k := pub.(type) {
	case *rsa.PublicKey:
		return rsa.VerifyPKCS1v15(k, a.hash, digest, sig)
	case *ecdsa.PublicKey:
		if !ecdsa.VerifyASN1(k, digest, sig) {
			return errors.New("ECDSA verification failed")
		}
		return nil
	case ed25519.PublicKey:
		if len(k) != ed25519.PublicKeySize {
			return errors.New("malformed Ed25519 public key")
		}
		return ed25519.VerifyWithOptions(k, digest, sig, &ed25519.Options{Hash: crypto.SHA512})
	}
	return fmt.Errorf("unsupported key type %T", pub)
}

// verifyMessage checks a signature over a whole message (the DSSE PAE):
// hashed with a.hash for RSA and ECDSA, signed directly by pure Ed25519.
func (a algorithm) verifyMessage(pub crypto.PublicKey, msg, sig []byte) error {
	if k, ok := pub.(ed25519.PublicKey); ok {
		if len(k) != ed25519.PublicKeySize || !ed25519.Verify(k, msg, sig) {
			return errors.New("Ed25519 verification failed")
		}
		return nil
	}
	h := a.hash.New()
	h.Write(msg)
	return a.verifyDigest(pub, h.Sum(nil), sig)
}

// entryType says which request a verifier belongs to; it decides which
// Ed25519 variant is acceptable.
type entryType int

const (
	hashedRekordType entryType = iota
	dsseType
)

// parseVerifier checks a request verifier and returns its public key and
// signing algorithm. field is the verifier's JSON path, for errors.
func parseVerifier(field string, v *rekortilespb.Verifier, t entryType, opts Options) (crypto.PublicKey, algorithm, error) {
	if v == nil {
		return nil, algorithm{}, inputErrorf(field, "missing verifier")
	}
	var pub crypto.PublicKey
	var chain []*x509.Certificate
	switch {
	case v.GetPublicKey() != nil:
		raw := v.GetPublicKey().GetRawBytes()
		if len(raw) == 0 {
			return nil, algorithm{}, inputErrorf(field+".publicKey.rawBytes", "empty public key")
		}
		k, err := x509.ParsePKIXPublicKey(raw)
		if err != nil {
			return nil, algorithm{}, inputErrorf(field+".publicKey.rawBytes", "not a DER SubjectPublicKeyInfo: %w", err)
		}
		pub = k
	case v.GetX509Certificate() != nil:
		raw := v.GetX509Certificate().GetRawBytes()
		if len(raw) == 0 {
			return nil, algorithm{}, inputErrorf(field+".x509Certificate.rawBytes", "empty certificate")
		}
		cert, err := x509.ParseCertificate(raw)
		if err != nil {
			return nil, algorithm{}, inputErrorf(field+".x509Certificate.rawBytes", "not a DER X.509 certificate: %w", err)
		}
		pub = cert.PublicKey
		chain = []*x509.Certificate{cert}
	default:
		return nil, algorithm{}, inputErrorf(field, "verifier has neither publicKey nor x509Certificate")
	}

	key := describeKey(pub)
	if key == "" {
		return nil, algorithm{}, inputErrorf(field, "unsupported public key type %T; supported are RSA, ECDSA and Ed25519", pub)
	}
	details := v.GetKeyDetails()
	if details == protocommon.PublicKeyDetails_PUBLIC_KEY_DETAILS_UNSPECIFIED {
		return nil, algorithm{}, inputErrorf(field+".keyDetails", "missing keyDetails for the %s key", key)
	}
	alg, ok := lookupAlgorithm(details)
	if !ok {
		return nil, algorithm{}, inputErrorf(field+".keyDetails", "unsupported keyDetails %s (supported: %s)", details, supportedAlgorithmNames())
	}
	if !alg.matches(pub) {
		return nil, algorithm{}, inputErrorf(field+".keyDetails", "keyDetails %s does not match the %s key", details, key)
	}
	switch {
	case t == hashedRekordType && details == protocommon.PublicKeyDetails_PKIX_ED25519:
		return nil, algorithm{}, inputErrorf(field+".keyDetails",
			"hashedrekord needs a prehash signature: Ed25519 keys must use PKIX_ED25519_PH (Ed25519ph over the digest), not PKIX_ED25519")
	case t == dsseType && details == protocommon.PublicKeyDetails_PKIX_ED25519_PH:
		return nil, algorithm{}, inputErrorf(field+".keyDetails",
			"DSSE signatures are pure Ed25519 over the PAE: Ed25519 keys must use PKIX_ED25519, not PKIX_ED25519_PH")
	}
	if !opts.allows(details) {
		return nil, algorithm{}, inputErrorf(field+".keyDetails", "signing algorithm %s is not allowed by this log", details)
	}
	if opts.Authorize != nil {
		if err := opts.Authorize(pub, chain); err != nil {
			return nil, algorithm{}, err
		}
	}
	return pub, alg, nil
}

// describeKey names a key for error messages, or returns "" for key types
// this package does not support.
func describeKey(pub crypto.PublicKey) string {
	switch k := pub.(type) {
	case *rsa.PublicKey:
		return fmt.Sprintf("RSA %d-bit", k.Size()*8)
	case *ecdsa.PublicKey:
		return "ECDSA " + k.Curve.Params().Name
	case ed25519.PublicKey:
		return "Ed25519"
	}
	return ""
}

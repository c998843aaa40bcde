package ca

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/x509"
	"errors"
	"fmt"

	hsigner "github.com/hallmark-dev/hallmark/internal/signer"
	"github.com/hallmark-dev/hallmark/tlog/format"
)

// Errors about the key a caller wants certified. Each is wrapped with
// details; an API maps them to InvalidArgument.
var (
	ErrBadPublicKey   = errors.New("the public key could not be parsed")
	ErrWeakKey        = errors.New("the public key is insecure or of an unsupported type")
	ErrBadCSR         = errors.New("the certificate signing request could not be parsed")
	ErrBadProof       = errors.New("the proof of possession does not verify")
	ErrAlgNotAllowed  = errors.New("the signing algorithm is not permitted for this key")
	ErrNoKeyMaterial  = errors.New("the request holds neither a public key nor a CSR")
	ErrBadChallenge   = errors.New("the identity has nothing to prove possession over")
	maxKeyOrCSRLength = 64 << 10
)

// ParsePublicKey parses a PEM "PUBLIC KEY" (PKIX) or "RSA PUBLIC KEY"
// (PKCS#1) block, or raw DER PKIX, as Fulcio does, and checks that the key
// is acceptable (see ValidatePublicKey).
func ParsePublicKey(content []byte) (crypto.PublicKey, error) {
	if len(content) == 0 {
		return nil, fmt.Errorf("%w: empty", ErrBadPublicKey)
	}
	if len(content) > maxKeyOrCSRLength {
		return nil, fmt.Errorf("%w: longer than %d bytes", ErrBadPublicKey, maxKeyOrCSRLength)
	}
	var pub crypto.PublicKey
	var err error
	switch block, _, perr := format.DecodePEM(content, format.PEMPublicKey, "RSA PUBLIC KEY"); {
	case errors.Is(perr, format.ErrNoPEM):
		pub, err = x509.ParsePKIXPublicKey(content)
	case perr != nil:
		return nil, fmt.Errorf("%w: %w", ErrBadPublicKey, perr)
	case block.Type == format.PEMPublicKey:
		pub, err = x509.ParsePKIXPublicKey(block.Bytes)
	default:
		pub, err = x509.ParsePKCS1PublicKey(block.Bytes)
	}
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBadPublicKey, err)
	}
	if err := ValidatePublicKey(pub); err != nil {
		return nil, err
	}
	return pub, nil
}

// ValidatePublicKey accepts exactly what Fulcio accepts: RSA with a 2048,
// 3072 or 4096-bit modulus and exponent 65537, ECDSA on P-256, P-384 or
// P-521, and Ed25519.
func ValidatePublicKey(pub crypto.PublicKey) error {
	switch k := pub.(type) {
	case *rsa.PublicKey:
		switch k.N.BitLen() {
		case 2048, 3072, 4096:
		default:
			return fmt.Errorf("%w: RSA modulus of %d bits (want 2048, 3072 or 4096)", ErrWeakKey, k.N.BitLen())
		}
		if k.E != 65537 {
			return fmt.Errorf("%w: RSA public exponent %d (want 65537)", ErrWeakKey, k.E)
		}
		if k.N.Bit(0) == 0 {
			return fmt.Errorf("%w: RSA modulus is even", ErrWeakKey)
		}
	case *ecdsa.PublicKey:
		switch k.Curve {
		case elliptic.P256(), elliptic.P384(), elliptic.P521():
		default:
			return fmt.Errorf("%w: ECDSA curve %s (want P-256, P-384 or P-521)", ErrWeakKey, k.Curve.Params().Name)
		}
		// x509.ParsePKIXPublicKey already rejects points off the curve.
	case ed25519.PublicKey:
		if len(k) != ed25519.PublicKeySize {
			return fmt.Errorf("%w: Ed25519 key of %d bytes", ErrWeakKey, len(k))
		}
	default:
		return fmt.Errorf("%w: %T", ErrWeakKey, pub)
	}
	return nil
}

// VerifyProof checks a proof of possession: sig is a signature by pub over
// the raw bytes of one of the challenges. The algorithm is the one Sigstore
// clients use for the key: ECDSA (ASN.1 DER) with SHA-256 on P-256,
// SHA-384 on P-384, SHA-512 on P-521; RSA PKCS#1 v1.5 with SHA-256; pure
// Ed25519.
func VerifyProof(pub crypto.PublicKey, sig []byte, challenges []string) error {
	if len(challenges) == 0 {
		return ErrBadChallenge
	}
	if len(sig) == 0 {
		return fmt.Errorf("%w: the signature is empty", ErrBadProof)
	}
	for _, c := range challenges {
		if verifySignature(pub, sig, []byte(c)) == nil {
			return nil
		}
	}
	return fmt.Errorf("%w: the signature must cover the token's %s", ErrBadProof, challengeName(len(challenges)))
}

func challengeName(n int) string {
	if n > 1 {
		return "subject (sub) or email claim"
	}
	return "subject (sub, or email for email issuers)"
}

func verifySignature(pub crypto.PublicKey, sig, msg []byte) error {
	switch k := pub.(type) {
	case *ecdsa.PublicKey:
		if !ecdsa.VerifyASN1(k, hsigner.Digest(hsigner.CurveHash(k.Curve), msg), sig) {
			return ErrBadProof
		}
		return nil
	case *rsa.PublicKey:
		return rsa.VerifyPKCS1v15(k, crypto.SHA256, hsigner.Digest(crypto.SHA256, msg), sig)
	case ed25519.PublicKey:
		if !ed25519.Verify(k, msg, sig) {
			return ErrBadProof
		}
		return nil
	}
	return ErrWeakKey
}

// ParseCSR parses a PEM ("CERTIFICATE REQUEST" or "NEW CERTIFICATE
// REQUEST") or DER PKCS#10 request, checks its self-signature and its
// algorithm, and returns its public key. Everything else in the CSR
// (subject, requested extensions) is ignored: the certificate's contents
// come from the identity token only.
func ParseCSR(content []byte) (crypto.PublicKey, error) {
	if len(content) == 0 {
		return nil, fmt.Errorf("%w: empty", ErrBadCSR)
	}
	if len(content) > maxKeyOrCSRLength {
		return nil, fmt.Errorf("%w: longer than %d bytes", ErrBadCSR, maxKeyOrCSRLength)
	}
	der := content
	block, _, err := format.DecodePEM(content, "CERTIFICATE REQUEST", "NEW CERTIFICATE REQUEST")
	switch {
	case err == nil:
		der = block.Bytes
	case !errors.Is(err, format.ErrNoPEM):
		return nil, fmt.Errorf("%w: %w", ErrBadCSR, err)
	}
	csr, err := x509.ParseCertificateRequest(der)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBadCSR, err)
	}
	if err := ValidatePublicKey(csr.PublicKey); err != nil {
		return nil, err
	}
	if err := csr.CheckSignature(); err != nil {
		return nil, fmt.Errorf("%w: CSR self-signature: %w", ErrBadProof, err)
	}
	if err := checkCSRAlgorithm(csr); err != nil {
		return nil, err
	}
	return csr.PublicKey, nil
}

// checkCSRAlgorithm enforces Fulcio's default client signing algorithms:
// ECDSA with the curve's own hash, RSA PKCS#1 v1.5 with SHA-256, Ed25519.
func checkCSRAlgorithm(csr *x509.CertificateRequest) error {
	ok := false
	switch k := csr.PublicKey.(type) {
	case *ecdsa.PublicKey:
		want := map[crypto.Hash]x509.SignatureAlgorithm{crypto.SHA256: x509.ECDSAWithSHA256, crypto.SHA384: x509.ECDSAWithSHA384, crypto.SHA512: x509.ECDSAWithSHA512}
		ok = csr.SignatureAlgorithm == want[hsigner.CurveHash(k.Curve)]
	case *rsa.PublicKey:
		ok = csr.SignatureAlgorithm == x509.SHA256WithRSA
	case ed25519.PublicKey:
		ok = csr.SignatureAlgorithm == x509.PureEd25519
	}
	if !ok {
		return fmt.Errorf("%w: %s with a %s key", ErrAlgNotAllowed, csr.SignatureAlgorithm, csr.PublicKeyAlgorithm)
	}
	return nil
}

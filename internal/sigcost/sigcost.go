// Package sigcost estimates what a signature check costs before it is
// made, so that verifiers of untrusted entries can refuse work beyond a
// budget before doing any of it.
package sigcost

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/x509"
	"slices"
)

// Check estimates the CPU cost of one signature check with pub, in units
// of a P-256 check (measured with Go 1.26 on amd64: Ed25519 about the
// same, P-384 3x, P-521 35x, RSA 2048 2x, growing with the square of the
// modulus). Keys of other types cost nothing: no verifier checks them.
func Check(pub crypto.PublicKey) int {
	switch k := pub.(type) {
	case *ecdsa.PublicKey:
		if k.Curve == nil {
			return 0
		}
		switch k.Curve.Params().BitSize {
		case 256:
			return 1
		case 384:
			return 4
		default:
			return 32
		}
	case *rsa.PublicKey:
		if k.N == nil {
			return 0
		}
		words := (k.N.BitLen() + 2047) / 2048 // 2048-bit words, rounded up
		return 2 * words * words
	case ed25519.PublicKey:
		return 1
	}
	return 0
}

// The bounds the logs' verifiers share.
const (
	// MaxCost bounds the signature checks of one entry or chain, in units
	// of a P-256 check: 16 checks with any key real clients use, 8 with
	// P-521 or 8192-bit RSA keys.
	MaxCost = 256
	// MaxRSABits bounds RSA moduli: a check's cost grows with the square
	// of the modulus.
	MaxRSABits = 8192
)

// MaxPayloadPasses is how many signature checks an entry may make over a
// payload larger than its verifier's hashing bound (see PayloadHashing).
const MaxPayloadPasses = 2

// PayloadHashing reports whether checks signature checks over a payload of
// n bytes stay within what one entry may hash: maxBytes in all, or, over a
// larger payload, MaxPayloadPasses checks. Every check counts as a pass
// over the payload: pure Ed25519 hashes the whole message for each (RSA
// and ECDSA share one digest, so for them the count is an upper bound).
// One signature over the largest payload a log accepts therefore always
// verifies, and what the checks of an entry cost stays linear in its size,
// which the log's per-type size limit bounds, however many signatures and
// keys it brings.
func PayloadHashing(checks int, n, maxBytes int64) bool {
	return checks <= MaxPayloadPasses || int64(checks)*n <= maxBytes
}

// ChainProblem is why Chain refuses a chain.
type ChainProblem int

const (
	ChainOK              ChainProblem = iota
	ChainRSATooLarge                  // a key's modulus exceeds MaxRSABits
	ChainRepeatedSubject              // two certificates share a subject
	ChainTooCostly                    // the checks together exceed MaxCost
)

// Chain bounds what x509 path building may spend on certs, the submitted
// certificates it may use as issuers: every key at most MaxRSABits, and
// distinct subjects, so each step has one candidate issuer and each key
// checks at most one signature (a certificate sent twice counts once, as
// a pool holds it once); the checks together at most MaxCost. It returns
// the first problem and the index of the certificate that has it (for
// ChainTooCostly, the total cost).
func Chain(certs []*x509.Certificate) (ChainProblem, int) {
	total := 0
	seen := make(map[string]bool, len(certs))
	for i, c := range certs {
		if slices.ContainsFunc(certs[:i], c.Equal) {
			continue
		}
		if k, ok := c.PublicKey.(*rsa.PublicKey); ok && k.N != nil && k.N.BitLen() > MaxRSABits {
			return ChainRSATooLarge, i
		}
		if seen[string(c.RawSubject)] {
			return ChainRepeatedSubject, i
		}
		seen[string(c.RawSubject)] = true
		total += Check(c.PublicKey)
	}
	if total > MaxCost {
		return ChainTooCostly, total
	}
	return ChainOK, 0
}

// RSABits is the modulus size of an RSA key, 0 for other keys.
func RSABits(pub crypto.PublicKey) int {
	if k, ok := pub.(*rsa.PublicKey); ok && k.N != nil {
		return k.N.BitLen()
	}
	return 0
}

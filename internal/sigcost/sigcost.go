// Package sigcost estimates what a signature check costs before it is
// made, so that verifiers of untrusted entries can refuse work beyond a
// budget before doing any of it.
package sigcost

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
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

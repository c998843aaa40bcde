package sigcost

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"math/big"
	"testing"
)

func TestCheck(t *testing.T) {
	p256, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	p384, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	p521, _ := ecdsa.GenerateKey(elliptic.P521(), rand.Reader)
	edPub, _, _ := ed25519.GenerateKey(rand.Reader)
	rsaOf := func(bits int) *rsa.PublicKey {
		return &rsa.PublicKey{N: new(big.Int).Lsh(big.NewInt(1), uint(bits-1)), E: 65537}
	}
	for name, c := range map[string]struct {
		pub  any
		want int
	}{
		"P-256": {&p256.PublicKey, 1}, "P-384": {&p384.PublicKey, 4}, "P-521": {&p521.PublicKey, 32},
		"Ed25519": {edPub, 1}, "RSA-2048": {rsaOf(2048), 2}, "RSA-4096": {rsaOf(4096), 8},
		"RSA-8192": {rsaOf(8192), 32}, "RSA without modulus": {&rsa.PublicKey{}, 0},
		"ECDSA without curve": {&ecdsa.PublicKey{}, 0}, "unknown": {"not a key", 0},
	} {
		if got := Check(c.pub); got != c.want {
			t.Errorf("%s: cost %d, want %d", name, got, c.want)
		}
	}
}

// TestPayloadHashing: checks × payload within the bound, or at most
// MaxPayloadPasses checks over a payload of any size.
func TestPayloadHashing(t *testing.T) {
	const bound = 4 << 20
	for _, c := range []struct {
		checks int
		n      int64
		want   bool
	}{
		{16, 256 << 10, true},    // 16 checks × 256 KiB: the bound exactly
		{16, 256<<10 + 1, false}, // just over it
		{1, 32 << 20, true},      // one signature over a 32 MiB attestation
		{2, 32 << 20, true},      // two passes
		{3, 32 << 20, false},     // three are refused
		{3, 1 << 20, true},       // but not over a small payload
		{MaxPayloadPasses, 1 << 40, true},
	} {
		if got := PayloadHashing(c.checks, c.n, bound); got != c.want {
			t.Errorf("PayloadHashing(%d checks, %d bytes) = %v, want %v", c.checks, c.n, got, c.want)
		}
	}
}

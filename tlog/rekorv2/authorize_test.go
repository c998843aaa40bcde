package rekorv2

import (
	"crypto"
	"crypto/x509"
	"errors"
	"testing"
)

// TestAuthorize: Options.Authorize sees each verifier (with its
// certificate) before any signature is verified, and its error comes back
// unchanged, not as an InputError.
func TestAuthorize(t *testing.T) {
	k := testKeyNamed("ecdsa-p256")
	refused := errors.New("refused by policy")
	req := k.hashedRekordRequest(t, []byte("artifact"), true)
	req.GetHashedRekordRequestV002().Signature.Content = []byte("not a signature")
	opts := DefaultOptions()
	var chains [][]*x509.Certificate
	opts.Authorize = func(_ crypto.PublicKey, c []*x509.Certificate) error {
		chains = append(chains, c)
		return refused
	}
	_, err := Canonicalize(req, opts)
	var in *InputError
	if !errors.Is(err, refused) || errors.As(err, &in) {
		t.Fatalf("refusal came back as %#v", err)
	}
	if len(chains) != 1 || len(chains[0]) != 1 {
		t.Fatalf("Authorize saw %v", chains)
	}
	dk := dsseKey(k)
	opts.Authorize = func(crypto.PublicKey, []*x509.Certificate) error { return nil }
	if _, err := Canonicalize(dsseRequest(t, "application/vnd.in-toto+json", []byte("{}"), dk), opts); err != nil {
		t.Fatalf("dsse with an admitting Authorize: %v", err)
	}
}

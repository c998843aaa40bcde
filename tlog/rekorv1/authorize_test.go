package rekorv1

import (
	"crypto"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"testing"
)

// TestAuthorize: Options.Authorize sees every key of each kind before any
// signature is verified (an entry with a bad signature gets the refusal,
// not the verification error), and its error comes back unchanged.
func TestAuthorize(t *testing.T) {
	p256, ed := newTestKey(t, "p256"), newTestKey(t, "ed25519")
	badSig := func(req map[string]any) map[string]any {
		return set(req, "spec.signature.content", base64.StdEncoding.EncodeToString([]byte("not a signature")))
	}
	env := envelopeString(t, inToto, statement(), p256, ed)
	refused := errors.New("refused by policy")
	for name, tc := range map[string]struct {
		req  map[string]any
		keys int
	}{
		"hashedrekord, bad signature": {badSig(hashedRekordRequest(t, p256, p256.pem, "sha256")), 1},
		"hashedrekord, chain":         {hashedRekordRequest(t, p256, certChain(t, p256, 2), "sha256"), 1},
		"dsse":                        {dsseRequest(t, env, p256.pem, ed.pem), 2},
		"intoto 0.0.1":                {intotoV1Request(envelopeString(t, inToto, statement(), p256), p256.pem), 1},
		"intoto 0.0.2":                {intotoV2Request(t, inToto, statement(), p256, ed), 2},
	} {
		t.Run(name, func(t *testing.T) {
			var seen int
			var chain []*x509.Certificate
			opts := DefaultOptions()
			opts.Authorize = func(_ crypto.PublicKey, c []*x509.Certificate) error {
				seen++
				chain = c
				return nil
			}
			_, err := Canonicalize(body(t, tc.req), opts)
			if name == "hashedrekord, bad signature" {
				var in *InputError
				if !errors.As(err, &in) {
					t.Fatalf("bad signature without refusal: %v", err)
				}
			} else if err != nil {
				t.Fatal(err)
			}
			if seen != tc.keys {
				t.Errorf("Authorize saw %d keys, want %d", seen, tc.keys)
			}
			if name == "hashedrekord, chain" && len(chain) != 2 {
				t.Errorf("Authorize saw a chain of %d certificates, want 2", len(chain))
			}
			opts.Authorize = func(crypto.PublicKey, []*x509.Certificate) error { return refused }
			_, err = Canonicalize(body(t, tc.req), opts)
			var in *InputError
			if !errors.Is(err, refused) || errors.As(err, &in) {
				t.Fatalf("refusal came back as %#v", err)
			}
		})
	}
}

package rekorv1

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"math/big"
	"strings"
	"testing"
	"time"

	"github.com/hallmark-dev/hallmark/tlog/format"
)

func TestMaxEntryBytesIsTheLogs(t *testing.T) {
	if maxEntryBytes != format.MaxEntrySize {
		t.Fatalf("maxEntryBytes = %d, format.MaxEntrySize = %d", maxEntryBytes, format.MaxEntrySize)
	}
}

// wantOverLimit checks that err is Rekor's 400 and marks a limit.
func wantOverLimit(t *testing.T, err error, substr string) {
	t.Helper()
	var ie *InputError
	if !errors.As(err, &ie) || ie.Code != 400 || !strings.HasPrefix(ie.Message, "error processing entry: ") {
		t.Fatalf("got %v, want a 400 InputError", err)
	}
	if !errors.Is(err, ErrOverLimit) {
		t.Fatalf("%q does not wrap ErrOverLimit", ie.Message)
	}
	if !strings.Contains(ie.Message, substr) {
		t.Fatalf("%q does not say %q", ie.Message, substr)
	}
}

// signedEnvelope returns an envelope signed by each of keys, in order,
// with the given keyid on every signature.
func signedEnvelope(t testing.TB, payload []byte, keys []*testKey) string {
	t.Helper()
	return envelopeString(t, inToto, payload, keys...)
}

func edKeys(t testing.TB, n int) []*testKey {
	keys := make([]*testKey, n)
	for i := range keys {
		keys[i] = newTestKey(t, "ed25519")
	}
	return keys
}

func pems(keys []*testKey) [][]byte {
	out := make([][]byte, len(keys))
	for i, k := range keys {
		out[i] = k.pem
	}
	return out
}

func reversed[T any](s []T) []T {
	out := make([]T, len(s))
	for i, v := range s {
		out[len(s)-1-i] = v
	}
	return out
}

func TestLimitsDSSE(t *testing.T) {
	opts := DefaultOptions()

	// The attack, scaled down: many keys, signatures in reverse
	// order. It is refused before any key is parsed.
	keys := edKeys(t, 100)
	_, err := Canonicalize(body(t, dsseRequest(t, signedEnvelope(t, statement(), keys), pems(reversed(keys))...)), opts)
	wantOverLimit(t, err, "the DSSE envelope has 100 signatures, this log accepts at most 8")

	// Within the caps, verifiers in any order are accepted.
	keys = edKeys(t, 4)
	e, err := Canonicalize(body(t, dsseRequest(t, signedEnvelope(t, statement(), keys), pems(reversed(keys))...)), opts)
	if err != nil {
		t.Fatalf("4 signatures, 4 verifiers in reverse order: %v", err)
	}
	var doc struct {
		Spec struct{ Signatures []any } `json:"spec"`
	}
	if err := json.Unmarshal(e.Canonical, &doc); err != nil || len(doc.Spec.Signatures) != 4 {
		t.Fatalf("canonical %s: %v", e.Canonical, err)
	}

	one := edKeys(t, 1)
	many := edKeys(t, 9)
	cases := []struct {
		name string
		req  map[string]any
		opts Options
		want string
	}{
		{"too many signatures", dsseRequest(t, signedEnvelope(t, statement(), many), one[0].pem), opts,
			"the DSSE envelope has 9 signatures, this log accepts at most 8"},
		{"too many verifiers", dsseRequest(t, signedEnvelope(t, statement(), one), pems(many)...), opts,
			"the entry has 9 verifiers, this log accepts at most 8"},
		{"too many checks", dsseRequest(t, signedEnvelope(t, statement(), many[:5]), pems(many[:4])...), opts,
			"5 signatures and 4 verifiers need 20 signature checks, this log performs at most 16"},
		{"configured signatures", dsseRequest(t, signedEnvelope(t, statement(), many[:3]), pems(many[:3])...),
			Options{MaxSignatures: 2}, "the DSSE envelope has 3 signatures, this log accepts at most 2"},
		{"configured verifiers", dsseRequest(t, signedEnvelope(t, statement(), many[:1]), pems(many[:3])...),
			Options{MaxVerifiers: 2}, "the entry has 3 verifiers, this log accepts at most 2"},
		{"configured checks", dsseRequest(t, signedEnvelope(t, statement(), many[:2]), pems(many[:2])...),
			Options{MaxSignatureChecks: 3}, "2 signatures and 2 verifiers need 4 signature checks, this log performs at most 3"},
		{"too many bytes to hash", dsseRequest(t, signedEnvelope(t, bytes.Repeat([]byte("a"), 3<<20), many[:2]), pems(many[:2])...), opts,
			"signature checks over a"},
		{"verifier too large", dsseRequest(t, signedEnvelope(t, statement(), one), bytes.Repeat([]byte("k"), maxKeyBytes+1)), opts,
			"verifier 0 is 49152 bytes, more than the 49151 a log entry can hold"},
	}
	// A signature too large for a leaf (and not even a signature).
	huge := `{"payloadType":"x","payload":"eA==","signatures":[{"sig":"` + strings.Repeat("A", 70000) + `"}]}`
	cases = append(cases, struct {
		name string
		req  map[string]any
		opts Options
		want string
	}{"signatures too large", dsseRequest(t, huge, one[0].pem), opts, "the envelope's signatures are 70000 bytes"})

	// Costly keys: eight P-521 checks are the most an entry may cost.
	p521 := make([]*testKey, 8)
	for i := range p521 {
		p521[i] = newTestKey(t, "p521")
	}
	if _, err := Canonicalize(body(t, dsseRequest(t, signedEnvelope(t, statement(), p521[7:]), pems(reversed(p521))...)), opts); err != nil {
		t.Fatalf("1 signature, 8 P-521 verifiers: %v", err)
	}
	cases = append(cases, struct {
		name string
		req  map[string]any
		opts Options
		want string
	}{"costly keys", dsseRequest(t, signedEnvelope(t, statement(), p521[6:]), pems(p521)...), opts,
		"checking 2 signatures with these keys would cost 512 units (one unit: a P-256 check), this log spends at most 256"})

	// A large payload is priced too: decoding 1 MiB leaves the budget of
	// four P-521 checks, so the eight a small payload may have are refused
	// (issue 16's 50 ms bound), while one check is always allowed.
	big := bytes.Repeat([]byte("b"), 1<<20-4)
	if _, err := Canonicalize(body(t, dsseRequest(t, signedEnvelope(t, big, p521[:4]), p521[3].pem)), opts); err == nil || errors.Is(err, ErrOverLimit) {
		t.Fatalf("4 P-521 signatures over 1 MiB: got %v, want a verification failure, not a limit", err)
	}
	if _, err := Canonicalize(body(t, dsseRequest(t, signedEnvelope(t, bytes.Repeat([]byte("c"), 3<<20), p521[:1]), p521[0].pem)), opts); err != nil {
		t.Fatalf("1 P-521 signature over 3 MiB: %v", err)
	}
	cases = append(cases, struct {
		name string
		req  map[string]any
		opts Options
		want string
	}{"costly keys and a large payload", dsseRequest(t, signedEnvelope(t, bytes.Repeat([]byte("d"), 512<<10-4), p521[:7]), p521[6].pem), opts,
		"checking 7 signatures with these keys would cost 224 units (one unit: a P-256 check), and decoding its 511 KiB payload 63 more; this log spends at most 256 per entry"})

	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := Canonicalize(body(t, c.req), c.opts)
			wantOverLimit(t, err, c.want)
		})
	}
}

func TestLimitsIntoto(t *testing.T) {
	opts := DefaultOptions()
	keys := edKeys(t, 9)

	// 0.0.2: each signature brings its key, so n signatures cost n² checks.
	if _, err := Canonicalize(body(t, intotoV2Request(t, inToto, statement(), keys[:4]...)), opts); err != nil {
		t.Fatalf("intoto 0.0.2 with 4 signatures: %v", err)
	}
	_, err := Canonicalize(body(t, intotoV2Request(t, inToto, statement(), keys[:5]...)), opts)
	wantOverLimit(t, err, "5 signatures and 5 verifiers need 25 signature checks, this log performs at most 16")
	if _, err := Canonicalize(body(t, intotoV2Request(t, inToto, statement(), keys[:5]...)), Options{MaxSignatureChecks: 25}); err != nil {
		t.Fatalf("intoto 0.0.2 with 5 signatures, 25 checks allowed: %v", err)
	}
	p521 := []*testKey{newTestKey(t, "p521"), newTestKey(t, "p521")}
	_, err = Canonicalize(body(t, intotoV2Request(t, inToto, statement(), p521...)), opts)
	if err != nil {
		t.Fatalf("intoto 0.0.2 with 2 P-521 signatures: %v", err)
	}
	req := intotoV2Request(t, inToto, statement(), keys[:1]...)
	sigs := req["spec"].(map[string]any)["content"].(map[string]any)["envelope"].(map[string]any)["signatures"].([]any)
	sigs[0].(map[string]any)["publicKey"] = base64.StdEncoding.EncodeToString(bytes.Repeat([]byte("k"), maxKeyBytes+1))
	_, err = Canonicalize(body(t, req), opts)
	wantOverLimit(t, err, "the public key of signature 0 is 49152 bytes")

	// 0.0.1: one key, up to MaxSignatures signatures.
	if _, err := Canonicalize(body(t, intotoV1Request(signedEnvelope(t, statement(), keys[:8]), keys[7].pem)), opts); err != nil {
		t.Fatalf("intoto 0.0.1 with 8 signatures: %v", err)
	}
	_, err = Canonicalize(body(t, intotoV1Request(signedEnvelope(t, statement(), keys), keys[0].pem)), opts)
	wantOverLimit(t, err, "the DSSE envelope has 9 signatures, this log accepts at most 8")
	_, err = Canonicalize(body(t, intotoV1Request(signedEnvelope(t, statement(), keys[:1]), bytes.Repeat([]byte("k"), maxKeyBytes+1))), opts)
	wantOverLimit(t, err, "the public key is 49152 bytes")
}

// hugeRSAKeyPEM is a PEM public key with a bits-bit modulus that nobody
// holds the private key of (generating one would take minutes).
func hugeRSAKeyPEM(t testing.TB, bits int) []byte {
	b := make([]byte, bits/8)
	rand.Read(b)
	b[0] |= 0x80
	b[len(b)-1] |= 1 // any odd number of that size parses as a modulus
	der, err := x509.MarshalPKIXPublicKey(&rsa.PublicKey{N: new(big.Int).SetBytes(b), E: 65537})
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
}

func TestLimitsHashedRekord(t *testing.T) {
	opts := DefaultOptions()
	p256 := newTestKey(t, "p256")

	// A chain whose root appears twice would let path building try the
	// same subject twice.
	chain := certChain(t, p256, 3)
	other, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(7), Subject: pkix.Name{CommonName: "ca 0"}, // the root's subject
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), IsCA: true, BasicConstraintsValid: true}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, other.Public(), other)
	if err != nil {
		t.Fatal(err)
	}
	dup := append(append([]byte{}, chain...), pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})...)
	_, err = Canonicalize(body(t, hashedRekordRequest(t, p256, dup, "sha256")), opts)
	wantOverLimit(t, err, "certificate 3 of the chain repeats the subject of an earlier one")
	if _, err := Canonicalize(body(t, hashedRekordRequest(t, p256, chain, "sha256")), opts); err != nil {
		t.Fatalf("chain of 3: %v", err)
	}

	// Chains cost the checks of their keys.
	if _, err := Canonicalize(body(t, p521ChainRequest(t, 8)), opts); err != nil {
		t.Fatalf("chain of 8 P-521 certificates: %v", err)
	}
	_, err = Canonicalize(body(t, p521ChainRequest(t, 9)), opts)
	wantOverLimit(t, err, "verifying the chain would cost 288 units (one unit: a P-256 check), this log spends at most 256")

	// An RSA key too large to verify cheaply, refused before verifying.
	req := hashedRekordRequest(t, p256, hugeRSAKeyPEM(t, maxRSABits+8), "sha256")
	set(req, "spec.signature.content", base64.StdEncoding.EncodeToString(make([]byte, (maxRSABits+8)/8)))
	_, err = Canonicalize(body(t, req), opts)
	wantOverLimit(t, err, "the RSA key has 8200 bits, this log verifies at most 8192")

	_, err = Canonicalize(body(t, hashedRekordRequest(t, p256, bytes.Repeat([]byte("k"), maxKeyBytes+1), "sha256")), opts)
	wantOverLimit(t, err, "the public key is 49152 bytes")
	req = hashedRekordRequest(t, p256, p256.pem, "sha256")
	set(req, "spec.signature.content", base64.StdEncoding.EncodeToString(make([]byte, maxKeyBytes)))
	_, err = Canonicalize(body(t, req), opts)
	wantOverLimit(t, err, "the signature and public key are")
}

func TestOptionsLimitsValidate(t *testing.T) {
	for _, o := range []Options{{MaxSignatures: -1}, {MaxVerifiers: -1}, {MaxSignatureChecks: -1}} {
		if o.Validate() == nil {
			t.Errorf("%+v: Validate accepts", o)
		}
	}
	l := Options{MaxSignatures: 1, MaxVerifiers: 2, MaxSignatureChecks: 3}.limits()
	if l != (limits{signatures: 1, verifiers: 2, checks: 3}) {
		t.Errorf("limits = %+v", l)
	}
	if (Options{}).limits() != (limits{signatures: DefaultMaxSignatures, verifiers: DefaultMaxVerifiers, checks: DefaultMaxSignatureChecks}) {
		t.Error("zero Options do not take the defaults")
	}
}

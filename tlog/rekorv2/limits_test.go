package rekorv2

//lint:file-ignore SA1019 DSSE v0.0.2 is deprecated in rekor-tiles but still sent by cosign v3.0.x (sigstore-go v1.1.x); Hallmark accepts it.

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"errors"
	"strconv"
	"strings"
	"testing"

	protocommon "github.com/sigstore/protobuf-specs/gen/pb-go/common/v1"
	rekortilespb "github.com/sigstore/rekor-tiles/v2/pkg/generated/protobuf"

	"github.com/hallmark-dev/hallmark/internal/benchutil"
)

// freshKeys generates n keys of one kind: "p521" or "ed25519" (DSSE).
func freshKeys(tb testing.TB, kind string, n int) []testKey {
	keys := make([]testKey, n)
	for i := range keys {
		switch kind {
		case "p521":
			k, err := ecdsa.GenerateKey(elliptic.P521(), rand.Reader)
			if err != nil {
				tb.Fatal(err)
			}
			keys[i] = testKey{"p521-" + strconv.Itoa(i), protocommon.PublicKeyDetails_PKIX_ECDSA_P521_SHA_512, k}
		case "ed25519":
			_, k, err := ed25519.GenerateKey(rand.Reader)
			if err != nil {
				tb.Fatal(err)
			}
			keys[i] = testKey{"ed25519-" + strconv.Itoa(i), protocommon.PublicKeyDetails_PKIX_ED25519, k}
		}
	}
	return keys
}

// withVerifiers replaces a dsse request's verifiers with those of keys.
func withVerifiers(tb testing.TB, req *CreateEntryRequest, keys []testKey) *CreateEntryRequest {
	ds := req.GetDsseRequestV002()
	ds.Verifiers = nil
	for _, k := range keys {
		ds.Verifiers = append(ds.Verifiers, k.verifier(tb, false))
	}
	return req
}

func TestDSSELimits(t *testing.T) {
	ed := freshKeys(t, "ed25519", 5)
	p521 := freshKeys(t, "p521", 3)
	if _, err := Canonicalize(dsseRequest(t, "x", []byte("payload"), ed[:4]...), DefaultOptions()); err != nil {
		t.Fatalf("4 signatures, 4 verifiers: %v", err)
	}
	if _, err := Canonicalize(dsseRequest(t, "x", []byte("payload"), p521[:2]...), DefaultOptions()); err != nil {
		t.Fatalf("2 P-521 signatures and verifiers: %v", err)
	}
	junk := &rekortilespb.Verifier{KeyDetails: protocommon.PublicKeyDetails_PKIX_ED25519,
		Verifier: &rekortilespb.Verifier_PublicKey{PublicKey: &rekortilespb.PublicKey{RawBytes: make([]byte, maxLoggedBytes)}}}
	large := dsseRequest(t, "x", []byte("payload"), ed[0])
	large.GetDsseRequestV002().Verifiers[0] = junk

	tests := []struct {
		name      string
		req       *CreateEntryRequest
		wantField string
		wantMsg   string
	}{
		{"too many checks", withVerifiers(t, dsseRequest(t, "x", []byte("payload"), ed...), ed[:4]),
			"dsseRequestV002", "5 distinct signatures and 4 verifiers need 20 signature checks, at most 16 are allowed"},
		{"costly keys", dsseRequest(t, "x", []byte("payload"), p521...),
			"dsseRequestV002.verifiers", "checking 3 signatures with these verifiers would cost 288 units"},
		{"too many bytes to hash", dsseRequest(t, "x", bytes.Repeat([]byte("a"), 1<<20), ed[:4]...),
			"dsseRequestV002.envelope.payload", "16 signature checks over a 1048576-byte payload would hash 16777216 bytes"},
		{"verifiers too large", large, "dsseRequestV002", "more than the 49151 a log entry can hold"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Canonicalize(tt.req, DefaultOptions())
			var ie *InputError
			if !errors.As(err, &ie) || !errors.Is(err, ErrOverLimit) {
				t.Fatalf("got %v, want an *InputError over a limit", err)
			}
			if ie.Field != tt.wantField || !strings.Contains(err.Error(), tt.wantMsg) {
				t.Errorf("got %q (field %q), want %q in field %q", err, ie.Field, tt.wantMsg, tt.wantField)
			}
		})
	}
}

func benchCanonicalize(b *testing.B, req *CreateEntryRequest, wantErr bool) {
	b.Helper()
	if _, err := Canonicalize(req, DefaultOptions()); (err != nil) != wantErr {
		b.Fatalf("Canonicalize: %v (want error: %v)", err, wantErr)
	}
	b.ReportAllocs()
	cpu := benchutil.StartCPU()
	for b.Loop() {
		Canonicalize(req, DefaultOptions()) //nolint:errcheck // checked above
	}
	cpu.Report(b)
}

// BenchmarkWorstCaseDSSE: with P-521, 2 signatures and 4 verifiers (the
// cost limit), every pair checked, then refused because two verifiers
// verify nothing; with Ed25519, 4 signatures and 4 verifiers over a 512 KiB
// payload (the checks × bytes limit), accepted.
func BenchmarkWorstCaseDSSE(b *testing.B) {
	b.Run("p521", func(b *testing.B) {
		keys := freshKeys(b, "p521", 4)
		benchCanonicalize(b, withVerifiers(b, dsseRequest(b, "x", bytes.Repeat([]byte("a"), 512<<10), keys[:2]...), keys), true)
	})
	b.Run("ed25519", func(b *testing.B) {
		keys := freshKeys(b, "ed25519", 4)
		benchCanonicalize(b, dsseRequest(b, "x", bytes.Repeat([]byte("a"), 512<<10), keys...), false)
	})
}

// BenchmarkWorstCaseHashedRekord: one check, with the costliest key (a
// P-521 certificate).
func BenchmarkWorstCaseHashedRekord(b *testing.B) {
	benchCanonicalize(b, freshKeys(b, "p521", 1)[0].hashedRekordRequest(b, []byte("artifact"), true), false)
}

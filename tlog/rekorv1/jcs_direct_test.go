package rekorv1

import (
	"bytes"
	"encoding/json"
	"math"
	"os"
	"strings"
	"testing"
)

// The direct writers (jcsWriter, appendSETPayload) must produce exactly
// what encoding/json followed by RFC 8785 produces: these tests run both.

// sameCanonical canonicalises body with and without the direct writers
// and fails unless both accept with the same bytes or refuse alike.
func sameCanonical(t *testing.T, body []byte) {
	t.Helper()
	direct, err1 := canonicalize(body, DefaultOptions(), true)
	generic, err2 := canonicalize(body, DefaultOptions(), false)
	switch {
	case (err1 == nil) != (err2 == nil):
		t.Fatalf("direct error %v, generic error %v", err1, err2)
	case err1 != nil:
		if err1.Error() != err2.Error() {
			t.Fatalf("direct error %q, generic error %q", err1, err2)
		}
	case !bytes.Equal(direct.Canonical, generic.Canonical):
		t.Fatalf("direct canonical\n%s\ngeneric\n%s", direct.Canonical, generic.Canonical)
	}
}

func TestDirectCanonicalMatchesJCS(t *testing.T) {
	p256, p384, p521 := newTestKey(t, "p256"), newTestKey(t, "p384"), newTestKey(t, "p521")
	rsaKey, edKey := newTestKey(t, "rsa2048"), newTestKey(t, "ed25519")
	upper := hashedRekordRequest(t, p256, p256.pem, "sha256")
	hash := upper["spec"].(map[string]any)["data"].(map[string]any)["hash"].(map[string]any)
	hash["value"] = strings.ToUpper(hash["value"].(string))
	for name, req := range map[string]map[string]any{
		"p256":             hashedRekordRequest(t, p256, p256.pem, "sha256"),
		"p384":             hashedRekordRequest(t, p384, p384.pem, "sha384"),
		"p521":             hashedRekordRequest(t, p521, p521.pem, "sha512"),
		"rsa":              hashedRekordRequest(t, rsaKey, rsaKey.pem, "sha256"),
		"ed25519ph":        hashedRekordRequest(t, edKey, edKey.pem, "sha512"),
		"cert":             hashedRekordRequest(t, p256, certChain(t, p256, 1), "sha256"),
		"chain of 3":       hashedRekordRequest(t, p256, certChain(t, p256, 3), "sha256"),
		"upper-case value": upper,
		"PEM with headers and text": hashedRekordRequest(t, p256,
			append([]byte("leading text\n"), bytes.Replace(p256.pem, []byte("KEY-----\n"), []byte("KEY-----\nProc-Type: 4,ENCRYPTED\n\n"), 1)...), "sha256"),
	} {
		t.Run(name, func(t *testing.T) {
			b := body(t, req)
			e, err := Canonicalize(b, DefaultOptions())
			if err != nil {
				t.Fatal(err)
			}
			if _, ok := any(&hashedRekordV001{}).(jcsWriter); !ok || e.Kind != kindHashedRekord {
				t.Fatal("hashedrekord does not take the direct path")
			}
			sameCanonical(t, b)
		})
	}
}

// TestDirectCanonicalVectors runs both paths on Rekor's recorded requests.
func TestDirectCanonicalVectors(t *testing.T) {
	raw, err := os.ReadFile("testdata/rekor-v1.5.4-vectors.json")
	if err != nil {
		t.Fatal(err)
	}
	var vectors []struct{ Name, Request string }
	if err := json.Unmarshal(raw, &vectors); err != nil {
		t.Fatal(err)
	}
	for _, v := range vectors {
		t.Run(v.Name, func(t *testing.T) { sameCanonical(t, []byte(v.Request)) })
	}
}

func FuzzDirectCanonical(f *testing.F) {
	addVectorSeeds(f)
	f.Fuzz(func(t *testing.T, body []byte) { sameCanonical(t, body) })
}

func TestSETPayloadDirect(t *testing.T) {
	for _, tc := range []struct {
		body        []byte
		time, index int64
		logID       string
		direct      bool
	}{
		{[]byte("leaf <&>"), 1700000000, 42, "c0ffee", true},
		{nil, 0, 0, "", true},
		{[]byte{}, -1, -5, "ab", true},
		{[]byte{0, 0xff, '"'}, maxExactJCSInt, maxExactJCSInt, "<&> /", true},
		{[]byte("x"), -maxExactJCSInt, 7, "id", true},
		// Beyond 2^53 JCS rounds (through a double) or writes an exponent.
		{[]byte("x"), maxExactJCSInt + 1, 7, "id", false},
		{[]byte("x"), 7, math.MaxInt64, "id", false},
		{[]byte("x"), math.MinInt64, 7, "id", false},
		// Log IDs JSON writes escaped, or encoding/json rewrites.
		{[]byte("x"), 1, 2, `quote"`, false},
		{[]byte("x"), 1, 2, `back\slash`, false},
		{[]byte("x"), 1, 2, "tab\t", false},
		{[]byte("x"), 1, 2, "é", false},
		{[]byte("x"), 1, 2, "\xff", false},
		{[]byte("x"), 1, 2, "\u2028", false},
	} {
		want, err := setPayloadJCS(tc.body, tc.time, tc.logID, tc.index)
		if err != nil {
			t.Fatal(err)
		}
		got, ok := appendSETPayload(nil, tc.body, tc.time, tc.logID, tc.index)
		if ok != tc.direct {
			t.Errorf("appendSETPayload(%q, %d, %q, %d) direct = %v, want %v", tc.body, tc.time, tc.logID, tc.index, ok, tc.direct)
		}
		if ok && !bytes.Equal(got, want) {
			t.Errorf("appendSETPayload(%q, %d, %q, %d)\n= %s\nJCS %s", tc.body, tc.time, tc.logID, tc.index, got, want)
		}
		if viaAPI, err := SETPayload(tc.body, tc.time, tc.logID, tc.index); err != nil || !bytes.Equal(viaAPI, want) {
			t.Errorf("SETPayload(%q, %d, %q, %d) = %s, %v; want %s", tc.body, tc.time, tc.logID, tc.index, viaAPI, err, want)
		}
	}
}

func FuzzSETPayload(f *testing.F) {
	f.Add([]byte("leaf"), int64(1700000000), "c0ffee", int64(42))
	f.Add([]byte{}, int64(maxExactJCSInt), "<\"\\>", int64(-1))
	f.Fuzz(func(t *testing.T, body []byte, integratedTime int64, logID string, logIndex int64) {
		want, err := setPayloadJCS(body, integratedTime, logID, logIndex)
		if err != nil {
			return // JCS refuses it too (invalid UTF-8 is replaced, never refused)
		}
		if got, ok := appendSETPayload(nil, body, integratedTime, logID, logIndex); ok && !bytes.Equal(got, want) {
			t.Fatalf("direct %s\nJCS    %s", got, want)
		}
	})
}

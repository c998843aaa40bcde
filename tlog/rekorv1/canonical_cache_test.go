package rekorv1

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	mrand "math/rand/v2"
	"os"
	"reflect"
	"slices"
	"strings"
	"testing"
)

// TestIndexKeysFromCanonicalCached compares IndexKeysFromCanonical, which
// caches what it takes from each key and certificate PEM, with the
// implementation before the cache (canonical_ref_test.go), over the test
// vectors, leaves with every PEM shape in every kind's key field (keys,
// certificates, chains, PEMs with text around them, broken ones), and
// random corruptions of them: same keys, or the same error, on the first
// call and on the cached ones.
func TestIndexKeysFromCanonicalCached(t *testing.T) {
	var leaves [][]byte

	raw, err := os.ReadFile("testdata/rekor-v1.5.4-vectors.json")
	if err != nil {
		t.Fatal(err)
	}
	var vectors []struct{ Canonical string }
	if err := json.Unmarshal(raw, &vectors); err != nil {
		t.Fatal(err)
	}
	for _, v := range vectors {
		if v.Canonical != "" {
			leaves = append(leaves, []byte(v.Canonical))
		}
	}

	p256, p384, ed, rsaKey := newTestKey(t, "p256"), newTestKey(t, "p384"), newTestKey(t, "ed25519"), newTestKey(t, "rsa2048")
	chain1, chain3 := certChain(t, p256, 1), certChain(t, p384, 3)
	pems := [][]byte{
		p256.pem, p384.pem, ed.pem, rsaKey.pem, chain1, chain3,
		append([]byte("leading text\n"), chain1...),
		append(slices.Clone(chain1), "trailing text\n"...),
		append(slices.Clone(p256.pem), p384.pem...), // a "chain" of public keys: an error
		[]byte("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"),
		[]byte("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"),
		[]byte("not a PEM"),
		{},
	}
	for _, alg := range []string{"sha256", "sha384", "sha512"} {
		for _, k := range []*testKey{p256, p384, rsaKey} {
			for _, keyPEM := range [][]byte{k.pem, certChain(t, k, 2)} {
				e, err := Canonicalize(body(t, hashedRekordRequest(t, k, keyPEM, alg)), DefaultOptions())
				if err != nil {
					continue // a combination Rekor refuses (ed25519 takes sha512 only)
				}
				leaves = append(leaves, e.Canonical)
			}
		}
	}
	hash := `{"algorithm":"sha256","value":"` + fmt.Sprintf("%064x", 7) + `"}`
	for _, p := range pems {
		b := base64.StdEncoding.EncodeToString(p)
		for _, leaf := range []string{
			`{"apiVersion":"0.0.1","kind":"hashedrekord","spec":{"data":{"hash":` + hash + `},"signature":{"content":"eA==","publicKey":{"content":"` + b + `"}}}}`,
			`{"apiVersion":"0.0.1","kind":"dsse","spec":{"envelopeHash":` + hash + `,"payloadHash":` + hash + `,"signatures":[{"signature":"eA==","verifier":"` + b + `"},{"signature":"eA==","verifier":"` + base64.StdEncoding.EncodeToString(chain1) + `"}]}}`,
			`{"apiVersion":"0.0.1","kind":"intoto","spec":{"content":{"hash":` + hash + `,"payloadHash":` + hash + `},"publicKey":"` + b + `"}}`,
			`{"apiVersion":"0.0.2","kind":"intoto","spec":{"content":{"envelope":{"signatures":[{"publicKey":"` + b + `","sig":"eA=="}]},"hash":` + hash + `,"payloadHash":` + hash + `}}}`,
		} {
			leaves = append(leaves, []byte(leaf))
		}
	}
	// Leaves that one decoding would read otherwise than two: several
	// members taken for "spec" (by case or by Unicode folding), escapes.
	var hr map[string]any
	for _, l := range leaves {
		if hr = nil; json.Unmarshal(l, &hr) == nil && hr["kind"] == "hashedrekord" && hr["spec"] != nil {
			break
		}
	}
	spec, _ := json.Marshal(hr["spec"])
	other := `{"data":{"hash":{"algorithm":"sha256","value":"` + fmt.Sprintf("%064x", 9) + `"}}}`
	for _, l := range []string{
		`{"apiVersion":"0.0.1","kind":"hashedrekord","spec":` + string(spec) + `,"spec":` + other + `}`,
		`{"apiVersion":"0.0.1","kind":"hashedrekord","spec":` + string(spec) + `,"Spec":` + other + `}`,
		`{"apiVersion":"0.0.1","kind":"hashedrekord","spec":` + other + `,"SPEC":` + string(spec) + `}`,
		`{"apiVersion":"0.0.1","kind":"hashedrekord","spec":` + string(spec) + `,"\u0073pec":` + other + `}`,
		`{"apiVersion":"0.0.1","kind":"hashedrekord","spec":` + string(spec) + `,"ſpec":` + other + `}`,
		`{"apiVersion":"0.0.1","kind":"hashedrekord","\u0073pec":` + string(spec) + `}`,
		`{"apiVersion":"0.0.1","kind":"hashedrekord","Spec":` + string(spec) + `}`,
		`{"apiVersion":"0.0.1","kind":"hashedrekord","apiVersion":"0.0.2","spec":` + string(spec) + `}`,
		`{"kind":"hashedrekord","apiVersion":"0.0.1","spec":` + string(spec) + `,"extra":{"spec":1}}`,
		`{"apiVersion":"0.0.1","kind":"hashedrekord","spec":` + string(spec) + `}`,
	} {
		leaves = append(leaves, []byte(l))
	}

	// Leaves in Rekor's layout whose strings the template must leave to
	// the decoder: escapes, control characters, non-ASCII, bad base64,
	// trailing space; and a key that decodes but does not parse.
	keyB64 := base64.StdEncoding.EncodeToString(p256.pem)
	templated := func(alg, value, sig, key, tail string) string {
		return `{"apiVersion":"0.0.1","kind":"hashedrekord","spec":{"data":{"hash":{"algorithm":"` + alg + `","value":"` + value +
			`"}},"signature":{"content":"` + sig + `","publicKey":{"content":"` + key + `"}}}}` + tail
	}
	v64 := fmt.Sprintf("%064x", 11)
	for _, l := range []string{
		templated("sha256", v64, "eA==", keyB64, ""),
		templated("sha256", v64, "eA==", keyB64, " "),
		templated("sha256", v64, "eA==", keyB64, "\n"),
		templated(`sha\u003256`, v64, "eA==", keyB64, ""),
		templated("sha256", v64[:10]+`\"`+v64[10:], "eA==", keyB64, ""),
		templated("sha256", v64[:10]+"\t"+v64[10:], "eA==", keyB64, ""),
		templated("sha256", v64[:10]+"\x7f"+v64[10:], "eA==", keyB64, ""),
		templated("sha256", v64[:10]+"é"+v64[10:], "eA==", keyB64, ""),
		templated("SHA256", strings.ToUpper(v64), "eA==", keyB64, ""),
		templated("sha256", v64, "e\\/A==", keyB64, ""),
		templated("sha256", v64, "eA==", keyB64[:len(keyB64)-1], ""),
		templated("sha256", v64, "eA==", keyB64[:20]+"\\n"+keyB64[20:], ""),
		templated("sha256", v64, "eA==", keyB64[:20]+"\r\n"+keyB64[20:], ""),
		templated("sha256", v64, "eA==", base64.StdEncoding.EncodeToString([]byte("not a key")), ""),
		templated("", "", "", "", ""),
	} {
		leaves = append(leaves, []byte(l))
	}

	// The template answers for the leaves Rekor writes.
	templatedLeaves := 0
	for _, l := range leaves {
		if _, ok := hashedRekordKeysTemplate(l); ok {
			templatedLeaves++
		}
	}
	if templatedLeaves < 20 {
		t.Fatalf("the template answered for only %d leaves", templatedLeaves)
	}

	rng := mrand.New(mrand.NewPCG(1, 2))
	for _, leaf := range slices.Clone(leaves) {
		for range 10 {
			m := slices.Clone(leaf)
			for range 1 + rng.IntN(3) {
				m[rng.IntN(len(m))] = byte(rng.IntN(256))
			}
			leaves = append(leaves, m)
		}
	}

	var ok, failed int
	for round := range 3 {
		if round == 0 {
			keyInfoCache.mu.Lock()
			keyInfoCache.m = nil
			keyInfoCache.mu.Unlock()
		}
		for _, leaf := range leaves {
			want, wantErr := IndexKeysFromCanonicalRef(leaf)
			got, gotErr := IndexKeysFromCanonical(leaf)
			if fmt.Sprint(gotErr) != fmt.Sprint(wantErr) || !slices.Equal(got, want) {
				t.Fatalf("round %d, leaf %s:\ncached:    %q, %v\nreference: %q, %v", round, leaf, got, gotErr, want, wantErr)
			}
			if round == 0 {
				if wantErr == nil {
					ok++
				} else {
					failed++
				}
			}
		}
	}
	if ok < 100 || failed < 100 {
		t.Fatalf("only %d leaves with keys and %d with errors", ok, failed)
	}
	t.Logf("%d leaves with keys, %d with errors", ok, failed)
}

// FuzzIndexKeysFromCanonicalCached: for any leaf, the cached, single-decoding
// IndexKeysFromCanonical answers what the reference implementation answers.
func FuzzIndexKeysFromCanonicalCached(f *testing.F) {
	addVectorSeeds(f)
	f.Add([]byte(`{"apiVersion":"0.0.1","kind":"hashedrekord","spec":{"signature":{"publicKey":{"content":"eA=="}}},"Spec":{}}`))
	f.Fuzz(func(t *testing.T, leaf []byte) {
		want, wantErr := IndexKeysFromCanonicalRef(leaf)
		for range 2 {
			got, gotErr := IndexKeysFromCanonical(leaf)
			if fmt.Sprint(gotErr) != fmt.Sprint(wantErr) || !slices.Equal(got, want) {
				t.Fatalf("leaf %q: %q, %v; reference %q, %v", leaf, got, gotErr, want, wantErr)
			}
		}
	})
}

// TestParsedKeysCache: a PUBLIC KEY parsed from the cache gives the same
// key and canonical PEM as one parsed afresh, for every key type, and a
// canonical PEM taken from the cache cannot be changed through append.
func TestParsedKeysCache(t *testing.T) {
	for _, kind := range []string{"p256", "p384", "ed25519", "rsa2048"} {
		k := newTestKey(t, kind)
		raw := k.pem
		var first []byte
		for i := 0; i < 3; i++ {
			pk, err := parsePublicKey(raw)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(pk.key, k.priv.Public()) {
				t.Errorf("%s, parse %d: another key", kind, i)
			}
			c, err := pk.canonical()
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(c, raw) || (first != nil && !bytes.Equal(c, first)) {
				t.Errorf("%s, parse %d: canonical PEM %q", kind, i, c)
			}
			first = append(c, "tail"...)[:len(c)]
		}
	}
}

package rekorv1

import (
	"encoding/json"
	"errors"
	"os"
	"slices"
	"strings"
	"testing"
)

// TestIndexKeysFromCanonical rebuilds the index keys of every accepted
// vector from its canonical leaf. For hashedrekord they are exactly the
// keys Rekor wrote at insertion; for the DSSE-based kinds they are those
// keys minus the in-toto statement digests, which the leaf does not hold.
// (interop's TestIndexKeysFromCanonicalMatchesRekor compares them with
// Rekor's own IndexKeys of the canonical entry.)
func TestIndexKeysFromCanonical(t *testing.T) {
	raw, err := os.ReadFile("testdata/rekor-v1.5.4-vectors.json")
	if err != nil {
		t.Fatal(err)
	}
	var vectors []struct {
		Name, Canonical string
		IndexKeys       []string
	}
	if err := json.Unmarshal(raw, &vectors); err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, v := range vectors {
		if v.Canonical == "" {
			continue
		}
		n++
		got, err := IndexKeysFromCanonical([]byte(v.Canonical))
		if err != nil {
			t.Errorf("%s: %v", v.Name, err)
			continue
		}
		if strings.HasPrefix(v.Name, "hashedrekord") {
			if !slices.Equal(slices.Sorted(slices.Values(got)), v.IndexKeys) {
				t.Errorf("%s: keys from the leaf %q, Rekor wrote %q", v.Name, got, v.IndexKeys)
			}
			continue
		}
		if len(got) == 0 {
			t.Errorf("%s: no keys from the leaf", v.Name)
		}
		if len(v.IndexKeys) == 0 {
			// Rekor's insertion failed to compute keys from the payload
			// (not an in-toto statement) and indexed nothing; the leaf,
			// which has no payload, still yields its key and hash keys.
			continue
		}
		for _, k := range got {
			if !slices.Contains(v.IndexKeys, k) {
				t.Errorf("%s: key %q from the leaf is not among Rekor's %q", v.Name, k, v.IndexKeys)
			}
		}
	}
	if n < 20 {
		t.Fatalf("only %d accepted vectors", n)
	}
}

func TestIndexKeysFromCanonicalMatchesCanonicalize(t *testing.T) {
	p256 := newTestKey(t, "p256")
	e, err := Canonicalize(body(t, hashedRekordRequest(t, p256, certChain(t, p256, 2), "sha256")), DefaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	got, err := IndexKeysFromCanonical(e.Canonical)
	if err != nil || !slices.Equal(got, e.IndexKeys) {
		t.Fatalf("keys from the leaf %q (%v), Canonicalize says %q", got, err, e.IndexKeys)
	}
}

func TestIndexKeysFromCanonicalRejects(t *testing.T) {
	for _, leaf := range []string{
		`not json`,
		`{"apiVersion":"0.0.1","kind":"rekord","spec":{}}`,
		`{"apiVersion":"0.0.9","kind":"hashedrekord","spec":{}}`,
		`{"apiVersion":"0.0.1","kind":"hashedrekord","spec":{}}`,
		`{"apiVersion":"0.0.1","kind":"hashedrekord","spec":{"signature":{"publicKey":{"content":"eA=="}}}}`,
		`{"apiVersion":"0.0.1","kind":"dsse","spec":{"signatures":[{"signature":"eA=="}]}}`,
		`{"apiVersion":"0.0.1","kind":"intoto","spec":{"content":{}}}`,
		`{"apiVersion":"0.0.2","kind":"intoto","spec":{"content":{"envelope":{"signatures":[{"sig":"eA=="}]}}}}`,
	} {
		if keys, err := IndexKeysFromCanonical([]byte(leaf)); err == nil {
			t.Errorf("%s: keys %q, want an error", leaf, keys)
		}
	}
	if _, err := IndexKeysFromCanonical([]byte(`{"apiVersion":"0.0.1","kind":"rpm","spec":{}}`)); !errors.Is(err, ErrUnsupportedKind) {
		t.Errorf("rpm: %v, want ErrUnsupportedKind", err)
	}
}

// FuzzIndexKeysFromCanonical: leaves come from another system; no input
// may panic.
func FuzzIndexKeysFromCanonical(f *testing.F) {
	f.Add([]byte(`{"apiVersion":"0.0.1","kind":"dsse","spec":{"signatures":[null]}}`))
	f.Add([]byte(`{"apiVersion":"0.0.2","kind":"intoto","spec":{"content":{"envelope":{"signatures":[null]}}}}`))
	f.Add([]byte(`{"apiVersion":"0.0.1","kind":"hashedrekord","spec":{"signature":null}}`))
	f.Fuzz(func(t *testing.T, leaf []byte) {
		IndexKeysFromCanonical(leaf) //nolint:errcheck
	})
}

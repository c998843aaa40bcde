package rekorv1

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"os"
	"reflect"
	"strings"
	"testing"

	"github.com/gowebpki/jcs"
)

// addVectorSeeds seeds a fuzz corpus with the recorded Rekor requests.
func addVectorSeeds(f *testing.F) {
	raw, err := os.ReadFile("testdata/rekor-v1.5.4-vectors.json")
	if err != nil {
		f.Fatal(err)
	}
	var vectors []struct{ Request string }
	if err := json.Unmarshal(raw, &vectors); err != nil {
		f.Fatal(err)
	}
	for _, v := range vectors {
		f.Add([]byte(v.Request))
	}
}

// FuzzCanonicalize checks that any request is either accepted with a
// well-formed canonical entry or rejected with a client error; no input may
// panic or cause an internal error.
func FuzzCanonicalize(f *testing.F) {
	addVectorSeeds(f)
	f.Fuzz(func(t *testing.T, body []byte) {
		e, err := Canonicalize(body, DefaultOptions())
		if err != nil {
			var ie *InputError
			if !errors.As(err, &ie) {
				t.Fatalf("internal error for client input: %v", err)
			}
			if (ie.Code != 400 && ie.Code != 422) || ie.Message == "" {
				t.Fatalf("bad InputError %+v", ie)
			}
			return
		}
		again, err := jcs.Transform(e.Canonical)
		if err != nil || !bytes.Equal(again, e.Canonical) {
			t.Fatalf("canonical entry is not canonical JSON: %q", e.Canonical)
		}
		var doc struct{ Kind, APIVersion string }
		if err := json.Unmarshal(e.Canonical, &doc); err != nil || doc.Kind != e.Kind || doc.APIVersion != e.APIVersion {
			t.Fatalf("canonical entry %s does not match %s/%s", e.Canonical, e.Kind, e.APIVersion)
		}
		for _, k := range e.IndexKeys {
			if k != strings.ToLower(k) {
				t.Fatalf("index key %q is not lower case", k)
			}
		}
		// Canonicalising is deterministic and idempotent on the same input.
		e2, err := Canonicalize(body, DefaultOptions())
		if err != nil || !bytes.Equal(e2.Canonical, e.Canonical) {
			t.Fatalf("second canonicalisation differs: %v", err)
		}
	})
}

func FuzzParseEntryID(f *testing.F) {
	f.Add("0000000000001234" + strings.Repeat("ab", 32))
	f.Add(strings.Repeat("AB", 32))
	f.Add("8000000000000000" + strings.Repeat("00", 32))
	f.Add("")
	f.Fuzz(func(t *testing.T, s string) {
		tree, leaf, hasTree, err := ParseEntryID(s)
		if err != nil {
			var ie *InputError
			if !errors.As(err, &ie) {
				t.Fatalf("ParseEntryID(%q): %v is not an InputError", s, err)
			}
			return
		}
		switch {
		case hasTree && (tree <= 0 || EntryID(tree, leaf) != strings.ToLower(s)):
			t.Fatalf("ParseEntryID(%q) = %d %x does not round-trip", s, tree, leaf)
		case !hasTree && (tree != 0 || hex.EncodeToString(leaf[:]) != strings.ToLower(s)):
			t.Fatalf("ParseEntryID(%q) = %d %x", s, tree, leaf)
		}
	})
}

func FuzzSearchKeys(f *testing.F) {
	f.Add("sha256:"+strings.Repeat("a", 64), "x509", []byte("-----BEGIN PUBLIC KEY-----\n-----END PUBLIC KEY-----\n"), "a@b.c", "s", "and")
	f.Add("", "ssh", []byte("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl"), "", "", "")
	f.Fuzz(func(t *testing.T, hash, format string, content []byte, email, subject, op string) {
		q := SearchQuery{Hash: hash, Email: email, Subject: subject, Operator: op}
		if format != "" || content != nil {
			q.PublicKey = &SearchPublicKey{Format: format, Content: content}
		}
		sets, gotOp, err := q.Keys()
		if err != nil {
			var ie *InputError
			if !errors.As(err, &ie) {
				t.Fatalf("Keys(): %v is not an InputError", err)
			}
			return
		}
		if gotOp != OperatorAnd && gotOp != OperatorOr {
			t.Fatalf("operator %q", gotOp)
		}
		for _, set := range sets {
			for _, k := range set {
				if k == "" || k != strings.ToLower(k) {
					t.Fatalf("bad key %q", k)
				}
			}
		}
	})
}

// bindReference is what bindProposedEntry must equal: Rekor's binding,
// json.Decoder with UseNumber.
func bindReference(body []byte) (*targetedProposedEntry, error) {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	var pe targetedProposedEntry
	if err := dec.Decode(&pe); err != nil {
		return nil, err
	}
	return &pe, nil
}

// checkBind compares bindProposedEntry with bindReference on body.
func checkBind(t *testing.T, body []byte) {
	t.Helper()
	want, wantErr := bindReference(body)
	got, err := bindProposedEntry(body)
	if (err == nil) != (wantErr == nil) {
		t.Fatalf("bind(%q): error %v, encoding/json: %v", body, err, wantErr)
	}
	if err == nil && !reflect.DeepEqual(got, want) {
		t.Fatalf("bind(%q) =\n%#v, encoding/json gives\n%#v", body, got, want)
	}
}

// FuzzBindProposedEntry checks the fast request binding against
// encoding/json's: the same kind, apiVersion and spec value for every body
// that binds, and an error for every body that does not.
func FuzzBindProposedEntry(f *testing.F) {
	addVectorSeeds(f)
	for _, s := range bindCases {
		f.Add([]byte(s))
	}
	f.Fuzz(checkBind)
}

package format

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"strings"
	"testing"
	"time"

	"golang.org/x/mod/sumdb/note"
)

func TestCosignatureRoundTrip(t *testing.T) {
	pub, key, _ := ed25519.GenerateKey(rand.Reader)
	now := time.Unix(1_700_000_000, 0)
	s, err := NewCosignatureSigner("w.example/1", key, func() time.Time { return now })
	if err != nil {
		t.Fatal(err)
	}
	v, _ := NewCosignatureVerifier("w.example/1", pub)
	if s.KeyHash() != v.KeyHash() {
		t.Fatal("signer and verifier key IDs differ")
	}
	text := "log.example\n5\n" + strings.Repeat("A", 43) + "=\n"
	signed, err := note.Sign(&note.Note{Text: text}, s)
	if err != nil {
		t.Fatal(err)
	}
	n, err := note.Open(signed, note.VerifierList(v))
	if err != nil {
		t.Fatal(err)
	}
	if ts, err := CosignatureTime(n.Sigs[0]); err != nil || !ts.Equal(now) {
		t.Fatalf("timestamp %v, %v", ts, err)
	}
	// The timestamp is signed: changing it breaks the signature.
	sig, _ := s.Sign([]byte(text))
	sig[7]++
	if v.Verify([]byte(text), sig) {
		t.Fatal("a cosignature with a changed timestamp verified")
	}
	// The name is not signed by Ed25519 cosignatures but is in the key ID.
	other, _ := NewCosignatureVerifier("w.example/2", pub)
	if other.KeyHash() == v.KeyHash() {
		t.Fatal("key ID does not depend on the name")
	}
	if _, err := NewCosignatureSigner("w.example/1", key, func() time.Time { return time.Unix(0, 0) }); err != nil {
		t.Fatal(err)
	} else if s0, _ := NewCosignatureSigner("x", key, func() time.Time { return time.Unix(0, 0) }); s0 != nil {
		if _, err := s0.Sign([]byte(text)); err == nil {
			t.Fatal("a zero timestamp was accepted")
		}
	}
}

func TestVKeys(t *testing.T) {
	pub, _, _ := ed25519.GenerateKey(rand.Reader)
	wk, err := WitnessKey("w.example/1", pub)
	if err != nil {
		t.Fatal(err)
	}
	v, err := ParseWitnessKey(wk)
	if err != nil {
		t.Fatal(err)
	}
	if want, _ := NewCosignatureVerifier("w.example/1", pub); v.KeyHash() != want.KeyHash() {
		t.Fatal("witness vkey round trip lost the key ID")
	}
	// A type 0x01 key of the witness is accepted and means the same key.
	lk, _ := LogKey("w.example/1", pub)
	if v2, err := ParseWitnessKey(lk); err != nil || v2.KeyHash() != v.KeyHash() {
		t.Fatalf("type 0x01 witness key: %v", err)
	}
	ec, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	for _, pubKey := range []any{pub, &ec.PublicKey} {
		s, err := LogKey("rekor.example", pubKey)
		if err != nil {
			t.Fatal(err)
		}
		lv, err := ParseLogKey(s)
		if err != nil {
			t.Fatal(err)
		}
		want, _ := NewNoteVerifier("rekor.example", pubKey)
		if lv.KeyHash() != want.KeyHash() || lv.Name() != "rekor.example" {
			t.Fatalf("%T: log vkey round trip", pubKey)
		}
	}
	for _, bad := range []string{
		"", "name", "name+1234+AQ==", "na me+01234567+AQ==",
		strings.Replace(wk, "+", "+0", 1)[:len(wk)], // key ID changed
		wk[:len(wk)-4],  // truncated key
		"w+00000000+BA", // short key
	} {
		if _, err := ParseWitnessKey(bad); err == nil {
			t.Errorf("ParseWitnessKey(%q) succeeded", bad)
		}
	}
	if _, err := ParseLogKey(wk); err == nil {
		t.Error("a cosignature key was accepted as a log key")
	}
	// A static-ct-api log: RFC 6962 note signatures, key type 0x05.
	ctKey, err := CTLogKey("ct.example/2026", &ec.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	cv, err := ParseLogKey(ctKey)
	if err != nil {
		t.Fatal(err)
	}
	cs, _ := NewRFC6962NoteSigner("ct.example/2026", ec)
	cp, _ := note.Sign(&note.Note{Text: "ct.example/2026\n3\n" + strings.Repeat("A", 43) + "=\n"}, cs)
	if _, err := note.Open(cp, note.VerifierList(cv)); err != nil {
		t.Fatalf("CT checkpoint does not verify with the parsed 0x05 key: %v", err)
	}
}

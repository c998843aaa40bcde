package rekorv2

import (
	"crypto/ecdh"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/x509"
	"encoding/base64"
	"strings"
	"testing"

	protorekor "github.com/sigstore/protobuf-specs/gen/pb-go/rekor/v1"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
)

// Public Sigstore log keys and their logId.keyId in the public-good
// trusted_root.json (sigstore/root-signing).
func TestKeyHashPublicGoodLogs(t *testing.T) {
	tests := []struct {
		origin, spki, keyID string
	}{
		// Rekor v2 log2025-1, Ed25519: the origin is part of the hash.
		{"log2025-1.rekor.sigstore.dev", "MCowBQYDK2VwAyEAt8rlp1knGwjfbcXAYPYAkn0XiLz1x8O4t0YkEhie244=",
			"zxGZFVvd0FEmjR8WrFwMdcAJ9vtaY/QXf44Y1wUeP6A="},
		// Rekor v1, ECDSA P-256: SHA-256 of the SPKI, whatever the origin.
		{"rekor.sigstore.dev", "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE2G2Y+2tabdTV5BcGiBIx0a9fAFwrkBbmLSGtks4L3qX6yYY0zufBnhC8Ur/iy55GhWP/9A/bY2LhC30M9+RYtw==",
			"wNI9atQGlz+VWfO6LRygH4QUfY/8W4RFwiT5i5WRgB0="},
		{"any.example", "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE2G2Y+2tabdTV5BcGiBIx0a9fAFwrkBbmLSGtks4L3qX6yYY0zufBnhC8Ur/iy55GhWP/9A/bY2LhC30M9+RYtw==",
			"wNI9atQGlz+VWfO6LRygH4QUfY/8W4RFwiT5i5WRgB0="},
	}
	for _, tt := range tests {
		der, _ := base64.StdEncoding.DecodeString(tt.spki)
		pub, err := x509.ParsePKIXPublicKey(der)
		if err != nil {
			t.Fatal(err)
		}
		got, err := KeyHash(tt.origin, pub)
		if err != nil {
			t.Fatal(err)
		}
		if b64(got[:]) != tt.keyID {
			t.Errorf("KeyHash(%s, %T) = %s, want %s", tt.origin, pub, b64(got[:]), tt.keyID)
		}
	}
}

func TestKeyHashErrors(t *testing.T) {
	pub, _, _ := ed25519.GenerateKey(rand.Reader)
	for _, origin := range []string{"", "has space", "a+b", "tab\there", "\xff"} {
		if _, err := KeyHash(origin, pub); err == nil {
			t.Errorf("KeyHash(%q) accepted an invalid origin", origin)
		}
	}
	x, _ := ecdh.X25519().GenerateKey(rand.Reader)
	if _, err := KeyHash("log.example", x.PublicKey()); err == nil {
		t.Error("KeyHash accepted an X25519 key")
	}
	if _, err := KeyHash("log.example", ed25519.PublicKey{1, 2, 3}); err == nil {
		t.Error("KeyHash accepted a short Ed25519 key")
	}
}

func TestMarshalTLE(t *testing.T) {
	e := &Entry{Kind: KindHashedRekord, Version: Version, Canonical: []byte(`{"kind":"hashedrekord"}`)}
	var keyID [32]byte
	keyID[0], keyID[31] = 0xaa, 0xbb
	root := make([]byte, 32)
	root[0] = 1
	h0, h1 := make([]byte, 32), make([]byte, 32)
	h0[0], h1[0] = 2, 3
	checkpoint := []byte("log.example\n3\nAQAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n\n\u2014 log.example AAAAAA==\n")
	tle := NewTransparencyLogEntry(e, 1, keyID, 3, root, [][]byte{h0, h1}, checkpoint)

	got, err := MarshalTLE(tle)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"logIndex":"1","logId":{"keyId":"` + b64(keyID[:]) + `"},` +
		`"kindVersion":{"kind":"hashedrekord","version":"0.0.2"},"integratedTime":"0","inclusionPromise":null,` +
		`"inclusionProof":{"logIndex":"1","rootHash":"` + b64(root) + `","treeSize":"3","hashes":["` + b64(h0) + `","` + b64(h1) + `"],` +
		`"checkpoint":{"envelope":"log.example\n3\nAQAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n\n— log.example AAAAAA==\n"}},` +
		`"canonicalizedBody":"` + b64(e.Canonical) + `"}`
	if string(got) != want {
		t.Errorf("MarshalTLE =\n%s\nwant\n%s", got, want)
	}

	// rekor-tiles' client decodes with strict protojson.
	var back protorekor.TransparencyLogEntry
	if err := (protojson.UnmarshalOptions{DiscardUnknown: false}).Unmarshal(got, &back); err != nil {
		t.Fatal(err)
	}
	if !proto.Equal(&back, tle) {
		t.Error("round trip changed the entry")
	}

	// A one-entry tree has an empty proof, still emitted as a list.
	single, err := MarshalTLE(NewTransparencyLogEntry(e, 0, keyID, 1, root, nil, checkpoint))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(single), `"hashes":[]`) {
		t.Errorf("empty proof not emitted as []: %s", single)
	}
}

func TestNewTransparencyLogEntryPreconditions(t *testing.T) {
	e := &Entry{Kind: KindHashedRekord, Version: Version, Canonical: []byte("{}")}
	for _, tt := range []struct{ index, size uint64 }{{0, 0}, {3, 3}, {0, 1 << 63}} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("index %d, size %d: no panic", tt.index, tt.size)
				}
			}()
			NewTransparencyLogEntry(e, tt.index, [32]byte{}, tt.size, nil, nil, nil)
		}()
	}
}

package format

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/mldsa"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/binary"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	rtnote "github.com/sigstore/rekor-tiles/v2/pkg/note"
	"github.com/sigstore/sigstore/pkg/signature"
	"golang.org/x/mod/sumdb/note"
)

// checkpointText is a C2SP checkpoint body of origin at size.
func checkpointText(origin string, size uint64) string {
	h := sha256.Sum256(fmt.Appendf(nil, "%d", size))
	return fmt.Sprintf("%s\n%d\n%s\n", origin, size, base64.StdEncoding.EncodeToString(h[:]))
}

// newTestKey returns a fresh checkpoint key of type alg, round-tripped
// through PKCS #8 PEM as a key file would be.
func newTestKey(t testing.TB, alg string) crypto.Signer {
	t.Helper()
	var key crypto.Signer
	var err error
	switch alg {
	case "ed25519":
		_, key, err = ed25519.GenerateKey(rand.Reader)
	case "ecdsa-p256":
		key, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	case "ml-dsa-44":
		key, err = mldsa.GenerateKey(mldsa.MLDSA44())
	default:
		t.Fatalf("unknown key type %q", alg)
	}
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	key, err = ParsePrivateKeyPEM(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}))
	if err != nil {
		t.Fatal(err)
	}
	return key
}

// TestMLDSA44NoteInterop signs checkpoints with Hallmark's ML-DSA-44 note
// signer and verifies them with rekor-tiles v2.4's, and the other way round:
// key ID and signature format (C2SP tlog-cosignature) must agree.
func TestMLDSA44NoteInterop(t *testing.T) {
	const origin = "log.example.com"
	key := newTestKey(t, "ml-dsa-44")
	if _, ok := key.(*mldsa.PrivateKey); !ok {
		t.Fatalf("ParsePrivateKeyPEM(ml-dsa-44 PEM) = %T", key)
	}
	sv, err := signature.LoadSigner(key, crypto.Hash(0))
	if err != nil {
		t.Fatal(err)
	}
	theirSigner, err := rtnote.NewNoteSigner(context.Background(), origin, sv)
	if err != nil {
		t.Fatal(err)
	}
	vv, err := signature.LoadVerifier(key.Public(), crypto.Hash(0))
	if err != nil {
		t.Fatal(err)
	}
	theirVerifier, err := rtnote.NewNoteVerifier(origin, vv)
	if err != nil {
		t.Fatal(err)
	}
	ourSigner, err := NewNoteSigner(origin, key)
	if err != nil {
		t.Fatal(err)
	}
	ourVerifier, err := NewNoteVerifier(origin, key.Public())
	if err != nil {
		t.Fatal(err)
	}

	id, logID, err := rtnote.KeyHash(origin, key.Public())
	if err != nil {
		t.Fatal(err)
	}
	digest, err := KeyDigest(origin, key.Public())
	if err != nil {
		t.Fatal(err)
	}
	if ourSigner.KeyHash() != id || ourVerifier.KeyHash() != id || !bytes.Equal(digest[:], logID) {
		t.Fatalf("key IDs differ: ours %08x / %x, rekor-tiles %08x / %x", ourSigner.KeyHash(), digest, id, logID)
	}

	for _, tc := range []struct {
		name   string
		signer note.Signer
		verify note.Verifier
	}{
		{"hallmark signs, rekor-tiles verifies", ourSigner, theirVerifier},
		{"rekor-tiles signs, hallmark verifies", theirSigner, ourVerifier},
		{"hallmark signs, hallmark verifies", ourSigner, ourVerifier},
	} {
		t.Run(tc.name, func(t *testing.T) {
			text := checkpointText(origin, 42)
			signed, err := note.Sign(&note.Note{Text: text}, tc.signer)
			if err != nil {
				t.Fatal(err)
			}
			n, err := note.Open(signed, note.VerifierList(tc.verify))
			if err != nil {
				t.Fatalf("note.Open: %v\n%s", err, signed)
			}
			if n.Text != text {
				t.Fatalf("text %q, want %q", n.Text, text)
			}
			// A signature over another tree does not verify.
			other := strings.Replace(string(signed), text, checkpointText(origin, 43), 1)
			if _, err := note.Open([]byte(other), note.VerifierList(tc.verify)); err == nil {
				t.Fatal("a signature verified over another checkpoint")
			}
		})
	}
}

// TestMLDSA44NoteSignature pins the signature format: the timestamp is the
// signing time, big-endian, and covers the message; the key name and origin
// are bound; wrong lengths are refused.
func TestMLDSA44NoteSignature(t *testing.T) {
	const origin = "log.example.com"
	key := newTestKey(t, "ml-dsa-44")
	at := time.Date(2027, 1, 2, 3, 4, 5, 0, time.UTC)
	defer func(f func() time.Time) { noteNow = f }(noteNow)
	noteNow = func() time.Time { return at }

	s, err := NewNoteSigner(origin, key)
	if err != nil {
		t.Fatal(err)
	}
	text := []byte(checkpointText(origin, 7))
	sig, err := s.Sign(text)
	if err != nil {
		t.Fatal(err)
	}
	if len(sig) != 8+2420 {
		t.Fatalf("signature is %d bytes, want 8+2420", len(sig))
	}
	if got := binary.BigEndian.Uint64(sig); got != uint64(at.Unix()) {
		t.Fatalf("timestamp %d, want %d", got, at.Unix())
	}
	v, err := NewNoteVerifier(origin, key.Public())
	if err != nil {
		t.Fatal(err)
	}
	if !v.Verify(text, sig) {
		t.Fatal("signature does not verify")
	}
	// Extension lines are not covered (tlog-cosignature), the rest is.
	if !v.Verify(append(bytes.Clone(text), "extension line\n"...), sig) {
		t.Error("an extension line broke the signature; tlog-cosignature does not cover them")
	}
	bad := func(name string, msg, sig []byte, v note.Verifier) {
		t.Helper()
		if v.Verify(msg, sig) {
			t.Errorf("%s: verified", name)
		}
	}
	moved := bytes.Clone(sig)
	binary.BigEndian.PutUint64(moved, uint64(at.Unix())+1)
	bad("other timestamp", text, moved, v)
	bad("short signature", text, sig[:len(sig)-1], v)
	bad("long signature", text, append(bytes.Clone(sig), 0), v)
	bad("timestamp only", text, sig[:8], v)
	huge := bytes.Clone(sig)
	binary.BigEndian.PutUint64(huge, 1<<63)
	bad("timestamp past 2^63-1", text, huge, v)
	bad("other origin line", []byte(checkpointText("other.example.com", 7)), sig, v)
	bad("not a checkpoint", []byte("hello\n"), sig, v)
	// The key name is part of the message, so the same key under another
	// name does not verify (unlike Ed25519 note signatures).
	other, err := NewNoteVerifier("other.example.com", key.Public())
	if err != nil {
		t.Fatal(err)
	}
	bad("other key name", text, sig, other)
	// A non-checkpoint is refused before signing.
	if _, err := s.Sign([]byte("not a checkpoint\n")); err == nil {
		t.Error("signed a note that is not a checkpoint")
	}
}

// mldsaOpaqueSigner is a crypto.Signer that hides its key type, as a
// PKCS#11 or KMS signer does.
type mldsaOpaqueSigner struct{ k *mldsa.PrivateKey }

func (s mldsaOpaqueSigner) Public() crypto.PublicKey { return s.k.Public() }
func (s mldsaOpaqueSigner) Sign(r io.Reader, msg []byte, opts crypto.SignerOpts) ([]byte, error) {
	if opts.HashFunc() != 0 {
		return nil, errors.New("ML-DSA signs messages, not digests")
	}
	return s.k.Sign(r, msg, opts)
}

func TestMLDSA44OpaqueSigner(t *testing.T) {
	const origin = "log.example.com"
	k, err := mldsa.GenerateKey(mldsa.MLDSA44())
	if err != nil {
		t.Fatal(err)
	}
	s, err := NewNoteSigner(origin, mldsaOpaqueSigner{k})
	if err != nil {
		t.Fatal(err)
	}
	v, err := NewNoteVerifier(origin, k.Public())
	if err != nil {
		t.Fatal(err)
	}
	signed, err := note.Sign(&note.Note{Text: checkpointText(origin, 1)}, s)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := note.Open(signed, note.VerifierList(v)); err != nil {
		t.Fatal(err)
	}
}

func TestNoteKeyHashRejectsMLDSA65(t *testing.T) {
	mldsa65, err := mldsa.GenerateKey(mldsa.MLDSA65())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := NoteKeyHash("log.example.com", mldsa65.PublicKey()); err == nil {
		t.Error("NoteKeyHash accepted an ML-DSA-65 key")
	}
}

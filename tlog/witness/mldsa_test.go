package witness

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/mldsa"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/transparency-dev/merkle/rfc6962"
	"github.com/transparency-dev/merkle/testonly"
	"golang.org/x/mod/sumdb/note"

	"github.com/hallmark-dev/hallmark/tlog/format"
)

// TestWitnessMLDSA44Log: a log whose checkpoints are signed with ML-DSA-44
// (a Rekor v2 or tiles log) is named by a type 0x06 vkey, and the witness
// verifies and cosigns its checkpoints, and refuses a forged one.
func TestWitnessMLDSA44Log(t *testing.T) {
	ctx := context.Background()
	const origin = "log.example/pq"
	key, err := mldsa.GenerateKey(mldsa.MLDSA44())
	if err != nil {
		t.Fatal(err)
	}
	signer, err := format.NewNoteSigner(origin, key)
	if err != nil {
		t.Fatal(err)
	}
	vkey, err := format.LogKey(origin, key.Public())
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(vkey, origin+"+") {
		t.Fatalf("vkey %q", vkey)
	}
	logVerifier, err := format.ParseLogKey(vkey)
	if err != nil {
		t.Fatal(err)
	}
	if logVerifier.KeyHash() != signer.KeyHash() {
		t.Fatalf("vkey key ID %08x, signer %08x", logVerifier.KeyHash(), signer.KeyHash())
	}
	// A type 0x06 key of the wrong length is refused, naming the size.
	parts := strings.SplitN(vkey, "+", 3)
	raw, _ := base64.StdEncoding.DecodeString(parts[2])
	short := parts[0] + "+" + parts[1] + "+" + base64.StdEncoding.EncodeToString(raw[:len(raw)-10])
	if _, err := format.ParseLogKey(short); err == nil || !strings.Contains(err.Error(), "1312") {
		t.Errorf("truncated ML-DSA-44 vkey: %v", err)
	}

	_, wkey, _ := ed25519.GenerateKey(rand.Reader)
	ws, err := format.NewCosignatureSigner("witness.example/w1", wkey, nil)
	if err != nil {
		t.Fatal(err)
	}
	wv, _ := format.NewCosignatureVerifier("witness.example/w1", wkey.Public().(ed25519.PublicKey))
	store, err := OpenFileStore(filepath.Join(t.TempDir(), "state.json"))
	if err != nil {
		t.Fatal(err)
	}
	w, err := NewWitness(ws, []TrustedLog{{Origin: origin, Keys: []note.Verifier{logVerifier}}}, store, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	l := &testLog{origin: origin, signer: signer, tree: testonly.New(rfc6962.DefaultHasher)}
	l.grow(10)
	cp := l.checkpointAt(t, 10)
	lines, err := w.AddCheckpoint(ctx, &AddCheckpoint{Checkpoint: cp})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := note.Open(append(bytes.Clone(cp), lines...), note.VerifierList(wv, logVerifier)); err != nil {
		t.Fatalf("cosigned checkpoint: %v", err)
	}
	// Another ML-DSA-44 key under the same name is not the log.
	other, _ := mldsa.GenerateKey(mldsa.MLDSA44())
	impostor, _ := format.NewNoteSigner(origin, other)
	l.grow(1)
	forged := (&testLog{origin: origin, signer: impostor, tree: l.tree}).checkpointAt(t, 11)
	proof, _ := l.tree.ConsistencyProof(10, 11)
	if _, err := w.AddCheckpoint(ctx, &AddCheckpoint{OldSize: 10, Proof: proof, Checkpoint: forged}); !errors.Is(err, ErrNoLogSignature) {
		t.Fatalf("forged ML-DSA-44 checkpoint: %v", err)
	}
}

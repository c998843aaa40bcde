package witness

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/transparency-dev/formats/log"
	"github.com/transparency-dev/merkle/rfc6962"
	"github.com/transparency-dev/merkle/testonly"
	"golang.org/x/mod/sumdb/note"

	"github.com/hallmark-dev/hallmark/tlog"
	"github.com/hallmark-dev/hallmark/tlog/format"
)

// testLog is an in-memory log that signs checkpoints like hallmark-log.
type testLog struct {
	salt   string // makes a fork's entries differ
	origin string
	signer note.Signer
	tree   *testonly.Tree
}

func (l *testLog) grow(n int) {
	for i := 0; i < n; i++ {
		l.tree.AppendData(fmt.Appendf(nil, "%s%s entry %d", l.salt, l.origin, l.tree.Size()))
	}
}

func (l *testLog) checkpointAt(t testing.TB, size uint64) []byte {
	text := log.Checkpoint{Origin: l.origin, Size: size, Hash: l.tree.HashAt(size)}.Marshal()
	cp, err := note.Sign(&note.Note{Text: string(text)}, l.signer)
	if err != nil {
		t.Fatal(err)
	}
	return cp
}

func (l *testLog) Checkpoint(context.Context) (*tlog.Checkpoint, error) {
	size := l.tree.Size()
	return &tlog.Checkpoint{Size: size, Root: l.tree.Hash(), Note: l.checkpointAt(nil, size)}, nil
}

func (l *testLog) ConsistencyProof(_ context.Context, old, new uint64) ([][]byte, error) {
	return l.tree.ConsistencyProof(old, new)
}

func newWitness(t testing.TB, logs ...*testLog) (*Witness, note.Verifier) {
	_, key, _ := ed25519.GenerateKey(rand.Reader)
	signer, err := format.NewCosignatureSigner("witness.example/w1", key, nil)
	if err != nil {
		t.Fatal(err)
	}
	verifier, _ := format.NewCosignatureVerifier("witness.example/w1", key.Public().(ed25519.PublicKey))
	var trusted []TrustedLog
	for _, l := range logs {
		v, err := format.NewNoteVerifier(l.origin, l.signer.(*noteSignerShim).pub)
		if err != nil {
			t.Fatal(err)
		}
		trusted = append(trusted, TrustedLog{Origin: l.origin, Keys: []note.Verifier{v}})
	}
	store, err := OpenFileStore(filepath.Join(t.TempDir(), "state.json"))
	if err != nil {
		t.Fatal(err)
	}
	w, err := NewWitness(signer, trusted, store, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	return w, verifier
}

// noteSignerShim keeps the public key next to a tlog note signer.
type noteSignerShim struct {
	note.Signer
	pub ed25519.PublicKey
}

func newShimLog(t testing.TB, origin string) *testLog {
	_, key, _ := ed25519.GenerateKey(rand.Reader)
	s, err := format.NewNoteSigner(origin, key)
	if err != nil {
		t.Fatal(err)
	}
	return &testLog{origin: origin, signer: &noteSignerShim{Signer: s, pub: key.Public().(ed25519.PublicKey)}, tree: testonly.New(rfc6962.DefaultHasher)}
}

func TestParseAddCheckpoint(t *testing.T) {
	h := strings.Repeat("A", 43) + "="
	cp := "log\n2\n" + h + "\n\n— log AAAA\n"
	for _, tc := range []struct {
		body string
		ok   bool
	}{
		{"old 0\n\n" + cp, true},
		{"old 1\n" + h + "\n" + h + "\n\n" + cp, true},
		{"old 01\n\n" + cp, false},
		{"old -1\n\n" + cp, false},
		{"old +1\n\n" + cp, false},
		{"old 18446744073709551616\n\n" + cp, false},
		{"old 1\n" + h + "\n" + cp, false}, // no empty line: the origin is not a hash
		{"old 1\nAAAA\n\n" + cp, false},    // short hash
		{"old 1\n\n", false},               // no checkpoint
		{"old 1", false},
		{"Old 1\n\n" + cp, false},
		{"old 1\n" + strings.Repeat(h+"\n", 64) + "\n" + cp, false},
	} {
		r, err := ParseAddCheckpoint([]byte(tc.body))
		if tc.ok != (err == nil) {
			t.Errorf("%q: err %v", tc.body, err)
			continue
		}
		if err != nil && !errors.Is(err, ErrMalformedRequest) {
			t.Errorf("%q: error does not wrap ErrMalformedRequest", tc.body)
		}
		if err == nil && !bytes.Equal(r.Marshal(), []byte(tc.body)) {
			t.Errorf("%q does not round-trip: %q", tc.body, r.Marshal())
		}
	}
}

func FuzzParseAddCheckpoint(f *testing.F) {
	h := strings.Repeat("A", 43) + "="
	f.Add([]byte("old 0\n\nlog\n0\n" + h + "\n\n— log AAAA\n"))
	f.Add([]byte("old 5\n" + h + "\n\nlog\n6\n" + h + "\n\n— log AAAA\n"))
	f.Fuzz(func(t *testing.T, body []byte) {
		r, err := ParseAddCheckpoint(body)
		if err != nil {
			return
		}
		if len(r.Proof) > MaxProofLines || len(r.Checkpoint) == 0 {
			t.Fatalf("accepted %d proof lines / empty checkpoint", len(r.Proof))
		}
		// What parses re-encodes to the same bytes and parses the same.
		if !bytes.Equal(r.Marshal(), body) {
			t.Fatalf("round trip changed %q into %q", body, r.Marshal())
		}
	})
}

func TestWitnessAddCheckpoint(t *testing.T) {
	ctx := context.Background()
	l := newShimLog(t, "log.example/a")
	w, wv := newWitness(t, l)
	l.grow(10)
	add := func(old uint64, proof [][]byte, cp []byte) ([]byte, error) {
		return w.AddCheckpoint(ctx, &AddCheckpoint{OldSize: old, Proof: proof, Checkpoint: cp})
	}
	mustProof := func(a, b uint64) [][]byte {
		p, err := l.tree.ConsistencyProof(a, b)
		if err != nil {
			t.Fatal(err)
		}
		return p
	}

	// First contact: old size 0, no proof.
	cp10 := l.checkpointAt(t, 10)
	lines, err := add(0, nil, cp10)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := note.Open(append(bytes.Clone(cp10), lines...), note.VerifierList(wv)); err != nil {
		t.Fatalf("cosignature does not verify: %v\n%s", err, lines)
	}
	// Stale old size: 409 with the witness's size.
	l.grow(5)
	var conflict *ConflictError
	if _, err := add(0, nil, l.checkpointAt(t, 15)); !errors.As(err, &conflict) || conflict.Size != 10 {
		t.Fatalf("stale old size: %v", err)
	}
	// Bad proof: 422.
	bad := mustProof(10, 15)
	bad[0] = bytes.Repeat([]byte{1}, 32)
	if _, err := add(10, bad, l.checkpointAt(t, 15)); !errors.Is(err, ErrInconsistent) {
		t.Fatalf("bad proof: %v", err)
	}
	// Old size beyond the checkpoint: 400.
	if _, err := add(16, nil, l.checkpointAt(t, 15)); !errors.Is(err, ErrOldSizeTooLarge) {
		t.Fatalf("old > new: %v", err)
	}
	// Good proof: cosigned, and the witness moves to 15.
	if _, err := add(10, mustProof(10, 15), l.checkpointAt(t, 15)); err != nil {
		t.Fatal(err)
	}
	// Same size again: accepted (fresh timestamp) only with the same root.
	if _, err := add(15, nil, l.checkpointAt(t, 15)); err != nil {
		t.Fatalf("resubmission: %v", err)
	}
	fork := newShimLog(t, "log.example/a")
	fork.signer, fork.salt = l.signer, "fork " // same key, different tree
	fork.grow(15)
	if _, err := add(15, nil, fork.checkpointAt(t, 15)); !errors.Is(err, ErrInconsistent) {
		t.Fatalf("fork at the same size: %v", err)
	}
	fork.grow(5)
	l.grow(5)
	if _, err := add(15, mustProof(15, 20), fork.checkpointAt(t, 20)); !errors.Is(err, ErrInconsistent) {
		t.Fatalf("fork with a proof of the real log: %v", err)
	}
	// A smaller tree cannot roll the witness back.
	if _, err := add(15, nil, l.checkpointAt(t, 12)); !errors.Is(err, ErrOldSizeTooLarge) {
		t.Fatalf("rollback: %v", err)
	}
	// Unknown origin: 404; another key: 403.
	other := newShimLog(t, "log.example/b")
	other.grow(1)
	if _, err := add(0, nil, other.checkpointAt(t, 1)); !errors.Is(err, ErrUnknownLog) {
		t.Fatalf("unknown log: %v", err)
	}
	impostor := newShimLog(t, "log.example/a")
	impostor.grow(1)
	if _, err := add(15, nil, impostor.checkpointAt(t, 1)); !errors.Is(err, ErrNoLogSignature) {
		t.Fatalf("wrong key: %v", err)
	}
	// The state survives a restart, with the log's and the witness's
	// signatures on the stored checkpoint.
	stored, _ := w.store.Latest(ctx, "log.example/a")
	if _, err := note.Open(stored, note.VerifierList(wv, l.vkeyShim())); err != nil {
		t.Fatalf("stored checkpoint: %v\n%s", err, stored)
	}
	fs2, err := OpenFileStore(w.store.(*FileStore).path)
	if err != nil {
		t.Fatal(err)
	}
	if again, _ := fs2.Latest(ctx, "log.example/a"); !bytes.Equal(again, stored) {
		t.Fatal("state file lost the checkpoint")
	}
}

func (l *testLog) vkeyShim() note.Verifier {
	v, _ := format.NewNoteVerifier(l.origin, l.signer.(*noteSignerShim).pub)
	return v
}

func TestWitnessHTTP(t *testing.T) {
	l := newShimLog(t, "log.example/a")
	w, _ := newWitness(t, l)
	srv := httptest.NewServer(w.Handler("/w"))
	defer srv.Close()
	l.grow(3)
	post := func(body string) (*http.Response, string) {
		resp, err := http.Post(srv.URL+"/w/add-checkpoint", "text/plain", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp, string(b)
	}
	cp := string(l.checkpointAt(t, 3))
	if resp, body := post("old 0\n\n" + cp); resp.StatusCode != 200 || !strings.HasPrefix(body, "— witness.example/w1 ") {
		t.Fatalf("add: %d %q", resp.StatusCode, body)
	}
	if resp, body := post("old 1\n\n" + cp); resp.StatusCode != 409 || body != "3\n" || resp.Header.Get("Content-Type") != "text/x.tlog.size" {
		t.Fatalf("conflict: %d %q %q", resp.StatusCode, resp.Header.Get("Content-Type"), body)
	}
	if resp, _ := post("old x\n\n" + cp); resp.StatusCode != 400 {
		t.Fatalf("malformed: %d", resp.StatusCode)
	}
	if resp, _ := post("old 0\n\nother.example\n1\n" + strings.Repeat("A", 43) + "=\n\n— other.example AAAAAA==\n"); resp.StatusCode != 404 {
		t.Fatalf("unknown: %d", resp.StatusCode)
	}
	resp, err := http.Get(srv.URL + "/w/" + fmt.Sprintf("%x", sha256.Sum256([]byte("log.example/a"))) + "/checkpoint")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.HasPrefix(string(b), "log.example/a\n3\n") {
		t.Fatalf("monitor retrieval: %d %q", resp.StatusCode, b)
	}
}

// TestCosigner runs a Cosigner against a Witness over HTTP: checkpoints are
// cosigned as the log grows, a 409 is recovered from, and a witness that was
// fed a fork stops cosigning.
func TestCosigner(t *testing.T) {
	l := newShimLog(t, "log.example/a")
	w, wv := newWitness(t, l)
	srv := httptest.NewServer(w.Handler(""))
	defer srv.Close()
	c, err := NewCosigner(CosignerConfig{Log: "a", Witnesses: []Endpoint{{URL: srv.URL, Key: wv}}, Interval: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	c.Start(l)
	defer c.Close()
	waitFor := func(size uint64) {
		t.Helper()
		c.Notify(nil)
		deadline := time.Now().Add(60 * time.Second)
		for time.Now().Before(deadline) {
			if cp := c.Cosigned(); cp != nil && bytes.HasPrefix(cp, fmt.Appendf(nil, "log.example/a\n%d\n", size)) {
				if _, err := note.Open(cp, note.VerifierList(wv, l.vkeyShim())); err != nil {
					t.Fatalf("cosigned checkpoint does not verify: %v", err)
				}
				return
			}
			time.Sleep(10 * time.Millisecond)
		}
		t.Fatalf("checkpoint %d was not cosigned; have %q", size, c.Cosigned())
	}
	l.grow(4)
	waitFor(4)
	l.grow(300)
	waitFor(304)
	// Someone else moved the witness forward: the cosigner learns the
	// size from the 409 and proves consistency from there.
	l.grow(10)
	if _, err := w.AddCheckpoint(context.Background(), &AddCheckpoint{OldSize: 304, Proof: mustConsistency(t, l, 304, 310), Checkpoint: l.checkpointAt(t, 310)}); err != nil {
		t.Fatal(err)
	}
	l.grow(1)
	waitFor(315)
}

func mustConsistency(t testing.TB, l *testLog, a, b uint64) [][]byte {
	p, err := l.tree.ConsistencyProof(a, b)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

package audit

import (
	"crypto/mldsa"
	"crypto/sha256"
	"strings"
	"testing"
	"time"

	"github.com/transparency-dev/formats/log"
	"golang.org/x/mod/sumdb/note"

	"github.com/hallmark-dev/hallmark/tlog/format"
	"github.com/hallmark-dev/hallmark/tlog/rekorv2"
	"github.com/hallmark-dev/hallmark/trust/clientconfig"
)

// TestMLDSA44Log: a trusted_root.json that lists a Rekor v2 log with an
// ML-DSA-44 key (as hallmark trust-root writes it) gives the auditor that
// key, and the auditor verifies the log's ML-DSA-44 checkpoints. Rekor v1
// and CT logs cannot have such a key.
func TestMLDSA44Log(t *testing.T) {
	const logURL = "https://pq.log.example"
	key, err := mldsa.GenerateKey(mldsa.MLDSA44())
	if err != nil {
		t.Fatal(err)
	}
	id, err := rekorv2.KeyHash("pq.log.example", key.Public())
	if err != nil {
		t.Fatal(err)
	}
	raw, err := clientconfig.TrustedRoot(clientconfig.TrustedRootParams{
		Tlogs: []clientconfig.Log{{BaseURL: logURL, PublicKey: key.Public(), KeyID: id[:], Start: time.Unix(1_800_000_000, 0)}},
	})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(raw), `"ML_DSA_44"`) {
		t.Fatalf("trusted root does not name ML_DSA_44:\n%s", raw)
	}
	tr, err := ParseTrustedRoot(raw)
	if err != nil {
		t.Fatal(err)
	}
	tl, err := tr.ByLogID(id[:])
	if err != nil {
		t.Fatal(err)
	}
	if !key.PublicKey().Equal(tl.Key) {
		t.Fatalf("trusted root key %T differs", tl.Key)
	}
	l, err := NewLog(KindRekorV2, logURL, DefaultOrigin(KindRekorV2, logURL), tl.Key, nil)
	if err != nil {
		t.Fatal(err)
	}
	signer, err := format.NewNoteSigner("pq.log.example", key)
	if err != nil {
		t.Fatal(err)
	}
	h := sha256.Sum256([]byte("root"))
	text := log.Checkpoint{Origin: "pq.log.example", Size: 3, Hash: h[:]}.Marshal()
	signed, err := note.Sign(&note.Note{Text: string(text)}, signer)
	if err != nil {
		t.Fatal(err)
	}
	cp, err := l.VerifyCheckpoint(signed)
	if err != nil {
		t.Fatalf("VerifyCheckpoint: %v", err)
	}
	if cp.Size != 3 {
		t.Fatalf("size %d", cp.Size)
	}
	other, _ := mldsa.GenerateKey(mldsa.MLDSA44())
	forger, _ := format.NewNoteSigner("pq.log.example", other)
	forged, _ := note.Sign(&note.Note{Text: string(text)}, forger)
	if _, err := l.VerifyCheckpoint(forged); err == nil {
		t.Fatal("a checkpoint signed by another ML-DSA-44 key verified")
	}
	for _, kind := range []Kind{KindRekorV1, KindCT} {
		if _, err := NewLog(kind, logURL, "", key.Public(), nil); err == nil {
			t.Errorf("NewLog(%s) accepted an ML-DSA-44 key", kind)
		}
	}
}

package ca

import (
	"strings"
	"testing"
	"time"
)

// TestRotate: a rotated intermediate and TSA certificate chain to the same
// root with the old subjects and new keys; a chain under another root is
// refused, and nothing is overwritten.
func TestRotate(t *testing.T) {
	dir := t.TempDir()
	d, err := NewDeployment(InitOptions{Organization: "Acme"})
	if err != nil {
		t.Fatal(err)
	}
	pw := []byte("pw")
	if err := d.WriteFiles(dir, pw); err != nil {
		t.Fatal(err)
	}
	tsa, err := InitTSA(dir, pw, TSAInitOptions{})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 11, 27, 1, 0, 0, 0, time.UTC)
	ri, err := RotateIntermediate(dir, pw, d.Chain(), RotateOptions{Now: now})
	if err != nil {
		t.Fatal(err)
	}
	if err := VerifyChain(ri.Chain, nil); err != nil || !ri.Chain[1].Equal(d.Root) ||
		ri.Chain[0].Subject.String() != d.Intermediate.Subject.String() || publicKeysEqual(ri.Chain[0].PublicKey, d.Intermediate.PublicKey) ||
		!strings.HasSuffix(ri.ChainFile, "chain-20261127T010000Z.pem") {
		t.Fatalf("rotated intermediate: %v %+v", err, ri)
	}
	if _, err := LoadEncryptedKeyFile(ri.KeyFile, pw); err != nil {
		t.Fatalf("new key: %v", err)
	}
	rt, err := RotateTSA(dir, pw, tsa, RotateOptions{Now: now})
	if err != nil {
		t.Fatal(err)
	}
	if err := VerifyTSAChain(rt.Chain, time.Now()); err != nil || rt.Chain[0].Subject.String() != tsa[0].Subject.String() {
		t.Fatalf("rotated TSA: %v", err)
	}
	if _, err := RotateIntermediate(dir, pw, d.Chain(), RotateOptions{Now: now}); err == nil || !strings.Contains(err.Error(), "already exists") {
		t.Fatalf("second rotation in the same second: %v", err)
	}
	other, _ := NewDeployment(InitOptions{Organization: "Other"})
	if _, err := RotateIntermediate(dir, pw, other.Chain(), RotateOptions{}); err == nil || !strings.Contains(err.Error(), "keeps the root") {
		t.Fatalf("chain under another root: %v", err)
	}
	if _, err := RotateIntermediate(dir, []byte("wrong"), d.Chain(), RotateOptions{}); err == nil {
		t.Fatal("wrong password accepted")
	}
}

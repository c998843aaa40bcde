package main

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
	"time"

	prototrustroot "github.com/sigstore/protobuf-specs/gen/pb-go/trustroot/v1"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/hallmark-dev/hallmark/ca"
)

// TestTrustRootRotatedCA: after an intermediate rotation, `hallmark
// trust-root` lists the old chain with end= and the new one, and
// both validity ranges are in it; an end before the start is refused.
func TestTrustRootRotatedCA(t *testing.T) {
	dir := t.TempDir()
	d, err := ca.NewDeployment(ca.InitOptions{Organization: "Acme"})
	if err != nil {
		t.Fatal(err)
	}
	if err := d.WriteFiles(dir, []byte("pw")); err != nil {
		t.Fatal(err)
	}
	old := filepath.Join(dir, ca.ChainFile)
	rot, err := ca.RotateIntermediate(dir, []byte("pw"), d.Chain(), ca.RotateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "trusted_root.json")
	err = runTrustRoot([]string{"--out", out,
		"--ca", "uri=https://ca.example.com,chain=" + old + ",start=2026-01-01T00:00:00Z,end=2026-06-01T01:00:00Z",
		"--ca", "uri=https://ca.example.com,chain=" + rot.ChainFile + ",start=2026-06-01T00:00:00Z"})
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := os.ReadFile(out)
	var tr prototrustroot.TrustedRoot
	if err := protojson.Unmarshal(raw, &tr); err != nil {
		t.Fatal(err)
	}
	cas := tr.CertificateAuthorities
	if len(cas) != 2 {
		t.Fatalf("%d CAs", len(cas))
	}
	a, b := cas[0], cas[1]
	if !a.ValidFor.End.AsTime().Equal(time.Date(2026, 6, 1, 1, 0, 0, 0, time.UTC)) || b.ValidFor.End != nil ||
		!bytes.Equal(a.CertChain.Certificates[0].RawBytes, d.Intermediate.Raw) ||
		!bytes.Equal(b.CertChain.Certificates[0].RawBytes, rot.Chain[0].Raw) ||
		!bytes.Equal(a.CertChain.Certificates[1].RawBytes, b.CertChain.Certificates[1].RawBytes) {
		t.Fatalf("CAs:\n%s", raw)
	}
	err = runTrustRoot([]string{"--out", out, "--ca", "uri=u,chain=" + old + ",start=2026-01-01T00:00:00Z,end=2025-01-01T00:00:00Z"})
	if err == nil {
		t.Fatal("an end before the start was accepted")
	}
	if _, err := os.Stat(rot.KeyFile); err != nil {
		t.Fatal(err)
	}
}

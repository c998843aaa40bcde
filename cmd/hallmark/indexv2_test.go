package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"fmt"
	"math/big"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	protocommon "github.com/sigstore/protobuf-specs/gen/pb-go/common/v1"
	rekortilespb "github.com/sigstore/rekor-tiles/v2/pkg/generated/protobuf"

	"github.com/hallmark-dev/hallmark/tlog"
	"github.com/hallmark-dev/hallmark/tlog/format"
	"github.com/hallmark-dev/hallmark/tlog/rekorv2"
)

// TestIndexV2 logs Rekor v2 entries without search keys, as Hallmark did
// before it indexed v2 logs, and indexes them with `hallmark index-v2`:
// twice, the second run adding nothing.
func TestIndexV2(t *testing.T) {
	dir := t.TempDir()
	keyPEM, _ := tlog.GenerateKey("ed25519")
	os.WriteFile(filepath.Join(dir, "k.pem"), keyPEM, 0o600)
	config := filepath.Join(dir, "hallmark-log.yaml")
	os.WriteFile(config, fmt.Appendf(nil, `
database: {sqlite: log.db}
logs:
  - {name: v2, kind: rekor-v2, url: "https://v2.example.com/v2", key_file: k.pem}
  - {name: plain, kind: tiles, url: "https://v2.example.com/plain", key_file: k.pem}
`), 0o600)
	ctx := context.Background()
	store, err := tlog.OpenSQLite(ctx, filepath.Join(dir, "log.db"))
	if err != nil {
		t.Fatal(err)
	}
	key, _ := tlog.ParsePrivateKey(keyPEM)
	signer, _ := format.NewNoteSigner("v2.example.com", key)
	l, err := tlog.Open(ctx, store, tlog.Config{Name: "v2", Origin: "v2.example.com", Signer: signer, BatchMaxAge: time.Millisecond,
		Index: store, History: store})
	if err != nil {
		t.Fatal(err)
	}
	signKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	const n = 300 // more than one entry bundle
	for i := range n {
		d := sha256.Sum256(fmt.Appendf(nil, "artifact %d", i))
		sig, _ := ecdsa.SignASN1(rand.Reader, signKey, d[:])
		tmpl := &x509.Certificate{SerialNumber: big.NewInt(int64(i + 1)), Subject: pkix.Name{CommonName: "s"},
			EmailAddresses: []string{fmt.Sprintf("dev%d@corp.example", i%3)}, NotBefore: time.Now(), NotAfter: time.Now().Add(time.Hour)}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, signKey.Public(), signKey)
		if err != nil {
			t.Fatal(err)
		}
		e, err := rekorv2.Canonicalize(&rekortilespb.CreateEntryRequest{Spec: &rekortilespb.CreateEntryRequest_HashedRekordRequestV002{
			HashedRekordRequestV002: &rekortilespb.HashedRekordRequestV002{Digest: d[:], Signature: &rekortilespb.Signature{Content: sig,
				Verifier: &rekortilespb.Verifier{KeyDetails: protocommon.PublicKeyDetails_PKIX_ECDSA_P256_SHA_256,
					Verifier: &rekortilespb.Verifier_X509Certificate{X509Certificate: &protocommon.X509Certificate{RawBytes: der}}}}}}}, rekorv2.DefaultOptions())
		if err != nil {
			t.Fatal(err)
		}
		if _, err := l.Append(ctx, tlog.Entry{Data: e.Canonical, LeafHash: e.LeafHash()}); err != nil {
			t.Fatal(err)
		}
	}
	l.Close()
	if got, _ := store.Search(ctx, "v2", []string{"dev1@corp.example"}, 1000); len(got) != 0 {
		t.Fatalf("entries indexed before the backfill: %v", got)
	}
	store.Close()

	for range 2 {
		if err := runIndexV2([]string{"--config", config, "--batch", "256"}); err != nil {
			t.Fatal(err)
		}
	}
	store, err = tlog.OpenSQLite(ctx, filepath.Join(dir, "log.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	got, err := store.Search(ctx, "v2", []string{"dev1@corp.example"}, 1000)
	if err != nil || len(got) != n/3 || got[0] != 1 || got[len(got)-1] != n-2 {
		t.Fatalf("dev1's entries after the backfill: %v, %v", got, err)
	}
	d := sha256.Sum256([]byte("artifact 299"))
	if got, err := store.Search(ctx, "v2", []string{fmt.Sprintf("sha256:%x", d)}, 10); err != nil || !slices.Equal(got, []uint64{299}) {
		t.Fatalf("the last entry's artifact hash: %v, %v", got, err)
	}
	if err := runIndexV2([]string{"--config", config, "--log", "plain"}); err == nil {
		t.Fatal("index-v2 indexed a tiles log")
	}
}

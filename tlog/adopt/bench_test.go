package adopt

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/hex"
	"encoding/pem"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/transparency-dev/merkle/rfc6962"
	"github.com/transparency-dev/merkle/testonly"

	"github.com/hallmark-dev/hallmark/tlog"
	"github.com/hallmark-dev/hallmark/tlog/rekorv1"
)

// BenchmarkImport measures the Hallmark side of an adoption: verifying
// leaves, rebuilding search keys and committing batches, from leaves
// already in memory (no Trillian). b.N is the number of entries; the leaves
// are Rekor hashedrekord entries like cosign's, two thirds signed with
// short-lived certificates (keyless), one third with keys. perSecond is how
// many consecutive leaves share an integration second, which decides the
// number of batches (one per second).
//
//	./scripts/with-postgres.sh go test -run '^$' -bench Import -benchtime 200000x ./tlog/adopt
func BenchmarkImport(b *testing.B) {
	for _, perSecond := range []int{1000, 100, 20, 1} {
		b.Run(fmt.Sprintf("store=postgres/per-second=%d", perSecond), func(b *testing.B) {
			url := os.Getenv("HALLMARK_TEST_DATABASE_URL")
			if url == "" {
				b.Skip("HALLMARK_TEST_DATABASE_URL not set (use ./scripts/with-postgres.sh)")
			}
			benchImport(b, func() tlog.Store {
				s, err := tlog.OpenPG(context.Background(), url)
				if err != nil {
					b.Fatal(err)
				}
				return s
			}, perSecond)
		})
	}
	b.Run("store=sqlite/per-second=100", func(b *testing.B) {
		dir := b.TempDir()
		benchImport(b, func() tlog.Store {
			s, err := tlog.OpenSQLite(context.Background(), filepath.Join(dir, "log.db"))
			if err != nil {
				b.Fatal(err)
			}
			return s
		}, 100)
	})
}

func benchImport(b *testing.B, open func() tlog.Store, perSecond int) {
	src := rekorLeaves(b, b.N, perSecond)
	s := open()
	defer s.Close()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	signer, err := tlog.NewNoteSigner("rekor.example.com", key)
	if err != nil {
		b.Fatal(err)
	}
	l, err := tlog.Open(context.Background(), s, tlog.Config{
		Name: fmt.Sprintf("bench-%d", time.Now().UnixNano()), Origin: "rekor.example.com - 1", Signer: signer,
	})
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close()
	im := &Importer{
		Log: l, Store: s, Source: src, IndexKeys: rekorv1.IndexKeysFromCanonical,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
	}
	b.ResetTimer()
	res, err := im.Run(context.Background())
	b.StopTimer()
	if err != nil {
		b.Fatal(err)
	}
	if res.Imported() != uint64(b.N) || res.NoIndexKeys != 0 {
		b.Fatalf("imported %d of %d, %d without keys", res.Imported(), b.N, res.NoIndexKeys)
	}
	// The source is memory: the run's wall time is the Hallmark side.
	b.ReportMetric(float64(b.N)/res.Elapsed.Seconds(), "entries/s")
	b.ReportMetric(float64(res.Batches), "batches")
	b.ReportMetric(float64(b.N)/res.PrepareTime.Seconds(), "prepare-entries/s")
	b.ReportMetric(float64(b.N)/res.CommitTime.Seconds(), "commit-entries/s")
	var bytes int
	for _, l := range src.leaves {
		bytes += len(l.Value)
	}
	b.ReportMetric(float64(bytes)/float64(b.N), "bytes/entry")
}

var (
	leafCacheMu sync.Mutex
	leafCache   = map[int][][]byte{}
)

// rekorLeaves returns a source of n canonical hashedrekord leaves, made
// once per n and reused across sub-benchmarks.
func rekorLeaves(b *testing.B, n, perSecond int) *memSource {
	b.Helper()
	leafCacheMu.Lock()
	values, ok := leafCache[n]
	if !ok {
		values = makeRekorLeaves(b, n)
		leafCache[n] = values
	}
	leafCacheMu.Unlock()
	s := &memSource{tree: testonly.New(rfc6962.DefaultHasher), size: uint64(n), badValue: map[uint64][]byte{}, badHash: map[uint64][]byte{}}
	t0 := time.Unix(1700000000, 0)
	for i, v := range values {
		s.leaves = append(s.leaves, Leaf{Index: uint64(i), Value: v, LeafHash: rfc6962.DefaultHasher.HashLeaf(v),
			Integrated: t0.Add(time.Duration(i/perSecond) * time.Second)})
		s.tree.AppendData(v)
	}
	return s
}

func makeRekorLeaves(b *testing.B, n int) [][]byte {
	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	ca := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "bench CA"},
		NotBefore: time.Unix(1600000000, 0), NotAfter: time.Unix(1900000000, 0), IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign}
	type signer struct {
		key *ecdsa.PrivateKey
		pem string // base64 of the PEM public key or certificate
	}
	signers := make([]signer, 300)
	for i := range signers {
		k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		var block *pem.Block
		if i%3 == 0 {
			der, _ := x509.MarshalPKIXPublicKey(k.Public())
			block = &pem.Block{Type: "PUBLIC KEY", Bytes: der}
		} else {
			tmpl := &x509.Certificate{SerialNumber: big.NewInt(int64(i + 2)), NotBefore: time.Unix(1700000000, 0), NotAfter: time.Unix(1700000600, 0),
				EmailAddresses: []string{fmt.Sprintf("dev%d@example.com", i)}, KeyUsage: x509.KeyUsageDigitalSignature,
				ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageCodeSigning}}
			der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, k.Public(), caKey)
			if err != nil {
				b.Fatal(err)
			}
			block = &pem.Block{Type: "CERTIFICATE", Bytes: der}
		}
		signers[i] = signer{k, base64.StdEncoding.EncodeToString(pem.EncodeToMemory(block))}
	}
	out := make([][]byte, n)
	var wg sync.WaitGroup
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := w; i < n; i += 4 {
				s := signers[i%len(signers)]
				d := sha256.Sum256(fmt.Appendf(nil, "artifact %d", i))
				sig, _ := ecdsa.SignASN1(rand.Reader, s.key, d[:])
				req := fmt.Sprintf(`{"apiVersion":"0.0.1","kind":"hashedrekord","spec":{"data":{"hash":{"algorithm":"sha256","value":%q}},"signature":{"content":%q,"publicKey":{"content":%q}}}}`,
					hex.EncodeToString(d[:]), base64.StdEncoding.EncodeToString(sig), s.pem)
				e, err := rekorv1.Canonicalize([]byte(req), rekorv1.DefaultOptions())
				if err != nil {
					b.Error(err)
					return
				}
				out[i] = e.Canonical
			}
		}(w)
	}
	wg.Wait()
	return out
}

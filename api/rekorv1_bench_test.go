package api

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"log/slog"
	"math/big"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/hallmark-dev/hallmark/tlog"
)

// BenchmarkRekorV1CreateEntry measures POST /api/v1/log/entries in
// process (no sockets): hashedrekord entries pre-signed by 512 distinct
// keys, or keyless with a fresh certificate per entry from 1,000
// identities, 256 requests in flight. On PostgreSQL when
// HALLMARK_TEST_DATABASE_URL is set (scripts/with-postgres.sh), else
// SQLite. Besides ns/op it reports cpu-µs/op, this process's CPU per entry
// (the server's: the database server's CPU is not in it); -cpuprofile
// splits it by component.
//
//	scripts/with-postgres.sh go test -run '^$' -bench RekorV1CreateEntry -benchtime 5000x ./api/
func BenchmarkRekorV1CreateEntry(b *testing.B) {
	for _, mix := range []struct {
		name    string
		keyless bool
	}{{"keys=512", false}, {"keyless", true}} {
		b.Run(mix.name, func(b *testing.B) {
			h := benchRekorV1Service(b)
			bodies := benchHashedRekords(b, b.N, mix.keyless)
			var next atomic.Int64
			var failed atomic.Int64
			b.SetParallelism(max(1, 256/runtime.GOMAXPROCS(0)))
			cpu0 := processCPU()
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					body := bodies[next.Add(1)-1]
					w := httptest.NewRecorder()
					h.ServeHTTP(w, httptest.NewRequest(http.MethodPost, "/api/v1/log/entries", bytes.NewReader(body)))
					if w.Code != http.StatusCreated {
						if failed.Add(1) == 1 {
							b.Errorf("status %d: %s", w.Code, w.Body)
						}
					}
				}
			})
			b.StopTimer()
			b.ReportMetric(float64((processCPU()-cpu0).Microseconds())/float64(b.N), "cpu-µs/op")
		})
	}
}

// benchRekorV1Service serves one rekor-v1 log on a fresh store.
func benchRekorV1Service(b *testing.B) http.Handler {
	b.Helper()
	dir := b.TempDir()
	key, _ := tlog.GenerateKey("ecdsa-p256")
	os.WriteFile(filepath.Join(dir, "k.pem"), key, 0o600)
	db := fmt.Sprintf("{sqlite: %q}", filepath.Join(dir, "db"))
	if url := os.Getenv("HALLMARK_TEST_DATABASE_URL"); url != "" {
		db = fmt.Sprintf("{url: %q}", url)
	}
	var suffix [6]byte
	rand.Read(suffix[:])
	cfg, err := tlog.ParseServiceConfig(fmt.Appendf(nil, `
database: %s
logs:
  - {name: bench-v1-%x, kind: rekor-v1, url: https://rekor.example.com, key_file: %q, rekor: {tree_id: 42}}
`, db, suffix, filepath.Join(dir, "k.pem")))
	if err != nil {
		b.Fatal(err)
	}
	svc, err := NewLogService(context.Background(), cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(svc.Close)
	return svc.Handler()
}

// benchHashedRekords signs n distinct artifacts: with 512 keys in turn, or
// each with a fresh key and a certificate for one of 1,000 email
// identities from one CA (as Fulcio issues them).
func benchHashedRekords(b *testing.B, n int, keyless bool) [][]byte {
	b.Helper()
	ca, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "bench CA"}, IsCA: true,
		BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	caDER, _ := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, ca.Public(), ca)
	caCert, _ := x509.ParseCertificate(caDER)
	type signer struct {
		key *ecdsa.PrivateKey
		pem []byte
	}
	newKey := func() signer {
		k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		der, _ := x509.MarshalPKIXPublicKey(k.Public())
		return signer{k, pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})}
	}
	var keys []signer
	if !keyless {
		for range 512 {
			keys = append(keys, newKey())
		}
	}
	var prefix [16]byte
	rand.Read(prefix[:])
	bodies := make([][]byte, n)
	for i := range bodies {
		var s signer
		if keyless {
			s = newKey()
			tmpl := &x509.Certificate{SerialNumber: big.NewInt(int64(i) + 2), NotBefore: time.Now().Add(-time.Minute), NotAfter: time.Now().Add(10 * time.Minute),
				KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageCodeSigning},
				EmailAddresses: []string{fmt.Sprintf("user%d@example.com", i%1000)}}
			der, err := x509.CreateCertificate(rand.Reader, tmpl, caCert, s.key.Public(), ca)
			if err != nil {
				b.Fatal(err)
			}
			s.pem = pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
		} else {
			s = keys[i%len(keys)]
		}
		d := sha256.Sum256(fmt.Appendf(prefix[:], "%d", i))
		sig, _ := ecdsa.SignASN1(rand.Reader, s.key, d[:])
		bodies[i], _ = json.Marshal(map[string]any{"apiVersion": "0.0.1", "kind": "hashedrekord", "spec": map[string]any{
			"data":      map[string]any{"hash": map[string]any{"algorithm": "sha256", "value": hex.EncodeToString(d[:])}},
			"signature": map[string]any{"content": sig, "publicKey": map[string]any{"content": s.pem}},
		}})
	}
	return bodies
}

// processCPU is the user and system CPU this process has used.
func processCPU() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru) //nolint:errcheck
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

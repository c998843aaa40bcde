package rekorv1

// The most expensive requests the default limits allow, one benchmark per
// kind (docs/BENCHMARKS.md, "Worst-case entry verification"):
//
//	go test -run '^$' -bench WorstCase ./tlog/...
//
// P-521 is the slowest signature check a key allowed here gives (RSA-8192
// is close); Ed25519 hashes the whole message for every check, so its
// worst case is the largest payload the checks × bytes limit allows.

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha512"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/hex"
	"encoding/pem"
	"math/big"
	"strconv"
	"testing"
	"time"

	"github.com/hallmark-dev/hallmark/internal/benchutil"
)

// benchCanonicalize measures Canonicalize of body; wantErr says whether
// the request is refused (after paying for its checks) or accepted.
func benchCanonicalize(b *testing.B, body []byte, wantErr bool) {
	b.Helper()
	if _, err := Canonicalize(body, DefaultOptions()); (err != nil) != wantErr {
		b.Fatalf("Canonicalize: %v (want error: %v)", err, wantErr)
	}
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	cpu := benchutil.StartCPU()
	for b.Loop() {
		Canonicalize(body, DefaultOptions()) //nolint:errcheck // checked above
	}
	cpu.Report(b)
}

func keysOf(b *testing.B, kind string, n int) []*testKey {
	keys := make([]*testKey, n)
	for i := range keys {
		keys[i] = newTestKey(b, kind)
	}
	return keys
}

// payloadOf is an in-toto-typed payload of n bytes.
func payloadOf(n int) []byte { return bytes.Repeat([]byte("x"), n) }

// BenchmarkWorstCaseDSSE: 8 signatures and 2 verifiers, the second key
// listed first; each key tries the signatures in order, 8 + 7 = 15 checks,
// then the request is refused (six signatures have no key).
func BenchmarkWorstCaseDSSE(b *testing.B) {
	for _, kind := range []string{"p521", "ed25519"} {
		b.Run(kind, func(b *testing.B) {
			keys := keysOf(b, kind, 8)
			env := envelopeString(b, inToto, payloadOf(1<<20-1), keys...)
			benchCanonicalize(b, body(b, dsseRequest(b, env, keys[7].pem, keys[6].pem)), true)
		})
	}
	// The request: 800 keys, 800 signatures in reverse order.
	b.Run("issue16-800", func(b *testing.B) {
		keys := keysOf(b, "ed25519", 800)
		env := envelopeString(b, inToto, statement(), keys...)
		benchCanonicalize(b, body(b, dsseRequest(b, env, pems(reversed(keys))...)), true)
	})
}

// BenchmarkWorstCaseIntotoV002: 4 signatures, each with a key; the keys
// are those of signatures 4, 3 and 2 and an unrelated one, so they try
// 4 + 3 + 2 + 4 = 13 signatures before the request is refused.
func BenchmarkWorstCaseIntotoV002(b *testing.B) {
	for _, kind := range []string{"p521", "ed25519"} {
		b.Run(kind, func(b *testing.B) {
			keys := keysOf(b, kind, 5)
			req := intotoV2Request(b, inToto, payloadOf(1<<20-1), keys[:4]...)
			sigs := req["spec"].(map[string]any)["content"].(map[string]any)["envelope"].(map[string]any)["signatures"].([]any)
			for i, k := range []*testKey{keys[3], keys[2], keys[1], keys[4]} {
				sigs[i].(map[string]any)["publicKey"] = base64.StdEncoding.EncodeToString(k.pem)
			}
			benchCanonicalize(b, body(b, req), true)
		})
	}
}

// BenchmarkWorstCaseIntotoV001: 8 signatures, the key's last, so 8 checks;
// accepted.
func BenchmarkWorstCaseIntotoV001(b *testing.B) {
	for _, kind := range []string{"p521", "ed25519"} {
		b.Run(kind, func(b *testing.B) {
			keys := keysOf(b, kind, 8)
			env := envelopeString(b, inToto, payloadOf(2<<20-2), keys...)
			benchCanonicalize(b, body(b, intotoV1Request(env, keys[7].pem)), false)
		})
	}
}

// p521ChainRequest is a hashedrekord request whose key is a chain of n
// P-521 certificates, each a CA under the next.
func p521ChainRequest(tb testing.TB, n int) map[string]any {
	var chainPEM []byte
	var issuer *x509.Certificate
	var issuerKey *ecdsa.PrivateKey
	var certs [][]byte
	for i := range n {
		key, err := ecdsa.GenerateKey(elliptic.P521(), rand.Reader)
		if err != nil {
			tb.Fatal(err)
		}
		tmpl := &x509.Certificate{
			SerialNumber: big.NewInt(int64(i + 1)), Subject: pkix.Name{CommonName: "level " + strconv.Itoa(i)},
			NotBefore: time.Now().Add(-time.Hour * time.Duration(20-i)), NotAfter: time.Now().Add(time.Hour),
			IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
		}
		parent, signer := tmpl, key
		if issuer != nil {
			parent, signer = issuer, issuerKey
		}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, key.Public(), signer)
		if err != nil {
			tb.Fatal(err)
		}
		issuer, _ = x509.ParseCertificate(der)
		issuerKey = key
		certs = append([][]byte{der}, certs...)
	}
	for _, c := range certs {
		chainPEM = append(chainPEM, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c})...)
	}
	digest := sha512.Sum512([]byte("artifact"))
	sig, err := issuerKey.Sign(rand.Reader, digest[:], crypto.SHA512)
	if err != nil {
		tb.Fatal(err)
	}
	return map[string]any{
		"apiVersion": "0.0.1", "kind": "hashedrekord",
		"spec": map[string]any{
			"data": map[string]any{"hash": map[string]any{"algorithm": "sha512", "value": hex.EncodeToString(digest[:])}},
			"signature": map[string]any{
				"content":   base64.StdEncoding.EncodeToString(sig),
				"publicKey": map[string]any{"content": base64.StdEncoding.EncodeToString(chainPEM)},
			},
		},
	}
}

// BenchmarkWorstCaseHashedRekord: a chain of 8 P-521 certificates (the
// most the verification cost limit allows; Rekor parses up to 10), 7 chain
// signatures and the artifact's; accepted.
func BenchmarkWorstCaseHashedRekord(b *testing.B) {
	benchCanonicalize(b, body(b, p521ChainRequest(b, 8)), false)
}

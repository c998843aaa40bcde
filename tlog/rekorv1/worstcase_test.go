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
	"errors"
	"math/big"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hallmark-dev/hallmark/internal/benchutil"
)

// benchCanonicalize measures Canonicalize of body. wantErr is "" if the
// request is accepted, else a part of the error it gets after paying for
// its checks (not a limit: the benchmark is of what the limits allow).
func benchCanonicalize(b *testing.B, body []byte, wantErr string) {
	b.Helper()
	_, err := Canonicalize(body, DefaultOptions())
	if (wantErr == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), wantErr)) || errors.Is(err, ErrOverLimit) {
		b.Fatalf("Canonicalize: %v (want error %q)", err, wantErr)
	}
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	cpu := benchutil.StartCPU()
	for b.Loop() {
		Canonicalize(body, DefaultOptions()) //nolint:errcheck // checked above
	}
	cpu.Report(b)
}

func keysOf(b testing.TB, kind string, n int) []*testKey {
	keys := make([]*testKey, n)
	for i := range keys {
		keys[i] = newTestKey(b, kind)
	}
	return keys
}

// payloadOf is a payload of n bytes.
func payloadOf(n int) []byte { return bytes.Repeat([]byte("x"), n) }

const noKeyFor = "all signatures must have a key that verifies it"

// BenchmarkWorstCaseDSSE, refused after its checks:
//   - p521: 4 signatures, one P-521 verifier whose signature is last, over
//     a 1 MiB payload (the cost limit: decoding 1 MiB leaves the budget of
//     4 P-521 checks): 4 checks;
//   - ed25519: 8 signatures, 2 verifiers, the second key listed first, over
//     a 256 KiB payload (16 checks × 256 KiB is the bytes limit): the keys
//     try 8 + 7 = 15 signatures, hashing the payload each time.
func BenchmarkWorstCaseDSSE(b *testing.B) {
	b.Run("p521", func(b *testing.B) {
		keys := keysOf(b, "p521", 4)
		env := envelopeString(b, inToto, payloadOf(1<<20-1), keys...)
		benchCanonicalize(b, body(b, dsseRequest(b, env, keys[3].pem)), noKeyFor)
	})
	b.Run("ed25519", func(b *testing.B) {
		keys := keysOf(b, "ed25519", 8)
		env := envelopeString(b, inToto, payloadOf(256<<10-1), keys...)
		benchCanonicalize(b, body(b, dsseRequest(b, env, keys[7].pem, keys[6].pem)), noKeyFor)
	})
	// The request: 800 keys, 800 signatures in reverse order,
	// refused by the limits before any key is parsed.
	b.Run("issue16-800", func(b *testing.B) {
		keys := keysOf(b, "ed25519", 800)
		env := envelopeString(b, inToto, statement(), keys...)
		body := body(b, dsseRequest(b, env, pems(reversed(keys))...))
		if _, err := Canonicalize(body, DefaultOptions()); !errors.Is(err, ErrOverLimit) {
			b.Fatalf("issue 16's request: %v", err)
		}
		b.SetBytes(int64(len(body)))
		cpu := benchutil.StartCPU()
		for b.Loop() {
			Canonicalize(body, DefaultOptions()) //nolint:errcheck // checked above
		}
		cpu.Report(b)
	})
}

// BenchmarkWorstCaseIntotoV002, refused after its checks (every signature
// brings its key, n signatures cost n² checks):
//   - p521: 2 signatures, keys of signature 2 and of no signature (the cost
//     limit): 2 + 2 = 4 checks;
//   - ed25519: 4 signatures, keys of signatures 4, 3, 2 and of none, over a
//     256 KiB payload (16 × 256 KiB is the bytes limit): 4 + 3 + 2 + 4 = 13
//     checks.
func BenchmarkWorstCaseIntotoV002(b *testing.B) {
	for _, c := range []struct {
		kind    string
		n       int
		payload int
	}{{"p521", 2, 1<<20 - 1}, {"ed25519", 4, 256<<10 - 1}} {
		b.Run(c.kind, func(b *testing.B) {
			keys := keysOf(b, c.kind, c.n+1)
			req := intotoV2Request(b, inToto, payloadOf(c.payload), keys[:c.n]...)
			sigs := req["spec"].(map[string]any)["content"].(map[string]any)["envelope"].(map[string]any)["signatures"].([]any)
			for i := range c.n {
				k := keys[c.n] // the stranger, last
				if i < c.n-1 {
					k = keys[c.n-1-i]
				}
				sigs[i].(map[string]any)["publicKey"] = base64.StdEncoding.EncodeToString(k.pem)
			}
			benchCanonicalize(b, body(b, req), "accepted signatures do not match threshold")
		})
	}
}

// BenchmarkWorstCaseIntotoV001: 4 signatures, the key's last, over a
// 1 MiB payload (4 checks × 1 MiB is the bytes limit; for P-521 decoding
// 1 MiB also leaves the budget of 4 checks): 4 checks, accepted.
func BenchmarkWorstCaseIntotoV001(b *testing.B) {
	for _, kind := range []string{"p521", "ed25519"} {
		b.Run(kind, func(b *testing.B) {
			keys := keysOf(b, kind, 4)
			env := envelopeString(b, inToto, payloadOf(1<<20-1), keys...)
			benchCanonicalize(b, body(b, intotoV1Request(env, keys[3].pem)), "")
		})
	}
	// For reference: what the same payload costs an honest request (one
	// P-256 signature), all of it decoding and hashing.
	b.Run("honest-p256", func(b *testing.B) {
		keys := keysOf(b, "p256", 1)
		env := envelopeString(b, inToto, payloadOf(1<<20-1), keys...)
		benchCanonicalize(b, body(b, intotoV1Request(env, keys[0].pem)), "")
	})
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
	benchCanonicalize(b, body(b, p521ChainRequest(b, 8)), "")
}

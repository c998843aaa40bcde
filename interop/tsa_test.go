package interop

import (
	"bytes"
	"crypto"
	"crypto/rand"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"io"
	"math/big"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/digitorus/timestamp"
	openapiruntime "github.com/go-openapi/runtime"
	"github.com/sigstore/sigstore-go/pkg/root"
	tsaclient "github.com/sigstore/timestamp-authority/v2/pkg/client"
	tsops "github.com/sigstore/timestamp-authority/v2/pkg/generated/client/timestamp"
	"github.com/sigstore/timestamp-authority/v2/pkg/verification"
)

// devEnv is a running `hallmark dev` (log, CA with TSA, dev issuers) in a
// temporary state directory, on free loopback ports.
type devEnv struct {
	dir                          string
	CAURL, TSAURL, TokenURL      string
	EmailIssuerURL, RekorV2URL   string
	trustedRoot, signingConfigV2 string
}

// startDevTSA runs `hallmark dev` (startDev) and names its services.
func startDevTSA(t *testing.T) *devEnv {
	t.Helper()
	d := startDev(t)
	return &devEnv{dir: d.dir, CAURL: d.state["ca_url"], TSAURL: d.state["tsa_url"], TokenURL: d.state["token_url"],
		EmailIssuerURL: d.state["email_issuer_url"], RekorV2URL: d.state["rekor_v2_url"],
		trustedRoot: d.file("trusted_root.json"), signingConfigV2: d.file("signing_config.v2.json")}
}

// tsaChain returns the TSA chain [leaf, root] from the trusted root
// `hallmark dev` wrote, read with sigstore-go.
func (e *devEnv) tsaAuthority(t *testing.T) *root.SigstoreTimestampingAuthority {
	t.Helper()
	tr, err := root.NewTrustedRootFromPath(e.trustedRoot)
	if err != nil {
		t.Fatal(err)
	}
	tsas := tr.TimestampingAuthorities()
	if len(tsas) != 1 {
		t.Fatalf("trusted root has %d timestamp authorities, want 1", len(tsas))
	}
	a := tsas[0].(*root.SigstoreTimestampingAuthority)
	if a.Leaf == nil || a.Root == nil || a.URI != e.TSAURL {
		t.Fatalf("timestamp authority in trusted root: %+v", a)
	}
	return a
}

// TestTSAClient: sigstore's timestamp-authority Go client requests
// timestamps (DER and JSON forms, SHA-256/384/512, nonce, certReq) from
// the TSA of `hallmark dev`, and its verification package accepts them
// against the chain from /certchain; sigstore-go accepts them against the
// trusted root `hallmark dev` wrote. Wrong artifacts, nonces and roots fail.
func TestTSAClient(t *testing.T) {
	e := startDevTSA(t)
	a := e.tsaAuthority(t)

	der := tsaclient.TimestampQueryMediaType
	c, err := tsaclient.GetTimestampClient(e.CAURL, tsaclient.WithContentType(der))
	if err != nil {
		t.Fatal(err)
	}
	chainResp, err := c.Timestamp.GetTimestampCertChain(tsops.NewGetTimestampCertChainParams())
	if err != nil {
		t.Fatalf("certchain: %v", err)
	}
	var chain []*x509.Certificate
	for rest := []byte(chainResp.Payload); ; {
		var b *pem.Block
		if b, rest = pem.Decode(rest); b == nil {
			break
		}
		cert, err := x509.ParseCertificate(b.Bytes)
		if err != nil {
			t.Fatal(err)
		}
		chain = append(chain, cert)
	}
	if len(chain) != 2 || !chain[0].Equal(a.Leaf) || !chain[1].Equal(a.Root) {
		t.Fatalf("certchain differs from the trusted root's TSA chain")
	}

	artifact := []byte("hallmark timestamped artifact\n")
	for _, h := range []crypto.Hash{crypto.SHA256, crypto.SHA384, crypto.SHA512} {
		for _, certReq := range []bool{true, false} {
			nonce, _ := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 128))
			query, err := timestamp.CreateRequest(bytes.NewReader(artifact), &timestamp.RequestOptions{Hash: h, Certificates: certReq, Nonce: nonce})
			if err != nil {
				t.Fatal(err)
			}
			params := tsops.NewGetTimestampResponseParams().WithTimeout(10 * time.Second)
			params.Request = io.NopCloser(bytes.NewReader(query))
			var tsr bytes.Buffer
			if _, _, err := c.Timestamp.GetTimestampResponse(params, &tsr); err != nil {
				t.Fatalf("%v certReq=%v: %v", h, certReq, err)
			}
			opts := verification.VerifyOpts{Roots: []*x509.Certificate{chain[1]}, TSACertificate: chain[0], Nonce: nonce, CommonName: chain[0].Subject.CommonName}
			ts, err := verification.VerifyTimestampResponse(tsr.Bytes(), bytes.NewReader(artifact), opts)
			if err != nil {
				t.Fatalf("%v certReq=%v: VerifyTimestampResponse: %v", h, certReq, err)
			}
			if d := time.Since(ts.Time); d < -2*time.Second || d > time.Minute {
				t.Errorf("timestamp time %v is off by %v", ts.Time, d)
			}
			if _, err := verification.VerifyTimestampResponse(tsr.Bytes(), strings.NewReader("other artifact"), opts); err == nil {
				t.Error("verified against another artifact")
			}
			bad := opts
			bad.Nonce = big.NewInt(1)
			if _, err := verification.VerifyTimestampResponse(tsr.Bytes(), bytes.NewReader(artifact), bad); err == nil {
				t.Error("verified with another nonce")
			}
			bad = opts
			bad.Roots = []*x509.Certificate{mustOtherRootCert(t)}
			if _, err := verification.VerifyTimestampResponse(tsr.Bytes(), bytes.NewReader(artifact), bad); err == nil {
				t.Error("verified against another root")
			}
			// sigstore-go's check, as cosign runs it on a bundle: the
			// timestamp is over the signature bytes (here the artifact).
			if _, err := a.Verify(tsr.Bytes(), artifact); err != nil {
				t.Errorf("%v certReq=%v: sigstore-go TSA verify: %v", h, certReq, err)
			}
		}
	}

	// The JSON request form, through the same client.
	jc, err := tsaclient.GetTimestampClient(e.CAURL, tsaclient.WithContentType(tsaclient.JSONMediaType))
	if err != nil {
		t.Fatal(err)
	}
	digest := crypto.SHA256.New()
	digest.Write(artifact)
	body, _ := json.Marshal(map[string]any{"artifactHash": base64.StdEncoding.EncodeToString(digest.Sum(nil)), "hashAlgorithm": "sha256", "certificates": true, "nonce": 12345})
	params := tsops.NewGetTimestampResponseParams().WithTimeout(10 * time.Second)
	params.Request = io.NopCloser(bytes.NewReader(body))
	var tsr bytes.Buffer
	// As sigstore's own tests call it: the operation must consume JSON.
	asJSON := func(op *openapiruntime.ClientOperation) { op.ConsumesMediaTypes = []string{tsaclient.JSONMediaType} }
	if _, _, err := jc.Timestamp.GetTimestampResponse(params, &tsr, asJSON); err != nil {
		t.Fatalf("JSON request: %v", err)
	}
	if _, err := verification.VerifyTimestampResponse(tsr.Bytes(), bytes.NewReader(artifact), verification.VerifyOpts{Roots: chain[1:], Nonce: big.NewInt(12345)}); err != nil {
		t.Fatalf("JSON request: VerifyTimestampResponse: %v", err)
	}

	// A SHA-1 request is refused (badAlg) and the client reports an error.
	query, _ := timestamp.CreateRequest(bytes.NewReader(artifact), &timestamp.RequestOptions{Hash: crypto.SHA1})
	params = tsops.NewGetTimestampResponseParams().WithTimeout(10 * time.Second)
	params.Request = io.NopCloser(bytes.NewReader(query))
	if _, _, err := c.Timestamp.GetTimestampResponse(params, io.Discard); err == nil {
		t.Error("SHA-1 request accepted")
	}
	resp, err := http.Post(e.TSAURL, "application/timestamp-query", bytes.NewReader(query))
	if err != nil {
		t.Fatal(err)
	}
	rej, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if _, err := timestamp.ParseResponse(rej); resp.StatusCode != 400 || err == nil || !strings.Contains(err.Error(), "unrecognized or unsupported Algorithm") {
		t.Errorf("SHA-1 request: HTTP %d, %v", resp.StatusCode, err)
	}
}

func mustOtherRootCert(t *testing.T) *x509.Certificate {
	t.Helper()
	b, _ := pem.Decode(mustOtherRoot(t))
	c, err := x509.ParseCertificate(b.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// opensslBinary returns Debian's openssl; missing, the test skips, or
// fails under CI=true.
func opensslBinary(t *testing.T) string {
	p, err := exec.LookPath("openssl")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("openssl not found; CI must provide it")
		}
		t.Skip("openssl not found")
	}
	return p
}

// TestTSAOpenSSL: `openssl ts -query` builds requests (with and without
// -cert, SHA-256/384/512), hallmark's TSA answers, and `openssl ts
// -verify` accepts the replies against the root from trusted_root.json —
// and refuses them for other data.
func TestTSAOpenSSL(t *testing.T) {
	openssl := opensslBinary(t)
	e := startDevTSA(t)
	a := e.tsaAuthority(t)
	dir := t.TempDir()
	write := func(name string, data []byte) string {
		p := filepath.Join(dir, name)
		os.WriteFile(p, data, 0o644)
		return p
	}
	data := write("artifact.txt", []byte("openssl artifact\n"))
	other := write("other.txt", []byte("other artifact\n"))
	rootPEM := write("root.pem", pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: a.Root.Raw}))
	tsaPEM := write("tsa.pem", pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: a.Leaf.Raw}))
	for _, h := range []string{"-sha256", "-sha384", "-sha512"} {
		for _, withCert := range []bool{true, false} {
			args := []string{"ts", "-query", "-data", data, h, "-out", filepath.Join(dir, "q.tsq")}
			if withCert {
				args = append(args, "-cert")
			}
			if out, err := exec.Command(openssl, args...).CombinedOutput(); err != nil {
				t.Fatalf("openssl ts -query: %v\n%s", err, out)
			}
			q, _ := os.ReadFile(filepath.Join(dir, "q.tsq"))
			resp, err := http.Post(e.TSAURL, "application/timestamp-query", bytes.NewReader(q))
			if err != nil {
				t.Fatal(err)
			}
			tsr, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "application/timestamp-reply" {
				t.Fatalf("%s: HTTP %d %s", h, resp.StatusCode, resp.Header.Get("Content-Type"))
			}
			reply := write("r.tsr", tsr)
			verify := []string{"ts", "-verify", "-in", reply, "-CAfile", rootPEM}
			if !withCert {
				verify = append(verify, "-untrusted", tsaPEM)
			}
			out, err := exec.Command(openssl, append(verify, "-queryfile", filepath.Join(dir, "q.tsq"))...).CombinedOutput()
			if err != nil || !strings.Contains(string(out), "Verification: OK") {
				t.Fatalf("%s cert=%v: openssl ts -verify -queryfile: %v\n%s", h, withCert, err, out)
			}
			out, err = exec.Command(openssl, append(verify, "-data", data)...).CombinedOutput()
			if err != nil || !strings.Contains(string(out), "Verification: OK") {
				t.Fatalf("%s cert=%v: openssl ts -verify -data: %v\n%s", h, withCert, err, out)
			}
			if out, err := exec.Command(openssl, append(verify, "-data", other)...).CombinedOutput(); err == nil {
				t.Fatalf("%s: openssl verified the reply for other data:\n%s", h, out)
			}
		}
	}
	// openssl reads a rejection as one.
	md5q := filepath.Join(dir, "md5.tsq")
	if out, err := exec.Command(openssl, "ts", "-query", "-data", data, "-md5", "-out", md5q).CombinedOutput(); err != nil {
		t.Fatalf("openssl ts -query -md5: %v\n%s", err, out)
	}
	q, _ := os.ReadFile(md5q)
	resp, err := http.Post(e.TSAURL, "application/timestamp-query", bytes.NewReader(q))
	if err != nil {
		t.Fatal(err)
	}
	tsr, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	out, _ := exec.Command(openssl, "ts", "-reply", "-in", write("md5.tsr", tsr), "-text").CombinedOutput()
	if !strings.Contains(string(out), "Status: Rejected") || !strings.Contains(string(out), "unrecognized or unsupported algorithm identifier") {
		t.Errorf("MD5 request: HTTP %d, openssl says:\n%s", resp.StatusCode, out)
	}
}

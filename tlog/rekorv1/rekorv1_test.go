package rekorv1

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"math/big"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hallmark-dev/hallmark/tlog/format"
)

// TestRekorVectors replays requests and Rekor v1.5.4's answers to them,
// recorded by the interop module's TestRekorV1Vectors.
func TestRekorVectors(t *testing.T) {
	raw, err := os.ReadFile("testdata/rekor-v1.5.4-vectors.json")
	if err != nil {
		t.Fatal(err)
	}
	var vectors []struct {
		Name, Request, Canonical, Message string
		IndexKeys                         []string
		Code                              int
	}
	if err := json.Unmarshal(raw, &vectors); err != nil {
		t.Fatal(err)
	}
	accepted := 0
	for _, v := range vectors {
		e, err := Canonicalize([]byte(v.Request), DefaultOptions())
		var ie *InputError
		switch {
		case v.Code == 0 && err != nil:
			t.Errorf("%s: Rekor accepts, got %v", v.Name, err)
		case v.Code == 0:
			accepted++
			if string(e.Canonical) != v.Canonical {
				t.Errorf("%s: canonical\n%s\nRekor:\n%s", v.Name, e.Canonical, v.Canonical)
			}
			if e.LeafHash() != sha256.Sum256(append([]byte{0}, v.Canonical...)) {
				t.Errorf("%s: LeafHash is not the RFC 6962 leaf hash", v.Name)
			}
			keys := slices.Sorted(slices.Values(e.IndexKeys))
			if !slices.Equal(keys, v.IndexKeys) && len(keys)+len(v.IndexKeys) > 0 {
				t.Errorf("%s: index keys %q, Rekor %q", v.Name, keys, v.IndexKeys)
			}
		case err == nil:
			t.Errorf("%s: Rekor rejects with %d %q, got accepted", v.Name, v.Code, v.Message)
		case !errors.As(err, &ie):
			t.Errorf("%s: error %v is not an InputError", v.Name, err)
		case v.Code == 500 && ie.Code == 400:
			// Deliberate: Rekor 500s on malformed JSON and on an intoto
			// 0.0.2 entry without content.hash.
		case ie.Code != v.Code || (ie.Message != v.Message && !strings.Contains(v.Message, "Go struct field")):
			t.Errorf("%s: got %d %q, Rekor %d %q", v.Name, ie.Code, ie.Message, v.Code, v.Message)
		}
	}
	if accepted < 20 {
		t.Errorf("only %d accepted vectors", accepted)
	}
}

// --- fixtures ---

type testKey struct {
	priv crypto.Signer
	pem  []byte // PUBLIC KEY
}

func newTestKey(t testing.TB, kind string) *testKey {
	t.Helper()
	var priv crypto.Signer
	var err error
	switch kind {
	case "p256":
		priv, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	case "p384":
		priv, err = ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	case "p521":
		priv, err = ecdsa.GenerateKey(elliptic.P521(), rand.Reader)
	case "rsa2048":
		priv, err = rsa.GenerateKey(rand.Reader, 2048)
	case "ed25519":
		_, priv, err = ed25519.GenerateKey(rand.Reader)
	default:
		t.Fatalf("unknown key kind %q", kind)
	}
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKIXPublicKey(priv.Public())
	if err != nil {
		t.Fatal(err)
	}
	return &testKey{priv: priv, pem: pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})}
}

func (k *testKey) signDigest(t testing.TB, h crypto.Hash, digest []byte) []byte {
	t.Helper()
	var opts crypto.SignerOpts = h
	if _, ok := k.priv.(ed25519.PrivateKey); ok {
		opts = &ed25519.Options{Hash: crypto.SHA512}
	}
	sig, err := k.priv.Sign(rand.Reader, digest, opts)
	if err != nil {
		t.Fatal(err)
	}
	return sig
}

func (k *testKey) signMessage(t testing.TB, msg []byte) []byte {
	t.Helper()
	if _, ok := k.priv.(ed25519.PrivateKey); ok {
		return ed25519.Sign(k.priv.(ed25519.PrivateKey), msg)
	}
	d := sha256.Sum256(msg)
	sig, err := k.priv.Sign(rand.Reader, d[:], crypto.SHA256)
	if err != nil {
		t.Fatal(err)
	}
	return sig
}

// certChain issues a chain of n certificates: a leaf for k, then n-2
// intermediates, then a root.
func certChain(t testing.TB, k *testKey, n int) []byte {
	t.Helper()
	var out []byte
	issuerKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	var certs [][]byte
	var issuer *x509.Certificate
	for i := range n - 1 {
		key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		tmpl := &x509.Certificate{
			SerialNumber: big.NewInt(int64(i + 1)), Subject: pkix.Name{CommonName: "ca " + strconv.Itoa(i)},
			NotBefore: time.Now().Add(-time.Hour * time.Duration(10+n-i)), NotAfter: time.Now().Add(time.Hour),
			IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
		}
		parent, signer := tmpl, crypto.Signer(key)
		if issuer != nil {
			parent, signer = issuer, issuerKey
		}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, key.Public(), signer)
		if err != nil {
			t.Fatal(err)
		}
		issuer, _ = x509.ParseCertificate(der)
		issuerKey = key
		certs = append([][]byte{der}, certs...)
	}
	leaf := &x509.Certificate{
		SerialNumber: big.NewInt(99), NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		EmailAddresses: []string{"Signer@Example.com"},
	}
	parent, signer := leaf, k.priv
	if issuer != nil {
		parent, signer = issuer, issuerKey
	}
	der, err := x509.CreateCertificate(rand.Reader, leaf, parent, k.priv.Public(), signer)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range append([][]byte{der}, certs...) {
		out = append(out, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c})...)
	}
	return out
}

var hashes = map[string]crypto.Hash{"sha256": crypto.SHA256, "sha384": crypto.SHA384, "sha512": crypto.SHA512}

// hashedRekordRequest builds a valid request signing a random artifact.
func hashedRekordRequest(t testing.TB, k *testKey, keyPEM []byte, alg string) map[string]any {
	t.Helper()
	h := hashes[alg].New()
	h.Write([]byte(t.Name()))
	digest := h.Sum(nil)
	return map[string]any{
		"apiVersion": "0.0.1", "kind": "hashedrekord",
		"spec": map[string]any{
			"data": map[string]any{"hash": map[string]any{"algorithm": alg, "value": hex.EncodeToString(digest)}},
			"signature": map[string]any{
				"content":   base64.StdEncoding.EncodeToString(k.signDigest(t, hashes[alg], digest)),
				"publicKey": map[string]any{"content": base64.StdEncoding.EncodeToString(keyPEM)},
			},
		},
	}
}

const inToto = "application/vnd.in-toto+json"

func statement() []byte {
	return []byte(`{"_type":"https://in-toto.io/Statement/v0.1","subject":[{"name":"a","digest":{"sha256":"` +
		strings.Repeat("AB", 32) + `"}}],"predicateType":"https://slsa.dev/provenance/v0.2",` +
		`"predicate":{"builder":{"id":"b"},"buildType":"t","materials":[{"uri":"git+x","digest":{"sha1":"` + strings.Repeat("cd", 20) + `"}}]}}`)
}

func envelopeString(t testing.TB, payloadType string, payload []byte, keys ...*testKey) string {
	t.Helper()
	msg := format.PAE(payloadType, payload)
	var sigs []map[string]string
	for _, k := range keys {
		sigs = append(sigs, map[string]string{"keyid": "", "sig": base64.StdEncoding.EncodeToString(k.signMessage(t, msg))})
	}
	b, err := json.Marshal(map[string]any{"payloadType": payloadType, "payload": base64.StdEncoding.EncodeToString(payload), "signatures": sigs})
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func dsseRequest(t testing.TB, envelope string, verifiers ...[]byte) map[string]any {
	var vs []string
	for _, v := range verifiers {
		vs = append(vs, base64.StdEncoding.EncodeToString(v))
	}
	return map[string]any{"apiVersion": "0.0.1", "kind": "dsse", "spec": map[string]any{
		"proposedContent": map[string]any{"envelope": envelope, "verifiers": vs},
	}}
}

func intotoV1Request(envelope string, key []byte) map[string]any {
	return map[string]any{"apiVersion": "0.0.1", "kind": "intoto", "spec": map[string]any{
		"content":   map[string]any{"envelope": envelope},
		"publicKey": base64.StdEncoding.EncodeToString(key),
	}}
}

func intotoV2Request(t testing.TB, payloadType string, payload []byte, keys ...*testKey) map[string]any {
	msg := format.PAE(payloadType, payload)
	var sigs []any
	for _, k := range keys {
		sig := base64.StdEncoding.EncodeToString(k.signMessage(t, msg))
		sigs = append(sigs, map[string]any{
			"sig":       base64.StdEncoding.EncodeToString([]byte(sig)),
			"publicKey": base64.StdEncoding.EncodeToString(k.pem),
		})
	}
	encPayload := base64.StdEncoding.EncodeToString(payload)
	return map[string]any{"apiVersion": "0.0.2", "kind": "intoto", "spec": map[string]any{"content": map[string]any{
		"envelope": map[string]any{
			"payloadType": payloadType,
			"payload":     base64.StdEncoding.EncodeToString([]byte(encPayload)),
			"signatures":  sigs,
		},
		"hash": map[string]any{"algorithm": "sha256", "value": strings.Repeat("0", 64)},
	}}}
}

func body(t testing.TB, req map[string]any) []byte {
	t.Helper()
	b, err := json.Marshal(req)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// set changes a field of a request given its path, e.g. "spec.data.hash".
// A nil value deletes the field.
func set(req map[string]any, path string, v any) map[string]any {
	parts := strings.Split(path, ".")
	m := req
	for _, p := range parts[:len(parts)-1] {
		m = m[p].(map[string]any)
	}
	if v == nil {
		delete(m, parts[len(parts)-1])
	} else {
		m[parts[len(parts)-1]] = v
	}
	return req
}

// --- behaviour ---

func TestCanonicalizeAccepts(t *testing.T) {
	p256, p384, p521 := newTestKey(t, "p256"), newTestKey(t, "p384"), newTestKey(t, "p521")
	rsaKey, edKey := newTestKey(t, "rsa2048"), newTestKey(t, "ed25519")
	env := envelopeString(t, inToto, statement(), p256, edKey)
	for name, req := range map[string]map[string]any{
		"hashedrekord p256":        hashedRekordRequest(t, p256, p256.pem, "sha256"),
		"hashedrekord p384":        hashedRekordRequest(t, p384, p384.pem, "sha384"),
		"hashedrekord p521":        hashedRekordRequest(t, p521, p521.pem, "sha512"),
		"hashedrekord rsa":         hashedRekordRequest(t, rsaKey, rsaKey.pem, "sha256"),
		"hashedrekord ed25519ph":   hashedRekordRequest(t, edKey, edKey.pem, "sha512"),
		"hashedrekord cert":        hashedRekordRequest(t, p256, certChain(t, p256, 1), "sha256"),
		"hashedrekord chain of 3":  hashedRekordRequest(t, p256, certChain(t, p256, 3), "sha256"),
		"hashedrekord chain of 10": hashedRekordRequest(t, p256, certChain(t, p256, 10), "sha256"),
		"dsse two signers":         dsseRequest(t, env, edKey.pem, p256.pem),
		"intoto 0.0.1":             intotoV1Request(envelopeString(t, inToto, statement(), rsaKey), rsaKey.pem),
		"intoto 0.0.2":             intotoV2Request(t, inToto, statement(), p384, edKey),
	} {
		t.Run(name, func(t *testing.T) {
			e, err := Canonicalize(body(t, req), DefaultOptions())
			if err != nil {
				t.Fatal(err)
			}
			if e.Kind != req["kind"] || e.APIVersion != req["apiVersion"] || !json.Valid(e.Canonical) || len(e.IndexKeys) == 0 {
				t.Fatalf("bad entry %+v", e)
			}
			for _, k := range e.IndexKeys {
				if k != strings.ToLower(k) {
					t.Errorf("index key %q is not lower case", k)
				}
			}
		})
	}
}

func TestCanonicalizeRejects(t *testing.T) {
	p256, p384, edKey := newTestKey(t, "p256"), newTestKey(t, "p384"), newTestKey(t, "ed25519")
	other := newTestKey(t, "p256")
	hr := func() map[string]any { return hashedRekordRequest(t, p256, p256.pem, "sha256") }
	env := envelopeString(t, inToto, statement(), p256)
	badSig := hr()
	sig, _ := base64.StdEncoding.DecodeString(badSig["spec"].(map[string]any)["signature"].(map[string]any)["content"].(string))
	sig[len(sig)-1] ^= 1 // inside s: the DER stays well-formed (a middle byte may be s's tag or length)
	set(badSig, "spec.signature.content", base64.StdEncoding.EncodeToString(sig))

	tampered := map[string]any{}
	if err := json.Unmarshal([]byte(env), &tampered); err != nil {
		t.Fatal(err)
	}
	tampered["payloadType"] = "text/plain"
	tamperedEnv, _ := json.Marshal(tampered)

	for _, tc := range []struct {
		name string
		body []byte
		code int
		msg  string
	}{
		{"empty body", nil, 422, "proposedEntry in body is required"},
		{"malformed JSON", []byte(`{"kind":`), 400, "unexpected EOF"},
		{"unknown kind", []byte(`{"kind":"x","apiVersion":"0.0.1","spec":{}}`), 422, `invalid kind value: "x"`},
		{"kind not served", []byte(`{"kind":"rekord","apiVersion":"0.0.1","spec":{}}`), 400, "error processing entry: entry kind 'rekord' is not enabled for submission on this server"},
		{"unknown version", []byte(`{"kind":"dsse","apiVersion":"0.0.2","spec":{}}`), 400, "error processing entry: dsse implementation for version '0.0.2' not found: unable to locate entry for version 0.0.2"},
		{"bad apiVersion", []byte(`{"kind":"dsse","apiVersion":"1","spec":{}}`), 422, "apiVersion in body should match"},
		{"no spec", []byte(`{"kind":"dsse","apiVersion":"0.0.1"}`), 422, "spec in body is required"},
		{"spec not an object", []byte(`{"kind":"dsse","apiVersion":"0.0.1","spec":[]}`), 400, "error processing entry: unsupported input type []interface {} for DecodeEntry"},
		{"bad base64 signature", body(t, set(hr(), "spec.signature.content", "!!!!")), 400, "error processing entry: failed parsing base64 data for signature content: illegal base64 data at input byte 0"},
		{"bad base64 key", body(t, set(hr(), "spec.signature.publicKey.content", "a")), 400, "error processing entry: failed parsing base64 data for public key content"},
		{"wrong hash length", body(t, set(hr(), "spec.data.hash.value", "abcd")), 400, "error processing entry: invalid value for hash"},
		{"hash not hex", body(t, set(hr(), "spec.data.hash.value", strings.Repeat("g", 64))), 400, "error processing entry: encoding/hex: invalid byte"},
		{"unknown hash algorithm", body(t, set(hr(), "spec.data.hash.algorithm", "md5")), 400, "error processing entry: validation failure list:\ndata.data.hash.data.hash.algorithm in body should be one of [sha256 sha384 sha512]"},
		{"missing data and signature", []byte(`{"kind":"hashedrekord","apiVersion":"0.0.1","spec":{}}`), 400, "error processing entry: validation failure list:\ndata in body is required\nsignature in body is required"},
		{"missing key", body(t, set(hr(), "spec.signature.publicKey", nil)), 400, "error processing entry: missing public key"},
		{"not PEM", body(t, set(hr(), "spec.signature.publicKey.content", "eA==")), 400, "error processing entry: invalid public key: failure decoding PEM"},
		{"bad signature", body(t, badSig), 400, "error processing entry: verifying signature: invalid signature when validating ASN.1 encoded signature"},
		{"wrong key", body(t, set(hr(), "spec.signature.publicKey.content", base64.StdEncoding.EncodeToString(other.pem))), 400, "error processing entry: verifying signature:"},
		{"chain of 11", body(t, hashedRekordRequest(t, p256, certChain(t, p256, 11), "sha256")), 400, "error processing entry: too many certificates specified in PEM block"},
		{"ed25519 needs sha512", body(t, set(hashedRekordRequest(t, edKey, edKey.pem, "sha512"), "spec.data.hash", map[string]any{"algorithm": "sha256", "value": strings.Repeat("00", 32)})), 400, `error processing entry: verifying signature: unsupported hash algorithm: "SHA-256" not in [SHA-512]`},
		{"algorithm not allowed", body(t, hashedRekordRequest(t, p384, p384.pem, "sha256")), 400, "error processing entry: entry algorithms are not allowed"},
		{"dsse tampered envelope", body(t, dsseRequest(t, string(tamperedEnv), p256.pem)), 400, "error processing entry: could not verify envelope: accepted signatures do not match threshold, Found: 0, Expected 1"},
		{"dsse unverified signature", body(t, dsseRequest(t, envelopeString(t, inToto, statement(), p256, other), p256.pem)), 400, "error processing entry: all signatures must have a key that verifies it"},
		{"dsse no signatures", body(t, dsseRequest(t, `{"payload":"","payloadType":"x","signatures":[]}`, p256.pem)), 400, "error processing entry: DSSE envelope must contain 1 or more signatures"},
		{"dsse no verifiers", body(t, dsseRequest(t, env)), 400, "error processing entry: validation failure list:\nproposedContent.proposedContent.verifiers in body is required"},
		{"dsse envelope not JSON", body(t, dsseRequest(t, "{", p256.pem)), 400, "error processing entry: unexpected end of JSON input"},
		{"intoto 0.0.1 wrong key", body(t, intotoV1Request(env, other.pem)), 400, "error processing entry: accepted signatures do not match threshold, Found: 0, Expected 1"},
		{"intoto 0.0.1 no envelope", []byte(`{"kind":"intoto","apiVersion":"0.0.1","spec":{"content":{"hash":{"algorithm":"sha256","value":"x"}},"publicKey":"` + base64.StdEncoding.EncodeToString(p256.pem) + `"}}`), 400, "error processing entry: entry not insertable into log: missing envelope content"},
		{"intoto 0.0.2 no payload type", body(t, set(intotoV2Request(t, inToto, statement(), p256), "spec.content.envelope.payloadType", nil)), 400, "error processing entry: validation failure list:\ncontent.content.envelope.content.envelope.payloadType in body is required"},
		{"intoto 0.0.2 no hash", body(t, set(intotoV2Request(t, inToto, statement(), p256), "spec.content.hash", nil)), 400, "error processing entry: missing envelope digest"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e, err := Canonicalize(tc.body, DefaultOptions())
			var ie *InputError
			if !errors.As(err, &ie) {
				t.Fatalf("got %v, %v; want an InputError", e, err)
			}
			if ie.Code != tc.code || !strings.HasPrefix(ie.Message, tc.msg) || ie.Error() != ie.Message {
				t.Fatalf("got %d %q, want %d %q...", ie.Code, ie.Message, tc.code, tc.msg)
			}
		})
	}
}

// Submissions that differ only in encoding details Rekor normalises must
// canonicalise identically, so re-submitting is detected as a duplicate.
func TestCanonicalizeNormalises(t *testing.T) {
	k := newTestKey(t, "p256")
	req := hashedRekordRequest(t, k, k.pem, "sha256")
	base, err := Canonicalize(body(t, req), DefaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	block, _ := pem.Decode(k.pem)
	block.Headers = map[string]string{"Comment": "x"}
	decorated := append([]byte("some text\n"), pem.EncodeToMemory(block)...)
	decorated = bytes.ReplaceAll(decorated, []byte("\n"), []byte("\r\n"))
	sigB64 := req["spec"].(map[string]any)["signature"].(map[string]any)["content"].(string)
	for name, b := range map[string][]byte{
		"decorated PEM":    body(t, set(hashedRekordRequest(t, k, k.pem, "sha256"), "spec.signature.publicKey.content", base64.StdEncoding.EncodeToString(decorated))),
		"base64 newlines":  body(t, set(req, "spec.signature.content", sigB64[:10]+"\n"+sigB64[10:])),
		"whitespace":       append([]byte(" \n"), bytes.ReplaceAll(body(t, req), []byte(":"), []byte(": "))...),
		"key case":         bytes.Replace(body(t, req), []byte(`"kind"`), []byte(`"Kind"`), 1),
		"trailing garbage": append(body(t, req), "garbage"...),
	} {
		e, err := Canonicalize(b, DefaultOptions())
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if name == "decorated PEM" {
			// A fresh signature: compare everything else.
			if e.IndexKeys[0] != base.IndexKeys[0] {
				t.Errorf("%s: key index %s != %s", name, e.IndexKeys[0], base.IndexKeys[0])
			}
			continue
		}
		if !bytes.Equal(e.Canonical, base.Canonical) || e.LeafHash() != base.LeafHash() {
			t.Errorf("%s: canonical\n%s\n!=\n%s", name, e.Canonical, base.Canonical)
		}
	}

	// The DSSE envelope hash covers the exact envelope string: formatting
	// the same envelope differently is a different entry.
	env := envelopeString(t, inToto, statement(), k)
	var v any
	_ = json.Unmarshal([]byte(env), &v)
	indented, _ := json.MarshalIndent(v, "", " ")
	a, err1 := Canonicalize(body(t, dsseRequest(t, env, k.pem)), DefaultOptions())
	b, err2 := Canonicalize(body(t, dsseRequest(t, string(indented), k.pem)), DefaultOptions())
	if err1 != nil || err2 != nil {
		t.Fatal(err1, err2)
	}
	if bytes.Equal(a.Canonical, b.Canonical) {
		t.Error("differently formatted envelopes canonicalised identically")
	}
}

func TestCanonicalDSSE(t *testing.T) {
	a, b := newTestKey(t, "p256"), newTestKey(t, "ed25519")
	env := envelopeString(t, inToto, statement(), a, b)
	e, err := Canonicalize(body(t, dsseRequest(t, env, b.pem, a.pem)), DefaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	var got struct {
		Spec struct {
			EnvelopeHash, PayloadHash struct{ Algorithm, Value string }
			Signatures                []struct {
				Signature string
				Verifier  []byte
			}
		}
	}
	if err := json.Unmarshal(e.Canonical, &got); err != nil {
		t.Fatal(err)
	}
	envHash, payloadHash := sha256.Sum256([]byte(env)), sha256.Sum256(statement())
	if got.Spec.EnvelopeHash.Value != hex.EncodeToString(envHash[:]) || got.Spec.PayloadHash.Value != hex.EncodeToString(payloadHash[:]) {
		t.Errorf("hashes %+v", got.Spec)
	}
	if len(got.Spec.Signatures) != 2 || got.Spec.Signatures[0].Signature > got.Spec.Signatures[1].Signature {
		t.Errorf("signatures not sorted: %+v", got.Spec.Signatures)
	}
	for _, want := range []string{"sha256:" + strings.Repeat("ab", 32), "sha1:" + strings.Repeat("cd", 20), "sha256:" + hex.EncodeToString(payloadHash[:])} {
		if !slices.Contains(e.IndexKeys, want) {
			t.Errorf("index keys %q lack %s", e.IndexKeys, want)
		}
	}
}

func TestOptions(t *testing.T) {
	p256, p384 := newTestKey(t, "p256"), newTestKey(t, "p384")
	only256 := Options{Algorithms: []Algorithm{ECDSAP256SHA256}}
	if _, err := Canonicalize(body(t, hashedRekordRequest(t, p256, p256.pem, "sha256")), only256); err != nil {
		t.Errorf("allowed algorithm rejected: %v", err)
	}
	_, err := Canonicalize(body(t, hashedRekordRequest(t, p384, p384.pem, "sha384")), only256)
	var ie *InputError
	if !errors.As(err, &ie) || ie.Message != "error processing entry: entry algorithms are not allowed" {
		t.Errorf("disallowed algorithm: %v", err)
	}
	p384sha256 := Options{Algorithms: []Algorithm{ECDSAP384SHA256}}
	if _, err := Canonicalize(body(t, hashedRekordRequest(t, p384, p384.pem, "sha256")), p384sha256); err != nil {
		t.Errorf("P-384 with SHA-256 when allowed: %v", err)
	}

	onlyDSSE := Options{Kinds: []string{"dsse"}}
	_, err = Canonicalize(body(t, hashedRekordRequest(t, p256, p256.pem, "sha256")), onlyDSSE)
	if !errors.As(err, &ie) || ie.Message != "error processing entry: entry kind 'hashedrekord' is not enabled for submission on this server" {
		t.Errorf("disabled kind: %v", err)
	}

	for _, bad := range []Options{{Algorithms: []Algorithm{"rot13"}}, {Kinds: []string{"rekord"}}} {
		if bad.Validate() == nil {
			t.Errorf("%+v: Validate accepts", bad)
		}
		_, err = Canonicalize(body(t, hashedRekordRequest(t, p256, p256.pem, "sha256")), bad)
		if err == nil || errors.As(err, &ie) {
			t.Errorf("%+v: got %v, want an internal error", bad, err)
		}
	}
	if err := DefaultOptions().Validate(); err != nil {
		t.Error(err)
	}
}

func TestEntryID(t *testing.T) {
	var leaf [32]byte
	for i := range leaf {
		leaf[i] = byte(i)
	}
	id := EntryID(0x1234, leaf)
	if want := "0000000000001234" + hex.EncodeToString(leaf[:]); id != want {
		t.Fatalf("EntryID = %s, want %s", id, want)
	}
	for _, tc := range []struct {
		in      string
		tree    int64
		hasTree bool
		ok      bool
	}{
		{id, 0x1234, true, true},
		{strings.ToUpper(id), 0x1234, true, true},
		{id[16:], 0, false, true},
		{"7fffffffffffffff" + id[16:], 1<<63 - 1, true, true},
		{"8000000000000000" + id[16:], 0, false, false},
		{"0000000000000000" + id[16:], 0, false, false},
		{"000000000000000g" + id[16:], 0, false, false},
		{"-000000000000001" + id[16:], 0, false, false},
		{id[:79], 0, false, false},
		{id + "0", 0, false, false},
		{strings.Repeat("z", 64), 0, false, false},
		{"", 0, false, false},
	} {
		tree, gotLeaf, hasTree, err := ParseEntryID(tc.in)
		var ie *InputError
		if tc.ok != (err == nil) || (err != nil && !errors.As(err, &ie)) {
			t.Errorf("ParseEntryID(%q) error %v", tc.in, err)
			continue
		}
		if tc.ok && (tree != tc.tree || hasTree != tc.hasTree || gotLeaf != leaf) {
			t.Errorf("ParseEntryID(%q) = %x %x %v", tc.in, tree, gotLeaf, hasTree)
		}
	}
}

func TestSETPayload(t *testing.T) {
	got, err := SETPayload([]byte("leaf <&>"), 1700000000, "c0ffee", 42)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"body":"bGVhZiA8Jj4=","integratedTime":1700000000,"logID":"c0ffee","logIndex":42}`
	if string(got) != want {
		t.Fatalf("SETPayload = %s, want %s", got, want)
	}
}

func TestSearchKeys(t *testing.T) {
	k := newTestKey(t, "p256")
	keyHash := sha256.Sum256(k.pem)
	sha := strings.Repeat("AB", 32)
	for _, tc := range []struct {
		name string
		q    SearchQuery
		sets [][]string
		op   string
		code int
		msg  string
	}{
		{"empty", SearchQuery{}, nil, "or", 0, ""},
		{"bare sha256", SearchQuery{Hash: sha}, [][]string{{"sha256:" + strings.ToLower(sha)}}, "or", 0, ""},
		{"prefixed sha512", SearchQuery{Hash: "sha512:" + strings.Repeat("0", 128)}, [][]string{{"sha512:" + strings.Repeat("0", 128)}}, "or", 0, ""},
		{"sha1", SearchQuery{Hash: strings.Repeat("1", 40)}, [][]string{{"sha1:" + strings.Repeat("1", 40)}}, "or", 0, ""},
		{"sha384 is not searchable", SearchQuery{Hash: strings.Repeat("1", 96)}, nil, "", 422, "hash in body should match"},
		{"all fields", SearchQuery{Hash: sha, PublicKey: &SearchPublicKey{Format: "x509", Content: k.pem}, Email: "A@B.example", Subject: "HTTPS://X", Operator: "and"},
			[][]string{{"sha256:" + strings.ToLower(sha)}, {hex.EncodeToString(keyHash[:])}, {"a@b.example"}, {"https://x"}}, "and", 0, ""},
		{"bad operator", SearchQuery{Operator: "xor"}, nil, "", 422, "operator in body should be one of [and or]"},
		{"bad email", SearchQuery{Email: "nope"}, nil, "", 422, `email in body must be of type email: "nope"`},
		{"long subject", SearchQuery{Subject: strings.Repeat("é", 513)}, nil, "", 422, "subject in body should be at most 512 chars long"},
		{"no format", SearchQuery{PublicKey: &SearchPublicKey{Content: k.pem}}, nil, "", 422, "publicKey.publicKey.format in body is required"},
		{"bad format", SearchQuery{PublicKey: &SearchPublicKey{Format: "gpg"}}, nil, "", 422, "publicKey.publicKey.format in body should be one of [pgp x509 minisign ssh tuf]"},
		{"unsupported format", SearchQuery{PublicKey: &SearchPublicKey{Format: "pgp", Content: []byte("x")}}, nil, "", 400, "the PKI format requested is not supported by this server"},
		{"bad key", SearchQuery{PublicKey: &SearchPublicKey{Format: "x509", Content: []byte("x")}}, nil, "", 400, "public key provided could not be parsed"},
		{"bad ssh key", SearchQuery{PublicKey: &SearchPublicKey{Format: "ssh", Content: []byte("ssh-rsa x")}}, nil, "", 400, "public key provided could not be parsed"},
	} {
		sets, op, err := tc.q.Keys()
		if tc.code != 0 {
			var ie *InputError
			if !errors.As(err, &ie) || ie.Code != tc.code || !strings.HasPrefix(ie.Message, tc.msg) {
				t.Errorf("%s: got %v, want %d %q", tc.name, err, tc.code, tc.msg)
			}
			continue
		}
		if err != nil || op != tc.op || len(sets) != len(tc.sets) {
			t.Errorf("%s: Keys() = %q %q %v", tc.name, sets, op, err)
			continue
		}
		for i := range sets {
			if !slices.Equal(sets[i], tc.sets[i]) {
				t.Errorf("%s: keyset %d = %q, want %q", tc.name, i, sets[i], tc.sets[i])
			}
		}
	}

	// A public key query finds the hashedrekord entries of that key, however
	// the key was formatted when submitted.
	block, _ := pem.Decode(k.pem)
	block.Headers = map[string]string{"X": "y"}
	e, err := Canonicalize(body(t, hashedRekordRequest(t, k, pem.EncodeToMemory(block), "sha256")), DefaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	sets, _, err := SearchQuery{PublicKey: &SearchPublicKey{Format: "x509", Content: k.pem}}.Keys()
	if err != nil || !slices.Contains(e.IndexKeys, sets[0][0]) {
		t.Errorf("key query %q not in index keys %q (%v)", sets, e.IndexKeys, err)
	}
}

// bindCases are request bodies whose binding is easy to get wrong: escapes
// next to quotes, runs of backslashes, invalid UTF-8 and surrogates,
// duplicate and differently-cased names, nulls, numbers, white space,
// trailing data.
var bindCases = []string{
	`{"kind":"dsse","apiVersion":"0.0.1","spec":{"proposedContent":{"envelope":"{\"payload\":\"YQ==\"}","verifiers":["a",""]}}}`,
	`{"kind":"intoto","apiVersion":"0.0.1","spec":{"content":{"envelope":"a\\\"b\\\\","hash":{"algorithm":"sha256"}}}} trailing`,
	`{"kind":"x","spec":{"a":"\\\\\\\\\"\\","b":"\"","c":"\\\\"}}`,
	"{\"spec\":{\"s\":\"a\xffb\\ud800c\\udc00\\ud83d\\ude00\\u0000\xed\xa0\x80\",\"\xff\":1}}",
	`{"spec":{"a":{"x":1},"a":{"y":2},"b":[1,{}],"b":[]}}`,
	`{"spec":{"x":1},"Spec":{"y":2}}`,
	`{"spec":{"x":1},"spec":null}`,
	`{"SPEC":[true,false,null,-0.5e+10,1E3,0,"",[],{}]}`,
	" \t\r\n{ \"kind\" : \"a\" , \"spec\" : { \"a\" : [ 1 , 2 ] , \"b\" : { } } } \n",
	`{"kind":"a","apiVersion":null,"spec":"text"}`,
	`{"kind":"a","spec":12.5}`,
	`{"kind":5,"spec":{}}`,
	`{"kind":"a","spec":{"a":1}`,
	`{"spec":{"cont\u0065nt":{"\u0065nvelope":"\u00e9\n\t\/"}}}`,
	`{"kind":"a","k\u0131nd":"b","\u212aind":"c","spec":{}}`,
	`[1,2]`,
	`"just a string"`,
	`null`,
	``,
	`  `,
	`{}`,
	// Long strings with few escapes, which unquoteValid copies run by run.
	`{"spec":{"e":"` + strings.Repeat("x", 200) + `\"\\\/\b\f\n\r\t\"` + strings.Repeat("y", 900) + `"}}`,
	`{"spec":{"e":"` + strings.Repeat("x", 200) + `\"\u00e9\ud83d\ude00\ud800\"` + strings.Repeat("y", 900) + `"}}`,
	`{"spec":{"e":"` + strings.Repeat("x", 200) + "\"ÿ\"" + strings.Repeat("y", 900) + `"}}`,
	`{"spec":{"e":"` + strings.Repeat(`\"`, 200) + strings.Repeat("y", 900) + `\\"}}`,
	`{"spec":{"e":"` + strings.Repeat("y", 900) + `\\"}}`,
}

func TestBindProposedEntry(t *testing.T) {
	for _, s := range bindCases {
		checkBind(t, []byte(s))
	}
}

// TestURLSafePayload: an envelope whose payload is URL-safe base64 verifies
// (securesystemslib accepts both alphabets), then dsse logs it while the
// intoto kinds, which decode the payload again as standard base64 only,
// refuse it, as Rekor does.
func TestURLSafePayload(t *testing.T) {
	payload := []byte{0xfb, 0xff, 0xbf, 'a'} // "+/+/YQ==" in standard base64
	key := newTestKey(t, "p256")
	sig := base64.StdEncoding.EncodeToString(key.signMessage(t, format.PAE(inToto, payload)))
	env, err := json.Marshal(envelope{PayloadType: inToto, Payload: base64.URLEncoding.EncodeToString(payload),
		Signatures: []envelopeSignature{{Sig: sig}}})
	if err != nil {
		t.Fatal(err)
	}

	e, err := Canonicalize(body(t, dsseRequest(t, string(env), key.pem)), DefaultOptions())
	if err != nil {
		t.Fatalf("dsse: %v", err)
	}
	ph := sha256.Sum256(payload)
	if !strings.Contains(string(e.Canonical), hex.EncodeToString(ph[:])) {
		t.Errorf("dsse: the canonical entry %s lacks the payload's hash", e.Canonical)
	}

	const v1Want = "error processing entry: illegal base64 data at input byte 0"
	if _, err := Canonicalize(body(t, intotoV1Request(string(env), key.pem)), DefaultOptions()); err == nil || err.Error() != v1Want {
		t.Errorf("intoto 0.0.1: %v, want %q", err, v1Want)
	}

	req := intotoV2Request(t, inToto, payload, key)
	envelopeField := req["spec"].(map[string]any)["content"].(map[string]any)["envelope"].(map[string]any)
	envelopeField["payload"] = base64.StdEncoding.EncodeToString([]byte(base64.URLEncoding.EncodeToString(payload)))
	const v2Want = "error processing entry: could not decode envelope payload: illegal base64 data at input byte 0"
	if _, err := Canonicalize(body(t, req), DefaultOptions()); err == nil || err.Error() != v2Want {
		t.Errorf("intoto 0.0.2: %v, want %q", err, v2Want)
	}
}

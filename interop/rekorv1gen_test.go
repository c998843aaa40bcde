package interop

// Random inputs for the differential tests of rekorv1types_test.go: keys of
// every type Rekor v1 supports, certificates and chains, signatures,
// hashedrekord, DSSE and in-toto requests, and mutations of any request.
// REKORV1_SEED fixes the seed; REKORV1_CASES scales the case count.

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
	"encoding/asn1"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"math/big"
	mrand "math/rand/v2"
	"net"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sigstore/sigstore/pkg/cryptoutils"
	"golang.org/x/crypto/ssh"
)

// --- random keys, certificates and requests ---

type signer struct {
	name string
	priv crypto.Signer
}

func (s *signer) pub() crypto.PublicKey { return s.priv.Public() }

type pool struct {
	r       *mrand.Rand
	signers []*signer
	root    *issuer // CA for leaf certificates
	long    []*x509.Certificate
	longKey *signer // leaf key of a chain of 11 certificates
}

type issuer struct {
	cert  *x509.Certificate
	key   crypto.Signer
	chain []*x509.Certificate // issuer first, root last
}

func newPool(t *testing.T, r *mrand.Rand) *pool {
	p := &pool{r: r}
	add := func(name string, k crypto.Signer, err error) {
		if err != nil {
			t.Fatal(err)
		}
		p.signers = append(p.signers, &signer{name, k})
	}
	for _, c := range []elliptic.Curve{elliptic.P224(), elliptic.P256(), elliptic.P256(), elliptic.P384(), elliptic.P521()} {
		k, err := ecdsa.GenerateKey(c, rand.Reader)
		add("ecdsa-"+c.Params().Name, k, err)
	}
	for _, bits := range []int{1024, 2048, 2048, 3072, 4096} {
		k, err := rsa.GenerateKey(rand.Reader, bits)
		add("rsa-"+strconv.Itoa(bits), k, err)
	}
	for range 3 {
		_, k, err := ed25519.GenerateKey(rand.Reader)
		add("ed25519", k, err)
	}

	root := p.newCA(t, nil, "root")
	inter := p.newCA(t, root, "intermediate")
	p.root = inter
	// A chain of 11: a leaf under nine intermediates under a root.
	ca := p.newCA(t, nil, "long-root")
	for i := range 9 {
		ca = p.newCA(t, ca, "long-"+strconv.Itoa(i))
	}
	p.longKey = p.signers[1]
	leaf := p.newLeaf(t, ca, p.longKey, false)
	p.long = append([]*x509.Certificate{leaf}, ca.chain...)
	return p
}

func (p *pool) newCA(t *testing.T, parent *issuer, name string) *issuer {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(p.r.Int64()),
		Subject:               pkix.Name{CommonName: name},
		NotBefore:             time.Now().Add(-48 * time.Hour),
		NotAfter:              time.Now().Add(48 * time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign,
	}
	parentCert, parentKey := tmpl, crypto.Signer(k)
	if parent != nil {
		parentCert, parentKey = parent.cert, parent.key
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parentCert, k.Public(), parentKey)
	if err != nil {
		t.Fatal(err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	is := &issuer{cert: c, key: k, chain: []*x509.Certificate{c}}
	if parent != nil {
		is.chain = append(is.chain, parent.chain...)
	}
	return is
}

// newLeaf issues a certificate for s with random SANs, signed by ca or
// self-signed if ca is nil.
func (p *pool) newLeaf(t *testing.T, ca *issuer, s *signer, selfSigned bool) *x509.Certificate {
	r := p.r
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(r.Int64()),
		Subject:      pkix.Name{CommonName: "leaf"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageCodeSigning},
	}
	if r.IntN(4) == 0 {
		ext, err := cryptoutils.MarshalOtherNameSAN(randWord(r)+"!github.com", true)
		if err != nil {
			t.Fatal(err)
		}
		tmpl.ExtraExtensions = []pkix.Extension{*ext}
	} else {
		for range r.IntN(3) {
			tmpl.EmailAddresses = append(tmpl.EmailAddresses, randCase(r, randWord(r))+"@Example.COM")
		}
		if r.IntN(2) == 0 {
			u, _ := url.Parse("https://github.com/" + randCase(r, randWord(r)) + "/.github/workflows/x.yml@refs/heads/main")
			tmpl.URIs = append(tmpl.URIs, u)
		}
		if r.IntN(3) == 0 {
			tmpl.DNSNames = append(tmpl.DNSNames, randWord(r)+".example.org")
		}
		if r.IntN(5) == 0 {
			tmpl.IPAddresses = append(tmpl.IPAddresses, net.IPv4(10, 0, byte(r.IntN(256)), 1), net.ParseIP("2001:db8::1"))
		}
	}
	parent, key := tmpl, s.priv
	if !selfSigned {
		parent, key = ca.cert, ca.key
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, s.pub(), key)
	if err != nil {
		t.Fatal(err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func randWord(r *mrand.Rand) string {
	const letters = "abcdefghijklmnopqrstuvwxyz0123456789"
	b := make([]byte, 3+r.IntN(8))
	for i := range b {
		b[i] = letters[r.IntN(len(letters))]
	}
	return string(b)
}

func randCase(r *mrand.Rand, s string) string {
	b := []byte(s)
	for i := range b {
		if r.IntN(3) == 0 {
			b[i] = bytes.ToUpper(b[i : i+1])[0]
		}
	}
	return string(b)
}

func randBytes(r *mrand.Rand, n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

// keyMaterial returns the PEM a client would submit for s: a public key, a
// certificate, or a chain, with cosmetic variations Rekor's re-encoding
// removes.
func (p *pool) keyMaterial(t *testing.T, s *signer) []byte {
	r := p.r
	var blocks []*pem.Block
	switch n := r.IntN(10); {
	case n < 4:
		der, err := x509.MarshalPKIXPublicKey(s.pub())
		if err != nil {
			t.Fatal(err)
		}
		blocks = []*pem.Block{{Type: "PUBLIC KEY", Bytes: der}}
	case n < 6:
		blocks = []*pem.Block{{Type: "CERTIFICATE", Bytes: p.newLeaf(t, nil, s, true).Raw}}
	case n < 9:
		chain := append([]*x509.Certificate{p.newLeaf(t, p.root, s, false)}, p.root.chain...)
		if r.IntN(4) == 0 {
			chain = chain[:2] // an incomplete chain: no root
		}
		if r.IntN(6) == 0 {
			chain[0], chain[1] = chain[1], chain[0] // out of order
		}
		for _, c := range chain {
			blocks = append(blocks, &pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})
		}
	default:
		if s != p.longKey {
			return p.keyMaterial(t, s)
		}
		for _, c := range p.long {
			blocks = append(blocks, &pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})
		}
	}
	var out []byte
	if r.IntN(8) == 0 {
		out = append(out, "leading text\n"...)
	}
	for _, b := range blocks {
		if r.IntN(10) == 0 {
			b.Headers = map[string]string{"Comment": randWord(r)}
		}
		out = append(out, pem.EncodeToMemory(b)...)
	}
	switch r.IntN(8) {
	case 0:
		out = bytes.ReplaceAll(out, []byte("\n"), []byte("\r\n"))
	case 1:
		out = bytes.TrimRight(out, "\n")
	case 2:
		out = append(out, "\n\n  "...)
	case 3:
		out = append(out, "trailing junk"...)
	}
	return out
}

// signDigest signs a hashedrekord digest, usually correctly.
func signDigest(t *testing.T, r *mrand.Rand, s *signer, h crypto.Hash, digest []byte) []byte {
	var sig []byte
	var err error
	switch k := s.priv.(type) {
	case *ecdsa.PrivateKey:
		sig, err = ecdsa.SignASN1(rand.Reader, k, digest)
		if err == nil && r.IntN(4) == 0 {
			sig = toP1363(t, k, sig)
		}
	case *rsa.PrivateKey:
		if r.IntN(10) == 0 {
			sig, err = rsa.SignPSS(rand.Reader, k, h, digest, nil) // Rekor rejects PSS
		} else {
			sig, err = rsa.SignPKCS1v15(rand.Reader, k, h, digest)
		}
	case ed25519.PrivateKey:
		if r.IntN(10) == 0 || h != crypto.SHA512 {
			sig = ed25519.Sign(k, digest) // pure Ed25519 over the digest: rejected
		} else {
			sig, err = k.Sign(nil, digest, &ed25519.Options{Hash: crypto.SHA512})
		}
	}
	if err != nil {
		t.Fatal(err)
	}
	return sig
}

// signMessage signs a DSSE PAE as Rekor's verifiers expect (SHA-256).
func signMessage(t *testing.T, r *mrand.Rand, s *signer, msg []byte) []byte {
	var sig []byte
	var err error
	digest := sha256.Sum256(msg)
	switch k := s.priv.(type) {
	case *ecdsa.PrivateKey:
		sig, err = ecdsa.SignASN1(rand.Reader, k, digest[:])
		if err == nil && r.IntN(5) == 0 {
			sig = toP1363(t, k, sig)
		}
	case *rsa.PrivateKey:
		sig, err = rsa.SignPKCS1v15(rand.Reader, k, crypto.SHA256, digest[:])
	case ed25519.PrivateKey:
		sig = ed25519.Sign(k, msg)
	}
	if err != nil {
		t.Fatal(err)
	}
	return sig
}

func toP1363(t *testing.T, k *ecdsa.PrivateKey, der []byte) []byte {
	var rs struct{ R, S *big.Int }
	if _, err := asn1.Unmarshal(der, &rs); err != nil {
		t.Fatal(err)
	}
	n := (k.Curve.Params().BitSize + 7) / 8
	out := make([]byte, 2*n)
	rs.R.FillBytes(out[:n])
	rs.S.FillBytes(out[n:])
	return out
}

func pae(payloadType string, payload []byte) []byte {
	return fmt.Appendf(nil, "DSSEv1 %d %s %d %s", len(payloadType), payloadType, len(payload), payload)
}

// b64 encodes with the standard alphabet, sometimes with line breaks that
// Go's decoder (and so Rekor) skips.
func b64(r *mrand.Rand, b []byte) string {
	s := base64.StdEncoding.EncodeToString(b)
	if len(s) > 10 && r.IntN(15) == 0 {
		i := r.IntN(len(s))
		s = s[:i] + "\n" + s[i:]
	}
	return s
}

func randomPayload(r *mrand.Rand) (payloadType string, payload []byte) {
	switch r.IntN(8) {
	case 0:
		return "text/plain; charset=\u00e9\u2028<&>", randBytes(r, r.IntN(64))
	case 1:
		return "application/vnd.in-toto+json", []byte(`{"subject":[{"digest":{"sha256":7}}]}`)
	case 2:
		return "application/vnd.in-toto+json", []byte("not json")
	}
	digest := func() map[string]string {
		d := map[string]string{}
		for range 1 + r.IntN(2) {
			alg := []string{"sha256", "SHA512", "gitCommit"}[r.IntN(3)]
			d[alg] = randCase(r, hex.EncodeToString(randBytes(r, 8+r.IntN(24))))
		}
		return d
	}
	st := map[string]any{
		"_type":         "https://in-toto.io/Statement/v0.1",
		"predicateType": "https://slsa.dev/provenance/v0.2",
	}
	var subjects []any
	for range r.IntN(3) {
		subjects = append(subjects, map[string]any{"name": randWord(r), "digest": digest()})
	}
	st["subject"] = subjects
	pred := map[string]any{"builder": map[string]any{"id": "https://builder"}, "buildType": "x"}
	if r.IntN(2) == 0 {
		pred["materials"] = []any{map[string]any{"uri": "git+https://x", "digest": digest()}}
	}
	if r.IntN(5) == 0 {
		pred["buildType"] = 42 // breaks typed provenance decoding only
	}
	if r.IntN(5) == 0 {
		pred["metadata"] = map[string]any{"buildStartedOn": "yesterday"}
	}
	st["predicate"] = pred
	b, _ := json.Marshal(st)
	return "application/vnd.in-toto+json", b
}

type envSig struct {
	KeyID string `json:"keyid"`
	Sig   string `json:"sig"`
}

// envelopeJSON renders an envelope with random formatting, since the
// envelope hash covers the exact string.
func envelopeJSON(r *mrand.Rand, payloadType, payload string, sigs []envSig) string {
	env := map[string]any{"payloadType": payloadType, "payload": payload, "signatures": sigs}
	var b []byte
	if r.IntN(3) == 0 {
		b, _ = json.MarshalIndent(env, "", "  ")
	} else {
		b, _ = json.Marshal(env)
	}
	if r.IntN(6) == 0 {
		b = append([]byte(" \n"), b...)
	}
	return string(b)
}

func (p *pool) randSigner() *signer { return p.signers[p.r.IntN(len(p.signers))] }

func (p *pool) distinctSigners(n int) []*signer {
	idx := p.r.Perm(len(p.signers))[:n]
	var out []*signer
	for _, i := range idx {
		out = append(out, p.signers[i])
	}
	return out
}

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}

func (p *pool) hashedRekord(t *testing.T) []byte {
	r := p.r
	s := p.randSigner()
	natural := map[string]crypto.Hash{"ecdsa-P-384": crypto.SHA384, "ecdsa-P-521": crypto.SHA512, "ed25519": crypto.SHA512}
	h, ok := natural[s.name]
	if !ok {
		h = crypto.SHA256
	}
	if r.IntN(5) == 0 {
		h = []crypto.Hash{crypto.SHA256, crypto.SHA384, crypto.SHA512}[r.IntN(3)]
	}
	hasher := h.New()
	hasher.Write(randBytes(r, 1+r.IntN(100)))
	digest := hasher.Sum(nil)
	sig := signDigest(t, r, s, h, digest)
	if r.IntN(12) == 0 {
		sig[r.IntN(len(sig))] ^= 1
	}
	value := hex.EncodeToString(digest)
	if r.IntN(5) == 0 {
		value = strings.ToUpper(value)
	}
	alg := map[crypto.Hash]string{crypto.SHA256: "sha256", crypto.SHA384: "sha384", crypto.SHA512: "sha512"}[h]
	return mustJSON(map[string]any{
		"apiVersion": "0.0.1", "kind": "hashedrekord",
		"spec": map[string]any{
			"data":      map[string]any{"hash": map[string]any{"algorithm": alg, "value": value}},
			"signature": map[string]any{"content": b64(r, sig), "publicKey": map[string]any{"content": b64(r, p.keyMaterial(t, s))}},
		},
	})
}

func (p *pool) dsse(t *testing.T) []byte {
	r := p.r
	payloadType, payload := randomPayload(r)
	signers := p.distinctSigners(1 + r.IntN(3))
	encPayload := base64.StdEncoding.EncodeToString(payload)
	if r.IntN(8) == 0 {
		encPayload = base64.URLEncoding.EncodeToString(payload)
	}
	msg := pae(payloadType, payload)
	var sigs []envSig
	var verifiers []string
	for _, s := range signers {
		sig := signMessage(t, r, s, msg)
		if r.IntN(20) == 0 {
			sig[0] ^= 1
		}
		enc := base64.StdEncoding.EncodeToString(sig)
		if r.IntN(10) == 0 {
			enc = base64.URLEncoding.EncodeToString(sig)
		}
		kid := ""
		if r.IntN(4) == 0 {
			kid = randWord(r)
		}
		sigs = append(sigs, envSig{kid, enc})
		verifiers = append(verifiers, b64(r, p.keyMaterial(t, s)))
	}
	r.Shuffle(len(verifiers), func(i, j int) { verifiers[i], verifiers[j] = verifiers[j], verifiers[i] })
	switch r.IntN(10) {
	case 0: // an unrelated key: fatal if it is tried before all signatures verify
		verifiers = slices.Insert(verifiers, r.IntN(len(verifiers)+1), b64(r, p.keyMaterial(t, p.randSigner())))
	case 1:
		verifiers = append(verifiers, verifiers[0])
	case 2:
		verifiers = append(verifiers, "")
	}
	spec := map[string]any{"proposedContent": map[string]any{
		"envelope":  envelopeJSON(r, payloadType, encPayload, sigs),
		"verifiers": verifiers,
	}}
	return mustJSON(map[string]any{"apiVersion": "0.0.1", "kind": "dsse", "spec": spec})
}

func (p *pool) intotoV001(t *testing.T) []byte {
	r := p.r
	s := p.randSigner()
	payloadType, payload := randomPayload(r)
	encPayload := base64.StdEncoding.EncodeToString(payload)
	if r.IntN(10) == 0 {
		encPayload = base64.URLEncoding.EncodeToString(payload)
	}
	sig := signMessage(t, r, s, pae(payloadType, payload))
	kid := ""
	switch r.IntN(4) {
	case 0:
		kid = randWord(r) // does not match the key: the signature is skipped
	case 1:
		if k, err := ssh.NewPublicKey(s.pub()); err == nil {
			kid = ssh.FingerprintSHA256(k)
		}
	}
	sigs := []envSig{{kid, base64.StdEncoding.EncodeToString(sig)}}
	if r.IntN(4) == 0 {
		other := signMessage(t, r, p.randSigner(), pae(payloadType, payload))
		sigs = append(sigs, envSig{"", base64.StdEncoding.EncodeToString(other)})
		r.Shuffle(2, func(i, j int) { sigs[i], sigs[j] = sigs[j], sigs[i] })
	}
	return mustJSON(map[string]any{
		"apiVersion": "0.0.1", "kind": "intoto",
		"spec": map[string]any{
			"content":   map[string]any{"envelope": envelopeJSON(r, payloadType, encPayload, sigs)},
			"publicKey": b64(r, p.keyMaterial(t, s)),
		},
	})
}

func (p *pool) intotoV002(t *testing.T) []byte {
	r := p.r
	payloadType, payload := randomPayload(r)
	signers := p.distinctSigners(1 + r.IntN(2))
	msg := pae(payloadType, payload)
	encPayload := base64.StdEncoding.EncodeToString(payload)
	var sigs []any
	for _, s := range signers {
		sig := base64.StdEncoding.EncodeToString(signMessage(t, r, s, msg))
		item := map[string]any{"sig": b64(r, []byte(sig)), "publicKey": b64(r, p.keyMaterial(t, s))}
		if r.IntN(3) == 0 {
			item["keyid"] = randWord(r)
		}
		sigs = append(sigs, item)
	}
	envJSON := envelopeJSON(r, payloadType, encPayload, nil)
	content := map[string]any{"envelope": map[string]any{
		"payloadType": payloadType,
		"payload":     b64(r, []byte(encPayload)),
		"signatures":  sigs,
	}}
	switch n := r.IntN(10); {
	case n < 7:
		h := sha256.Sum256([]byte(envJSON))
		content["hash"] = map[string]any{"algorithm": "sha256", "value": hex.EncodeToString(h[:])}
	case n < 9:
		content["hash"] = map[string]any{"algorithm": "sha256", "value": randWord(r)}
	}
	if r.IntN(5) == 0 {
		content["payloadHash"] = map[string]any{"algorithm": "sha256", "value": "client-supplied"}
	}
	return mustJSON(map[string]any{"apiVersion": "0.0.2", "kind": "intoto", "spec": map[string]any{"content": content}})
}

// mutate makes one random change somewhere in a request's JSON tree,
// including inside JSON documents embedded as strings (DSSE envelopes).
func mutate(r *mrand.Rand, body []byte) []byte {
	var doc any
	if err := json.Unmarshal(body, &doc); err != nil {
		return body
	}
	var paths [][]any
	var walk func(v any, path []any)
	walk = func(v any, path []any) {
		paths = append(paths, slices.Clone(path))
		switch v := v.(type) {
		case map[string]any:
			for k, c := range v {
				walk(c, append(path, k))
			}
		case []any:
			for i, c := range v {
				walk(c, append(path, i))
			}
		}
	}
	walk(doc, nil)
	slices.SortFunc(paths, func(a, b []any) int { return strings.Compare(fmt.Sprint(a), fmt.Sprint(b)) })
	path := paths[r.IntN(len(paths))]
	if len(path) == 0 {
		return body
	}
	parent := doc
	for _, k := range path[:len(path)-1] {
		switch p := parent.(type) {
		case map[string]any:
			parent = p[k.(string)]
		case []any:
			parent = p[k.(int)]
		}
	}
	last := path[len(path)-1]
	get := func() any {
		if m, ok := parent.(map[string]any); ok {
			return m[last.(string)]
		}
		return parent.([]any)[last.(int)]
	}
	set := func(v any) {
		if m, ok := parent.(map[string]any); ok {
			m[last.(string)] = v
		} else {
			parent.([]any)[last.(int)] = v
		}
	}
	old := get()
	switch r.IntN(11) {
	case 0:
		if m, ok := parent.(map[string]any); ok {
			delete(m, last.(string))
		} else {
			set(nil)
		}
	case 1:
		set(nil)
	case 2:
		set(json.Number("7"))
	case 3:
		set("")
	case 4:
		set(map[string]any{})
	case 5:
		set([]any{})
	case 6:
		set(randWord(r) + "==")
	case 7, 8:
		if s, ok := old.(string); ok && s != "" {
			if inner := mutateString(r, s); inner != s {
				set(inner)
				break
			}
			b := []byte(s)
			b[r.IntN(len(b))] ^= byte(1 << r.IntN(7))
			set(string(b))
		}
	case 9:
		if m, ok := parent.(map[string]any); ok {
			delete(m, last.(string))
			m[strings.ToUpper(last.(string))] = old
		}
	case 10:
		if a, ok := old.([]any); ok && len(a) > 0 {
			set(append(a, a[0]))
		}
	}
	out, err := json.Marshal(doc)
	if err != nil {
		return body
	}
	return out
}

// mutateString mutates a string that is itself JSON, or base64 of JSON.
func mutateString(r *mrand.Rand, s string) string {
	if json.Valid([]byte(s)) && strings.ContainsAny(s, "{[") {
		return string(mutate(r, []byte(s)))
	}
	if b, err := base64.StdEncoding.DecodeString(s); err == nil && json.Valid(b) && r.IntN(2) == 0 {
		return base64.StdEncoding.EncodeToString(mutate(r, b))
	}
	return s
}

// defaultSeed keeps make test deterministic: the generated cases are the
// same on every run. REKORV1_SEED=random explores new ones (and logs the
// seed to reproduce a failure); REKORV1_SEED=N replays one.
const defaultSeed = 20261207

func seed(t *testing.T) uint64 {
	s := uint64(defaultSeed)
	if v := os.Getenv("REKORV1_SEED"); v == "random" {
		s = uint64(time.Now().UnixNano())
	} else if v != "" {
		var err error
		if s, err = strconv.ParseUint(v, 10, 64); err != nil {
			t.Fatal(err)
		}
	}
	t.Logf("REKORV1_SEED=%d", s)
	return s
}

func caseCount(n int) int {
	if v, err := strconv.Atoi(os.Getenv("REKORV1_CASES")); err == nil && v > 0 {
		return v
	}
	if testing.Short() {
		return n / 5
	}
	return n
}

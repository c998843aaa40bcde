package interop

// Differential tests of tlog/rekorv1 against Rekor v1.5.4's own type
// packages: for many random requests (random keys of every supported type,
// certificates and chains, artifacts, DSSE and in-toto envelopes) and
// random mutations of them, Hallmark must accept exactly what Rekor
// accepts, produce byte-identical canonical leaves and the same index keys,
// and reject with the same status and message.
//
// The cases come from a fixed seed; REKORV1_SEED=N replays another,
// REKORV1_SEED=random explores (the seed is logged); REKORV1_CASES scales
// the case count.

import (
	"bytes"
	"context"
	"crypto"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	mrand "math/rand/v2"
	"net/http"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/cyberphone/json-canonicalization/go/src/webpki.org/jsoncanonicalizer"
	oaerrors "github.com/go-openapi/errors"
	"github.com/go-openapi/runtime"
	"github.com/go-openapi/strfmt"
	"github.com/gowebpki/jcs"
	v1 "github.com/sigstore/protobuf-specs/gen/pb-go/common/v1"
	"github.com/sigstore/rekor/pkg/generated/models"
	rekorlog "github.com/sigstore/rekor/pkg/log"
	"github.com/sigstore/rekor/pkg/pki"
	"github.com/sigstore/rekor/pkg/sharding"
	"github.com/sigstore/rekor/pkg/types"
	_ "github.com/sigstore/rekor/pkg/types/dsse/v0.0.1"
	hashedrekord "github.com/sigstore/rekor/pkg/types/hashedrekord/v0.0.1"
	_ "github.com/sigstore/rekor/pkg/types/intoto/v0.0.1"
	_ "github.com/sigstore/rekor/pkg/types/intoto/v0.0.2"
	"github.com/sigstore/rekor/pkg/util"
	"github.com/sigstore/sigstore/pkg/signature"
	"golang.org/x/crypto/ssh"

	"github.com/hallmark-dev/hallmark/tlog/rekorv1"
)

// --- Rekor, as its createLogEntry handler sees a request ---

type outcome struct {
	code    int // 0 on success
	message string
	leaf    []byte
	keys    []string // lower-cased, de-duplicated, sorted
	// overLimit: Hallmark refused the entry for exceeding one of its
	// verification limits (rekorv1.ErrOverLimit), which Rekor does not have.
	overLimit bool
}

// rekorCreate runs body through Rekor's request binding and createLogEntry
// up to (not including) the Trillian write, then computes the index keys
// the way the handler's goroutine does.
func rekorCreate(t *testing.T, body []byte) outcome {
	pe, err := models.UnmarshalProposedEntry(bytes.NewReader(body), runtime.JSONConsumer())
	if errors.Is(err, io.EOF) {
		err = oaerrors.Required("proposedEntry", "body", "")
	}
	if err == nil {
		err = pe.Validate(strfmt.Default)
	}
	if err != nil {
		return servedError(err)
	}
	entry, err := types.CreateVersionedEntry(pe)
	if err != nil {
		return outcome{code: 400, message: "error processing entry: " + err.Error()}
	}
	if ok, err := rekorAlgorithmsAllowed(entry); err != nil {
		return outcome{code: 400, message: "error processing entry: " + err.Error()}
	} else if !ok {
		return outcome{code: 400, message: "error processing entry: entry algorithms are not allowed"}
	}
	leaf, err := types.CanonicalizeEntry(context.Background(), entry)
	if err != nil {
		var ive *types.InputValidationError
		if errors.As(err, &ive) {
			return outcome{code: 400, message: "error processing entry: " + err.Error()}
		}
		return outcome{code: 500, message: "error generating canonicalized entry"}
	}
	// Rekor indexes nothing when IndexKeys fails.
	keys, err := entry.IndexKeys()
	if err != nil {
		keys = nil
	}
	return outcome{leaf: leaf, keys: normalizedKeys(keys)}
}

// servedError renders a binding error as go-openapi's ServeError does:
// the first error of a (flattened) composite, plain errors as 500s.
func servedError(err error) outcome {
	for {
		var ce *oaerrors.CompositeError
		if !errors.As(err, &ce) || len(ce.Errors) == 0 {
			break
		}
		err = ce.Errors[0]
	}
	var apiErr oaerrors.Error
	if errors.As(err, &apiErr) {
		code := int(apiErr.Code())
		if code >= 600 {
			code = 422
		}
		return outcome{code: code, message: apiErr.Error()}
	}
	return outcome{code: 500, message: err.Error()}
}

// rekorRegistry is the registry rekor-server builds from its default
// --client-signing-algorithms (pkg/api.AllowedClientSigningAlgorithms).
var rekorRegistry = func() *signature.AlgorithmRegistryConfig {
	reg, err := signature.NewAlgorithmRegistryConfig([]v1.PublicKeyDetails{
		v1.PublicKeyDetails_PKIX_RSA_PKCS1V15_2048_SHA256,
		v1.PublicKeyDetails_PKIX_RSA_PKCS1V15_3072_SHA256,
		v1.PublicKeyDetails_PKIX_RSA_PKCS1V15_4096_SHA256,
		v1.PublicKeyDetails_PKIX_ECDSA_P256_SHA_256,
		v1.PublicKeyDetails_PKIX_ECDSA_P384_SHA_384,
		v1.PublicKeyDetails_PKIX_ECDSA_P521_SHA_512,
		v1.PublicKeyDetails_PKIX_ED25519,
		v1.PublicKeyDetails_PKIX_ED25519_PH,
	})
	if err != nil {
		panic(err)
	}
	return reg
}()

// rekorAlgorithmsAllowed is Rekor's checkEntryAlgorithms (unexported in
// pkg/api) with the default registry.
func rekorAlgorithmsAllowed(entry types.EntryImpl) (bool, error) {
	if _, ok := entry.(*hashedrekord.V001Entry); !ok {
		return true, nil
	}
	verifiers, err := entry.Verifiers()
	if err != nil {
		return false, err
	}
	hash := crypto.SHA256
	if ah, err := entry.ArtifactHash(); err == nil {
		switch strings.SplitN(ah, ":", 2)[0] {
		case "sha384":
			hash = crypto.SHA384
		case "sha512":
			hash = crypto.SHA512
		}
	}
	for _, v := range verifiers {
		ids, err := v.Identities()
		if err != nil {
			return false, err
		}
		for _, id := range ids {
			pub := id.Crypto
			if c, ok := pub.(*x509.Certificate); ok {
				pub = c.PublicKey
			}
			ok, err := rekorRegistry.IsAlgorithmPermitted(pub, hash)
			if err != nil || !ok {
				return false, err
			}
		}
	}
	return true, nil
}

func normalizedKeys(keys []string) []string {
	out := []string{}
	for _, k := range keys {
		k = strings.ToLower(k)
		if !slices.Contains(out, k) {
			out = append(out, k)
		}
	}
	slices.Sort(out)
	return out
}

func hallmarkCreate(t *testing.T, body []byte) outcome {
	e, err := rekorv1.Canonicalize(body, rekorv1.DefaultOptions())
	if err != nil {
		var ie *rekorv1.InputError
		if !errors.As(err, &ie) {
			return outcome{code: 500, message: err.Error()}
		}
		return outcome{code: ie.Code, message: ie.Message, overLimit: errors.Is(err, rekorv1.ErrOverLimit)}
	}
	if !json.Valid(e.Canonical) {
		t.Errorf("canonical entry is not JSON: %q", e.Canonical)
	}
	return outcome{leaf: e.Canonical, keys: normalizedKeys(e.IndexKeys)}
}

// goTypeNames maps the Go type names encoding/json puts in its type errors
// from Rekor's types to Hallmark's; they are the only difference in them.
var goTypeNames = strings.NewReplacer(
	"models.targetedProposedEntry", "rekorv1.targetedProposedEntry",
	"Go struct field Envelope.", "Go struct field envelope.",
	"Go struct field Signature.", "Go struct field envelopeSignature.",
	// Go 1.27's encoding/json names the path without "Go struct field".
	"into Envelope.", "into envelope.",
	"into Signature.", "into envelopeSignature.",
	"dsse.Signature", "rekorv1.envelopeSignature",
	"dsse.Envelope", "rekorv1.envelope",
)

// emptyDigestKey reports whether an index key is "<algorithm>:" alone.
func emptyDigestKey(k string) bool { return strings.HasSuffix(k, ":") && !strings.Contains(k, "/") }

// knownDeviation reports documented, deliberate differences from Rekor.
func knownDeviation(want, got outcome) bool {
	if got.overLimit && got.code == 400 {
		// Hallmark bounds what one entry may cost to verify (signatures,
		// keys, their cost; docs/rekor.md); Rekor does not, and may accept
		// an entry past those bounds or refuse it later for another reason.
		return true
	}
	if strings.Contains(want.message, "json: cannot unmarshal") {
		want.message = goTypeNames.Replace(want.message)
		if want.code == got.code && want.message == got.message {
			return true
		}
	}
	if want.code == 0 && got.code == 0 && bytes.Equal(want.leaf, got.leaf) &&
		slices.Equal(slices.DeleteFunc(slices.Clone(want.keys), emptyDigestKey), got.keys) {
		// Rekor v1.6.1's dsse type keeps what encoding/json half-decoded
		// from an in-toto payload whose digest values are not strings, and
		// indexes "sha256:" with no digest; v1.5.4 indexed nothing from such
		// a payload, nor does Hallmark. A key without a digest matches no
		// search (Rekor's search API refuses an empty hash).
		return true
	}
	switch {
	case want.code == 500 && got.code == 400 && want.message == got.message:
		return true // malformed JSON: Rekor serves the decoder's error as a 500
	case want.code == 500 && want.message == "error generating canonicalized entry" &&
		got.message == "error processing entry: missing envelope digest":
		return true // intoto 0.0.2 without content.hash: Rekor 500s
	}
	return false
}

type differ struct {
	t        *testing.T
	accepted map[string]int
	rejected map[string]int
	reasons  map[string]int // Rekor's rejection messages, abbreviated
	failures int
}

func newDiffer(t *testing.T) *differ {
	return &differ{t: t, accepted: map[string]int{}, rejected: map[string]int{}, reasons: map[string]int{}}
}

// logReasons shows which rejection paths the cases reached (with -v).
func (d *differ) logReasons() {
	if !testing.Verbose() {
		return
	}
	var lines []string
	for msg, n := range d.reasons {
		lines = append(lines, fmt.Sprintf("%5d %s", n, msg))
	}
	slices.Sort(lines)
	d.t.Logf("rejections:\n%s", strings.Join(lines, "\n"))
}

func (d *differ) check(label string, body []byte) {
	d.t.Helper()
	want, got := rekorCreate(d.t, body), hallmarkCreate(d.t, body)
	ok := want.code == got.code && want.message == got.message &&
		bytes.Equal(want.leaf, got.leaf) && slices.Equal(want.keys, got.keys)
	if !ok && !knownDeviation(want, got) {
		d.failures++
		if d.failures <= 15 {
			d.t.Errorf("%s: mismatch for request\n%s\nrekor:    %d %q\n          leaf %s\n          keys %q\nhallmark: %d %q\n          leaf %s\n          keys %q",
				label, body, want.code, want.message, want.leaf, want.keys, got.code, got.message, got.leaf, got.keys)
		}
	}
	if want.code == 0 {
		d.accepted[label]++
	} else {
		d.rejected[label]++
		msg := strings.ReplaceAll(want.message, "\n", " ")
		if len(msg) > 110 {
			msg = msg[:110]
		}
		d.reasons[fmt.Sprintf("%d %s", want.code, msg)]++
	}
}

// TestMain silences Rekor's development logger, which otherwise prints a
// stack trace for every entry whose index keys it cannot fully compute.
// Its zap sinks bind os.Stderr when configured, so point that elsewhere
// while reconfiguring.
func TestMain(m *testing.M) {
	if devNull, err := os.OpenFile(os.DevNull, os.O_WRONLY, 0); err == nil {
		stderr := os.Stderr
		os.Stderr = devNull
		rekorlog.ConfigureLogger("prod", "")
		os.Stderr = stderr
	}
	os.Exit(m.Run())
}

func TestRekorV1CanonicalizeMatchesRekor(t *testing.T) {
	s := seed(t)
	r := mrand.New(mrand.NewPCG(s, s^0x9e3779b97f4a7c15))
	p := newPool(t, r)
	d := newDiffer(t)
	gens := []struct {
		name string
		gen  func(*testing.T) []byte
	}{
		{"hashedrekord", p.hashedRekord},
		{"dsse", p.dsse},
		{"intoto/0.0.1", p.intotoV001},
		{"intoto/0.0.2", p.intotoV002},
	}
	n := caseCount(300)
	for i := range n {
		for _, g := range gens {
			body := g.gen(t)
			d.check(g.name, body)
			for range 3 {
				d.check(g.name+"/mutated", mutate(r, body))
			}
			if i%10 == 0 {
				d.check(g.name+"/mutated-twice", mutate(r, mutate(r, body)))
			}
		}
	}
	for _, g := range gens {
		t.Logf("%-14s accepted %4d rejected %4d; mutated: accepted %4d rejected %4d", g.name,
			d.accepted[g.name], d.rejected[g.name], d.accepted[g.name+"/mutated"], d.rejected[g.name+"/mutated"])
		if d.accepted[g.name] < n/3 {
			t.Errorf("%s: only %d of %d generated requests were accepted; the generator is not exercising success paths", g.name, d.accepted[g.name], n)
		}
	}
	d.logReasons()
	if d.failures > 0 {
		t.Errorf("%d mismatches", d.failures)
	}
}

// Hand-written requests that random generation reaches rarely.
func TestRekorV1CanonicalizeEdgeCasesMatchRekor(t *testing.T) {
	d := newDiffer(t)
	for _, body := range edgeCases {
		d.check("edge", []byte(body))
	}
}

var edgeCases = []string{
	``, ` `, `null`, `[]`, `{}`, `{"kind":7}`, `{"kind":"nope"}`, `{"kind":"ProposedEntry"}`,
	`{"kind":"hashedrekord"}`, `{"kind":"hashedrekord","apiVersion":"1"}`,
	`{"kind":"hashedrekord","apiVersion":"0.0.1"}`, `{"kind":"hashedrekord","apiVersion":"0.0.2","spec":{}}`,
	`{"kind":"hashedrekord","apiVersion":"0.0.1","spec":[]}`, `{"kind":"hashedrekord","apiVersion":"0.0.1","spec":"x"}`,
	`{"kind":"hashedrekord","apiVersion":"0.0.1","spec":{}}`,
	`{"kind":"hashedrekord","apiVersion":"0.0.1","spec":{"data":{}}}`,
	`{"kind":"hashedrekord","apiVersion":"0.0.1","spec":{"data":{"hash":{}},"signature":{}}}`,
	`{"kind":"hashedrekord","apiVersion":"0.0.1","spec":{"data":{"hash":{"algorithm":"md5"}},"signature":{}}}`,
	`{"kind":"hashedrekord","apiVersion":"0.0.1","spec":{"data":{"hash":{"algorithm":"sha256","value":"00"}},"signature":{}}}`,
	`{"kind":"hashedrekord","apiVersion":"0.0.1","spec":{"data":{"hash":{"algorithm":"sha256","value":"00"}},"signature":{"publicKey":{"content":"!"}}}}`,
	`{"kind":"hashedrekord","apiVersion":"0.0.1","spec":{"data":{"hash":{"algorithm":"sha256","value":"00"}},"signature":{"publicKey":{}}}}`,
	`{"kind":"dsse","apiVersion":"0.0.1","spec":{}}`,
	`{"kind":"dsse","apiVersion":"0.0.1","spec":{"proposedContent":{}}}`,
	`{"kind":"dsse","apiVersion":"0.0.1","spec":{"proposedContent":{"envelope":"{}","verifiers":[]}}}`,
	`{"kind":"dsse","apiVersion":"0.0.1","spec":{"proposedContent":{"envelope":"{}","verifiers":["!"]}}}`,
	`{"kind":"dsse","apiVersion":"0.0.1","spec":{"proposedContent":{"envelope":"{}","verifiers":["eA=="]}}}`,
	`{"kind":"dsse","apiVersion":"0.0.1","spec":{"proposedContent":{"envelope":"{\"signatures\":[{}]}","verifiers":["eA=="]}}}`,
	`{"kind":"dsse","apiVersion":"0.0.1","spec":{"envelopeHash":{},"signatures":[{"signature":"x"}]}}`,
	`{"kind":"dsse","apiVersion":"0.0.1","spec":{"envelopeHash":{"algorithm":"sha256","value":"x"},"payloadHash":{"algorithm":"sha256","value":"x"},"signatures":[{"signature":"eA==","verifier":"eA=="}]}}`,
	`{"kind":"intoto","apiVersion":"0.0.1","spec":{}}`,
	`{"kind":"intoto","apiVersion":"0.0.1","spec":{"content":{"hash":{"algorithm":"sha1"}}}}`,
	`{"kind":"intoto","apiVersion":"0.0.2","spec":{}}`,
	`{"kind":"intoto","apiVersion":"0.0.2","spec":{"content":{"envelope":{"payloadType":"x","signatures":[{}]}}}}`,
	`{"kind":"intoto","apiVersion":"0.0.2","spec":{"content":{"envelope":{"payloadType":"x","signatures":[{"publicKey":""}]}}}}`,
	`{"kind":"intoto","apiVersion":"0.0.2","spec":{"content":{"envelope":{"payloadType":"x","payload":"eA==","signatures":[{"publicKey":"","sig":""}]}}}}`,
	`{"kind":"intoto","apiVersion":"0.0.3","spec":{}}`,
	`{"kind":"hashedrekord","apiVersion":"0.0.1","spec":{}} trailing`,
	`{"KIND":"hashedrekord","ApiVersion":"0.0.1","Spec":{}}`,
}

var updateVectors = flag.Bool("update-rekorv1-vectors", false, "rewrite tlog/rekorv1's test vectors from Rekor's output")

const vectorsFile = "../tlog/rekorv1/testdata/rekor-v1.5.4-vectors.json"

// vector is one request with Rekor's answer to it. tlog/rekorv1's unit tests
// replay these without depending on Rekor.
type vector struct {
	Name      string   `json:"name"`
	Request   string   `json:"request"`
	Canonical string   `json:"canonical,omitempty"`
	IndexKeys []string `json:"indexKeys,omitempty"`
	Code      int      `json:"code,omitempty"`
	Message   string   `json:"message,omitempty"`
}

// TestRekorV1Vectors checks that the recorded vectors are what Rekor says,
// or with -update-rekorv1-vectors records a fresh set.
func TestRekorV1Vectors(t *testing.T) {
	if *updateVectors {
		r := mrand.New(mrand.NewPCG(2026, 11))
		p := newPool(t, r)
		var vs []vector
		add := func(name string, body []byte) {
			o := rekorCreate(t, body)
			vs = append(vs, vector{Name: name, Request: string(body), Canonical: string(o.leaf), IndexKeys: o.keys, Code: o.code, Message: o.message})
		}
		gens := map[string]func(*testing.T) []byte{
			"hashedrekord": p.hashedRekord, "dsse": p.dsse, "intoto-0.0.1": p.intotoV001, "intoto-0.0.2": p.intotoV002,
		}
		for _, name := range []string{"hashedrekord", "dsse", "intoto-0.0.1", "intoto-0.0.2"} {
			ok, bad := 0, 0
			for ok < 6 || bad < 4 {
				body := gens[name](t)
				if rekorCreate(t, body).code == 0 {
					if ok++; ok <= 6 {
						add(fmt.Sprintf("%s-%d", name, len(vs)), body)
					}
				} else if bad++; bad <= 4 {
					add(fmt.Sprintf("%s-rejected-%d", name, len(vs)), body)
				}
			}
		}
		for i, body := range edgeCases {
			add(fmt.Sprintf("edge-%d", i), []byte(body))
		}
		out, err := json.MarshalIndent(vs, "", "  ")
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(vectorsFile, append(out, '\n'), 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("wrote %d vectors to %s", len(vs), vectorsFile)
		return
	}
	raw, err := os.ReadFile(vectorsFile)
	if err != nil {
		t.Fatal(err)
	}
	var vs []vector
	if err := json.Unmarshal(raw, &vs); err != nil {
		t.Fatal(err)
	}
	for _, v := range vs {
		o := rekorCreate(t, []byte(v.Request))
		keys := slices.DeleteFunc(o.keys, emptyDigestKey) // see knownDeviation
		if o.code != v.Code || o.message != v.Message || string(o.leaf) != v.Canonical || !slices.Equal(keys, v.IndexKeys) && len(keys)+len(v.IndexKeys) > 0 {
			t.Errorf("vector %s no longer matches Rekor: got %d %q %s %q", v.Name, o.code, o.message, o.leaf, o.keys)
		}
	}
}

// gowebpki/jcs (Hallmark) and cyberphone's jsoncanonicalizer (Rekor) must
// agree on every document Canonicalize can produce: encoding/json output
// with arbitrary strings.
func TestJCSMatchesRekorCanonicalizer(t *testing.T) {
	s := seed(t)
	r := mrand.New(mrand.NewPCG(s, 1))
	alphabet := []rune("aZ09 \"\\/\b\f\n\r\t\x00\x1f\x7f<>&'\u00e9\u2028\u2029\ufeff\U0001F600\uFFFD")
	for range caseCount(3000) {
		doc := map[string]any{}
		for range 1 + r.IntN(5) {
			var k, v []rune
			for range r.IntN(8) {
				k = append(k, alphabet[r.IntN(len(alphabet))])
			}
			for range r.IntN(16) {
				v = append(v, alphabet[r.IntN(len(alphabet))])
			}
			doc[string(k)] = []any{string(v), r.Int64N(1 << 53), randBytes(r, r.IntN(9)), map[string]any{string(v): nil}}
		}
		raw := mustJSON(doc)
		want, err1 := jsoncanonicalizer.Transform(raw)
		got, err2 := jcs.Transform(raw)
		if (err1 == nil) != (err2 == nil) || !bytes.Equal(want, got) {
			t.Fatalf("JCS differs on %s:\nrekor:    %q %v\nhallmark: %q %v", raw, want, err1, got, err2)
		}
	}
}

func TestSETPayloadMatchesRekor(t *testing.T) {
	r := mrand.New(mrand.NewPCG(1, 2))
	for range 200 {
		leaf := randBytes(r, r.IntN(300))
		it, idx := r.Int64N(1<<40), r.Int64N(1<<62)
		logID := hex.EncodeToString(randBytes(r, 32))
		anon := models.LogEntryAnon{Body: leaf, IntegratedTime: &it, LogID: &logID, LogIndex: &idx}
		raw, err := anon.MarshalBinary()
		if err != nil {
			t.Fatal(err)
		}
		want, err := jsoncanonicalizer.Transform(raw)
		if err != nil {
			t.Fatal(err)
		}
		got, err := rekorv1.SETPayload(leaf, it, logID, idx)
		if err != nil || !bytes.Equal(got, want) {
			t.Fatalf("SETPayload = %s, %v; Rekor signs %s", got, err, want)
		}
	}
}

func TestEntryIDMatchesRekor(t *testing.T) {
	r := mrand.New(mrand.NewPCG(3, 4))
	for range 500 {
		var leaf [32]byte
		copy(leaf[:], randBytes(r, 32))
		tree := r.Int64N(1<<63-1) + 1
		if r.IntN(3) == 0 {
			tree = r.Int64N(1 << 20)
		}
		want, err := sharding.CreateEntryIDFromParts(fmt.Sprintf("%x", tree), hex.EncodeToString(leaf[:]))
		if tree == 0 {
			if err == nil {
				t.Fatal("Rekor accepted tree ID 0")
			}
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		id := rekorv1.EntryID(tree, leaf)
		if id != want.ReturnEntryIDString() {
			t.Fatalf("EntryID(%d) = %s, Rekor %s", tree, id, want.ReturnEntryIDString())
		}
		gotTree, gotLeaf, hasTree, err := rekorv1.ParseEntryID(strings.ToUpper(id))
		if err != nil || !hasTree || gotTree != tree || gotLeaf != leaf {
			t.Fatalf("ParseEntryID(%s) = %d %x %v %v", id, gotTree, gotLeaf, hasTree, err)
		}
	}
	// Strings Rekor's ValidateEntryID and ValidateUUID judge.
	for _, s := range []string{
		strings.Repeat("a", 64), strings.Repeat("g", 64), strings.Repeat("0", 80),
		strings.Repeat("0", 15) + "1" + strings.Repeat("a", 64), "8" + strings.Repeat("0", 79),
		"7" + strings.Repeat("f", 79), strings.Repeat("a", 63), strings.Repeat("a", 81), "",
		strings.Repeat("0", 15) + "x" + strings.Repeat("a", 64),
	} {
		var rekorErr error
		switch len(s) {
		case 64:
			rekorErr = sharding.ValidateUUID(s)
		case 80:
			rekorErr = sharding.ValidateEntryID(s)
		default:
			rekorErr = sharding.ValidateUUID(s)
		}
		_, _, _, err := rekorv1.ParseEntryID(s)
		if (err == nil) != (rekorErr == nil) {
			t.Errorf("ParseEntryID(%q) error %v; Rekor %v", s, err, rekorErr)
		}
		var ie *rekorv1.InputError
		if err != nil && !errors.As(err, &ie) {
			t.Errorf("ParseEntryID(%q) error %v is not an InputError", s, err)
		}
	}
}

// The keys a search query looks up must be the ones Rekor looks up, and a
// publicKey or hash query must find the hashedrekord entry it describes.
func TestSearchKeysMatchRekor(t *testing.T) {
	s := seed(t)
	r := mrand.New(mrand.NewPCG(s, 5))
	p := newPool(t, r)
	for range caseCount(100) {
		sg := p.randSigner()
		material := p.keyMaterial(t, sg)
		q := rekorv1.SearchQuery{PublicKey: &rekorv1.SearchPublicKey{Format: "x509", Content: material}}
		sets, op, err := q.Keys()
		af, _ := pki.NewArtifactFactory(pki.X509)
		key, rerr := af.NewPublicKey(bytes.NewReader(material))
		if (err == nil) != (rerr == nil) {
			t.Fatalf("x509 key query: hallmark %v, rekor %v", err, rerr)
		}
		if err != nil {
			var ie *rekorv1.InputError
			if !errors.As(err, &ie) || ie.Code != http.StatusBadRequest || ie.Message != "public key provided could not be parsed" {
				t.Fatalf("x509 key query error %v, want Rekor's 400", err)
			}
			continue
		}
		canon, _ := key.CanonicalValue()
		h := sha256.Sum256(canon)
		if op != "or" || len(sets) != 1 || sets[0][0] != hex.EncodeToString(h[:]) {
			t.Fatalf("x509 key query keys %q %s", sets, op)
		}
	}
	// The query keys find entries written by Canonicalize.
	for range caseCount(100) {
		body := p.hashedRekord(t)
		e, err := rekorv1.Canonicalize(body, rekorv1.DefaultOptions())
		if err != nil {
			continue
		}
		var req struct {
			Spec struct {
				Data struct {
					Hash struct{ Algorithm, Value string }
				}
				Signature struct {
					PublicKey struct{ Content []byte }
				}
			}
		}
		if err := json.Unmarshal(body, &req); err != nil {
			t.Fatal(err)
		}
		q := rekorv1.SearchQuery{
			PublicKey: &rekorv1.SearchPublicKey{Format: "x509", Content: req.Spec.Signature.PublicKey.Content},
			Operator:  "and",
		}
		if req.Spec.Data.Hash.Algorithm != "sha384" { // Rekor's hash pattern has no sha384
			q.Hash = req.Spec.Data.Hash.Value
		}
		sets, _, err := q.Keys()
		if err != nil {
			t.Fatal(err)
		}
		for _, set := range sets {
			if !slices.Contains(e.IndexKeys, set[0]) {
				t.Fatalf("query key %s not among the entry's index keys %q", set[0], e.IndexKeys)
			}
		}
		if h := q.Hash; h != "" && sets[0][0] != strings.ToLower(util.PrefixSHA(h)) {
			t.Fatalf("hash key %s, Rekor %s", sets[0][0], strings.ToLower(util.PrefixSHA(h)))
		}
	}
	// SSH keys canonicalise as Rekor's ssh PKI does.
	for _, sg := range p.signers {
		sk, err := ssh.NewPublicKey(sg.pub())
		if err != nil {
			continue
		}
		content := append(ssh.MarshalAuthorizedKey(sk)[:0:0], ssh.MarshalAuthorizedKey(sk)...)
		content = append(bytes.TrimSpace(content), " user@host\n"...)
		af, _ := pki.NewArtifactFactory(pki.SSH)
		key, err := af.NewPublicKey(bytes.NewReader(content))
		if err != nil {
			t.Fatal(err)
		}
		canon, _ := key.CanonicalValue()
		h := sha256.Sum256(canon)
		sets, _, err := rekorv1.SearchQuery{PublicKey: &rekorv1.SearchPublicKey{Format: "ssh", Content: content}}.Keys()
		if err != nil || sets[0][0] != hex.EncodeToString(h[:]) {
			t.Fatalf("ssh key query %q %v, want %x", sets, err, h)
		}
	}
}

// Query validation: the SearchIndex schema as Rekor's binding applies it.
func TestSearchQueryValidationMatchesRekor(t *testing.T) {
	s := seed(t)
	r := mrand.New(mrand.NewPCG(s, 6))
	pick := func(opts ...string) string { return opts[r.IntN(len(opts))] }
	for range caseCount(2000) {
		q := map[string]any{}
		if r.IntN(2) == 0 {
			q["hash"] = pick("", strings.Repeat("a", 64), "sha256:"+strings.Repeat("F", 64), strings.Repeat("1", 40),
				"sha1:"+strings.Repeat("1", 40), strings.Repeat("2", 96), "sha512:"+strings.Repeat("3", 128), "md5:00", "sha256:"+strings.Repeat("a", 63))
		}
		if r.IntN(2) == 0 {
			q["email"] = pick("", "a@b.c", "Name <A@B.example>", "nope", "@x", "a@", "a@b@c", "\u00e9@x.org")
		}
		if r.IntN(2) == 0 {
			q["subject"] = pick("", "https://X/Y", strings.Repeat("s", 512), strings.Repeat("\u00e9", 513))
		}
		if r.IntN(2) == 0 {
			q["operator"] = pick("", "and", "or", "AND", "xor")
		}
		if r.IntN(2) == 0 {
			pk := map[string]any{}
			if r.IntN(5) > 0 {
				pk["format"] = pick("x509", "ssh", "pgp", "tuf", "minisign", "X509", "gpg")
			}
			pk["content"] = base64.StdEncoding.EncodeToString([]byte(pick("garbage", "-----BEGIN PUBLIC KEY-----\nMCowBQYDK2VwAyEAGb9ECWmEzf6FQbrBZ9w7lshQhqowtrbLDFw4rXAxZuE=\n-----END PUBLIC KEY-----\n",
				"ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl x@y")))
			q["publicKey"] = pk
		}
		raw := mustJSON(q)

		var idx models.SearchIndex
		if err := json.Unmarshal(raw, &idx); err != nil {
			t.Fatal(err)
		}
		var wantCode int
		var wantMsg string
		var wantKeys [][]string
		if err := idx.Validate(strfmt.Default); err != nil {
			o := servedError(err)
			wantCode, wantMsg = o.code, o.message
		} else {
			// Rekor's SearchIndexHandler, one keyset per field.
			if idx.Hash != "" {
				wantKeys = append(wantKeys, []string{strings.ToLower(util.PrefixSHA(idx.Hash))})
			}
			if idx.PublicKey != nil {
				switch f := *idx.PublicKey.Format; f {
				case "x509", "ssh":
					af, _ := pki.NewArtifactFactory(pki.Format(f))
					key, err := af.NewPublicKey(bytes.NewReader(idx.PublicKey.Content))
					if err != nil {
						wantCode, wantMsg = 400, "public key provided could not be parsed"
						break
					}
					canon, _ := key.CanonicalValue()
					h := sha256.Sum256(canon)
					wantKeys = append(wantKeys, []string{hex.EncodeToString(h[:])})
				default: // Rekor supports these; Hallmark has no entries they could find
					wantCode, wantMsg = 400, "the PKI format requested is not supported by this server"
				}
			}
			if idx.Email != "" {
				wantKeys = append(wantKeys, []string{strings.ToLower(idx.Email.String())})
			}
			if idx.Subject != "" {
				wantKeys = append(wantKeys, []string{strings.ToLower(idx.Subject)})
			}
		}

		var q2 rekorv1.SearchQuery
		if err := json.Unmarshal(raw, &q2); err != nil {
			t.Fatal(err)
		}
		keys, _, err := q2.Keys()
		var ie *rekorv1.InputError
		switch {
		case wantCode != 0 && (!errors.As(err, &ie) || ie.Code != wantCode || ie.Message != wantMsg):
			t.Fatalf("query %s: got %v, Rekor %d %q", raw, err, wantCode, wantMsg)
		case wantCode == 0 && err != nil:
			t.Fatalf("query %s: got %v, Rekor accepts", raw, err)
		case wantCode == 0 && fmt.Sprint(keys) != fmt.Sprint(wantKeys):
			t.Fatalf("query %s: keys %q, Rekor %q", raw, keys, wantKeys)
		}
	}
}

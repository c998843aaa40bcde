package tlog_test

//lint:file-ignore SA1019 DSSE v0.0.2 is deprecated in rekor-tiles but still sent by cosign v3.0.x (sigstore-go v1.1.x); Hallmark accepts it.

// The differential harness: the same entries and search queries, through
// the same personalities (Rekor v1, Rekor v2, CT), go to a log on
// PostgreSQL and a log on SQLite, and every answer must be the same:
// acceptance or the class of the error, the index, the stored leaf, the
// search results. Under scripts/with-postgres.sh (or `make test`) both
// stores run; without HALLMARK_TEST_DATABASE_URL the harness still checks
// SQLite alone and says so, except under CI=true, where a missing
// PostgreSQL fails the test (internal/pgtest).

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	protocommon "github.com/sigstore/protobuf-specs/gen/pb-go/common/v1"
	protodsse "github.com/sigstore/protobuf-specs/gen/pb-go/dsse"
	rekortilespb "github.com/sigstore/rekor-tiles/v2/pkg/generated/protobuf"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/hallmark-dev/hallmark/internal/pgtest"
	"github.com/hallmark-dev/hallmark/tlog"
	"github.com/hallmark-dev/hallmark/tlog/ct"
	"github.com/hallmark-dev/hallmark/tlog/format"
	"github.com/hallmark-dev/hallmark/tlog/rekorv1"
	"github.com/hallmark-dev/hallmark/tlog/rekorv2"
)

// Entry kinds the harness builds; an input picks one by number.
const (
	kindV1HashedRekord = iota
	kindV1DSSE
	kindV1Intoto1
	kindV1Intoto2
	kindV2HashedRekord
	kindV2DSSE
	kindCTChain
	kindCTPrechain
	kindV1Raw // the input's raw bytes as a Rekor v1 ProposedEntry
	kindV2Raw // ... as a Rekor v2 CreateEntryRequest JSON
	kindCTRaw // ... as an add-chain body
	numKinds
)

var kindNames = []string{"v1-hashedrekord", "v1-dsse", "v1-intoto-0.0.1", "v1-intoto-0.0.2", "v2-hashedrekord", "v2-dsse",
	"ct-add-chain", "ct-add-pre-chain", "v1-raw", "v2-raw", "ct-raw"}

// diffStore is one store and the three logs on it.
type diffStore struct {
	name   string
	v1, v2 *tlog.Log
	ctLog  *tlog.Log
	ct     *ct.Log
}

// differ holds the stores and the keys every input is signed with.
type differ struct {
	stores   []*diffStore
	key      *ecdsa.PrivateKey // signs entries and self-signs their certificates
	root     *x509.Certificate // CT: the accepted root,
	inter    *x509.Certificate // the intermediate that issues leaves,
	interKey *ecdsa.PrivateKey
	now      time.Time
}

var diffEpoch = time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)

// newDiffer opens a SQLite store and, when there is one, a PostgreSQL
// store, each with a Rekor v1, a Rekor v2 and a CT log.
func newDiffer(tb testing.TB) *differ {
	tb.Helper()
	ctx := context.Background()
	d := &differ{key: mustECDSA(tb), interKey: mustECDSA(tb), now: diffEpoch}
	rootKey := mustECDSA(tb)
	rootT := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "diff root"},
		NotBefore: diffEpoch.Add(-24 * time.Hour), NotAfter: diffEpoch.Add(24 * time.Hour), IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign}
	d.root = mustCreate(tb, rootT, rootT, rootKey.Public(), rootKey)
	interT := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "diff intermediate"},
		NotBefore: diffEpoch.Add(-24 * time.Hour), NotAfter: diffEpoch.Add(23 * time.Hour), IsCA: true, BasicConstraintsValid: true,
		MaxPathLenZero: true, KeyUsage: x509.KeyUsageCertSign, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageCodeSigning}}
	d.inter = mustCreate(tb, interT, d.root, d.interKey.Public(), rootKey)

	// Each store with every part of the storage contract.
	var stores []interface {
		tlog.Store
		tlog.SearchIndex
		tlog.History
		tlog.Importer
	}
	names := []string{"sqlite"}
	sq, err := tlog.OpenSQLite(ctx, filepath.Join(tb.TempDir(), "diff.db"))
	if err != nil {
		tb.Fatal(err)
	}
	stores = append(stores, sq)
	if os.Getenv("HALLMARK_TEST_DATABASE_URL") == "" && os.Getenv("CI") != "true" {
		tb.Log("HALLMARK_TEST_DATABASE_URL not set: PostgreSQL half skipped, checking SQLite alone (run under scripts/with-postgres.sh to compare the stores)")
	} else {
		pg, err := tlog.OpenPG(ctx, pgtest.URL(tb))
		if err != nil {
			tb.Fatal(err)
		}
		stores = append(stores, pg)
		names = append(names, "postgres")
	}
	ctKey := mustECDSA(tb)
	for i, s := range stores {
		tb.Cleanup(func() { s.Close() })
		ds := &diffStore{name: names[i]}
		open := func(name string, signerKey crypto.Signer, framing tlog.Framing, ctSigner bool) *tlog.Log {
			origin := "diff.example.com/" + name
			signer, err := format.NewNoteSigner(origin, signerKey)
			if ctSigner {
				signer, err = format.NewRFC6962NoteSigner(origin, signerKey)
			}
			if err != nil {
				tb.Fatal(err)
			}
			l, err := tlog.Open(ctx, s, tlog.Config{Name: name, Origin: origin, Signer: signer, Framing: framing,
				Index: s, History: s, Importer: s,
				BatchMaxAge: time.Millisecond, Now: func() time.Time { return diffEpoch }})
			if err != nil {
				tb.Fatal(err)
			}
			tb.Cleanup(l.Close)
			return l
		}
		ds.v1 = open("rekorv1", d.key, nil, false)
		ds.v2 = open("rekorv2", d.key, nil, false)
		ds.ctLog = open("ct", ctKey, format.CTDataTiles, true)
		if ds.ct, err = ct.New(ds.ctLog, s.(tlog.BlobStore), ctKey, []*x509.Certificate{d.root}); err != nil {
			tb.Fatal(err)
		}
		d.stores = append(d.stores, ds)
	}
	return d
}

func mustECDSA(tb testing.TB) *ecdsa.PrivateKey {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		tb.Fatal(err)
	}
	return k
}

func mustCreate(tb testing.TB, tmpl, parent *x509.Certificate, pub crypto.PublicKey, signer crypto.Signer) *x509.Certificate {
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, pub, signer)
	if err != nil {
		tb.Fatal(err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		tb.Fatal(err)
	}
	return c
}

var (
	oidSAN             = asn1.ObjectIdentifier{2, 5, 29, 17}
	oidFulcioOtherName = asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 57264, 1, 7}
	oidPoison          = asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 11129, 2, 4, 3}
)

// sanExtension is a subjectAltName with san as its email address, DNS name
// and Fulcio username, byte for byte: crypto/x509 would refuse to write
// some of the bytes a hostile client puts there.
func sanExtension(san string) pkix.Extension {
	other, _ := asn1.Marshal(struct {
		ID    asn1.ObjectIdentifier
		Value asn1.RawValue
	}{oidFulcioOtherName, asn1.RawValue{Class: asn1.ClassContextSpecific, Tag: 0, IsCompound: true,
		Bytes: append([]byte{asn1.TagUTF8String, byte(len(san))}, san...)}})
	names := []asn1.RawValue{
		{Class: asn1.ClassContextSpecific, Tag: 1, Bytes: []byte(san)},
		{Class: asn1.ClassContextSpecific, Tag: 2, Bytes: []byte(san)},
	}
	if len(san) < 128 { // short-form length above
		names = append(names, asn1.RawValue{FullBytes: append([]byte{0xa0}, other[1:]...)})
	}
	value, _ := asn1.Marshal(names)
	return pkix.Extension{Id: oidSAN, Value: value}
}

// selfSigned is a certificate for d.key naming san; nil if crypto/x509
// cannot write it.
func (d *differ) selfSigned(san string) []byte {
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(7), Subject: pkix.Name{CommonName: "diff"},
		NotBefore: diffEpoch.Add(-time.Hour), NotAfter: diffEpoch.Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageCodeSigning},
		ExtraExtensions: []pkix.Extension{sanExtension(san)}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, d.key.Public(), d.key)
	if err != nil {
		return nil
	}
	return der
}

func pemCert(der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}

func (d *differ) signDigest(digest []byte) []byte {
	sig, err := ecdsa.SignASN1(rand.Reader, d.key, digest)
	if err != nil {
		panic(err)
	}
	return sig
}

func pae(payloadType string, payload []byte) []byte {
	return fmt.Appendf(nil, "DSSEv1 %d %s %d %s", len(payloadType), payloadType, len(payload), payload)
}

const inToto = "application/vnd.in-toto+json"

// statement is an in-toto statement whose subject has name san and the
// digest {alg: digest}.
func statement(san, alg, digest string) []byte {
	b, _ := json.Marshal(map[string]any{"_type": "https://in-toto.io/Statement/v0.1", "predicateType": "https://example.com/p",
		"subject": []any{map[string]any{"name": san, "digest": map[string]string{alg: digest}}}, "predicate": map[string]any{}})
	return b
}

func b64(b []byte) string { return base64.StdEncoding.EncodeToString(b) }

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}

// body builds the request of an input: a signed entry of the kind, whose
// certificate names san and whose statement carries digest, or raw as
// it is for the raw kinds. nil means there is nothing to submit.
func (d *differ) body(kind int, san, digest string, raw []byte) []byte {
	cert := d.selfSigned(san)
	if cert == nil && kind < kindCTChain {
		return nil
	}
	artefact := sha256.Sum256([]byte(san + "\x00" + digest))
	stmt := statement(san, "sha256", digest)
	sigPAE := d.signDigest(sha256Of(pae(inToto, stmt)))
	envelope := string(mustJSON(map[string]any{"payloadType": inToto, "payload": b64(stmt),
		"signatures": []any{map[string]string{"keyid": "", "sig": b64(sigPAE)}}}))
	switch kind {
	case kindV1HashedRekord:
		return mustJSON(map[string]any{"apiVersion": "0.0.1", "kind": "hashedrekord", "spec": map[string]any{
			"data": map[string]any{"hash": map[string]any{"algorithm": "sha256", "value": hex.EncodeToString(artefact[:])}},
			"signature": map[string]any{"content": b64(d.signDigest(artefact[:])),
				"publicKey": map[string]any{"content": b64(pemCert(cert))}},
		}})
	case kindV1DSSE:
		return mustJSON(map[string]any{"apiVersion": "0.0.1", "kind": "dsse", "spec": map[string]any{
			"proposedContent": map[string]any{"envelope": envelope, "verifiers": []string{b64(pemCert(cert))}}}})
	case kindV1Intoto1:
		return mustJSON(map[string]any{"apiVersion": "0.0.1", "kind": "intoto", "spec": map[string]any{
			"content": map[string]any{"envelope": envelope}, "publicKey": b64(pemCert(cert))}})
	case kindV1Intoto2:
		return mustJSON(map[string]any{"apiVersion": "0.0.2", "kind": "intoto", "spec": map[string]any{"content": map[string]any{
			"envelope": map[string]any{"payloadType": inToto, "payload": b64([]byte(b64(stmt))),
				"signatures": []any{map[string]any{"sig": b64([]byte(b64(sigPAE))), "publicKey": b64(pemCert(cert))}}},
			"hash": map[string]any{"algorithm": "sha256", "value": strings.Repeat("0", 64)},
		}}})
	case kindV2HashedRekord, kindV2DSSE:
		verifier := &rekortilespb.Verifier{KeyDetails: protocommon.PublicKeyDetails_PKIX_ECDSA_P256_SHA_256,
			Verifier: &rekortilespb.Verifier_X509Certificate{X509Certificate: &protocommon.X509Certificate{RawBytes: cert}}}
		req := &rekorv2.CreateEntryRequest{Spec: &rekortilespb.CreateEntryRequest_HashedRekordRequestV002{
			HashedRekordRequestV002: &rekortilespb.HashedRekordRequestV002{Digest: artefact[:],
				Signature: &rekortilespb.Signature{Content: d.signDigest(artefact[:]), Verifier: verifier}}}}
		if kind == kindV2DSSE {
			req.Spec = &rekortilespb.CreateEntryRequest_DsseRequestV002{DsseRequestV002: &rekortilespb.DSSERequestV002{
				Envelope: &protodsse.Envelope{Payload: stmt, PayloadType: inToto,
					Signatures: []*protodsse.Signature{{Sig: sigPAE}}},
				Verifiers: []*rekortilespb.Verifier{verifier}}}
		}
		b, err := protojson.Marshal(req)
		if err != nil {
			panic(err)
		}
		return b
	case kindCTChain, kindCTPrechain:
		leafKey := d.key
		serial := new(big.Int).SetBytes(artefact[:8])
		tmpl := &x509.Certificate{SerialNumber: serial, NotBefore: diffEpoch, NotAfter: diffEpoch.Add(10 * time.Minute),
			KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageCodeSigning},
			ExtraExtensions: []pkix.Extension{sanExtension(san)}}
		if kind == kindCTPrechain {
			tmpl.ExtraExtensions = append(tmpl.ExtraExtensions, pkix.Extension{Id: oidPoison, Critical: true, Value: asn1.NullBytes})
		}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, d.inter, leafKey.Public(), d.interKey)
		if err != nil {
			return nil
		}
		return mustJSON(map[string]any{"chain": []string{b64(der), b64(d.inter.Raw)}})
	}
	return raw
}

func sha256Of(b []byte) []byte { h := sha256.Sum256(b); return h[:] }

// answer is everything one store answers about one input.
type answer struct {
	Result  string // "ok", "duplicate", or the error's class
	Index   uint64
	Again   string // submitting the same request again
	AgainAt uint64
	Leaf    []byte              // the stored entry at Index
	Size    uint64              // the tree size after it
	Root    []byte              // and the root
	Search  map[string][]uint64 // by query
}

// errClass is what the API would answer for err: the status code, and
// the message for client errors (the same input must fail the same way).
func errClass(err error) string {
	var v1 *rekorv1.InputError
	var v2 *rekorv2.InputError
	switch {
	case err == nil:
		return "ok"
	case errors.As(err, &v1):
		return fmt.Sprintf("%d %s", v1.Code, v1.Message)
	case errors.As(err, &v2):
		return "400 " + v2.Error()
	case errors.Is(err, tlog.ErrInvalidRequest):
		return "400 " + err.Error()
	case errors.Is(err, tlog.ErrEntryTooLarge):
		return "413"
	}
	return fmt.Sprintf("%d %v", http.StatusInternalServerError, err)
}

// check feeds one input to every store and fails the test if their
// answers differ, or if any answer is a server error. It returns the
// first store's answer.
func (d *differ) check(t *testing.T, kind int, san, digest, query string, raw []byte) *answer {
	t.Helper()
	kind %= numKinds
	body := d.body(kind, san, digest, raw)
	var answers []*answer
	for _, s := range d.stores {
		answers = append(answers, d.submit(t, s, kind, body, []string{san, digest, query, string(raw)}))
	}
	for i, a := range answers {
		for _, r := range []string{a.Result, a.Again} {
			if strings.HasPrefix(r, "500") {
				t.Fatalf("%s: %s answers a server error: %s", kindNames[kind], d.stores[i].name, r)
			}
		}
		if i > 0 && !reflect.DeepEqual(a, answers[0]) {
			t.Fatalf("%s (san %q, digest %q, query %q): the stores disagree\n%s: %+v\n%s: %+v",
				kindNames[kind], san, digest, query, d.stores[0].name, answers[0], d.stores[i].name, a)
		}
	}
	return answers[0]
}

func (d *differ) submit(t *testing.T, s *diffStore, kind int, body []byte, queries []string) *answer {
	t.Helper()
	ctx := context.Background()
	a := &answer{Result: "nothing to submit", Search: map[string][]uint64{}}
	if body == nil {
		return a
	}
	var (
		l          *tlog.Log
		canonical  []byte
		keys       []string
		appendOnce func() (uint64, bool, error)
	)
	switch kind {
	case kindV1HashedRekord, kindV1DSSE, kindV1Intoto1, kindV1Intoto2, kindV1Raw:
		l = s.v1
		e, err := rekorv1.Canonicalize(body, rekorv1.DefaultOptions())
		if err != nil {
			a.Result = errClass(err)
			break
		}
		canonical, keys = e.Canonical, e.IndexKeys
		appendOnce = func() (uint64, bool, error) {
			r, err := l.Append(ctx, tlog.Entry{Data: e.Canonical, LeafHash: e.LeafHash(), SearchKeys: e.IndexKeys})
			if err != nil {
				return 0, false, err
			}
			return r.Index, r.Duplicate, nil
		}
	case kindV2HashedRekord, kindV2DSSE, kindV2Raw:
		l = s.v2
		req, err := rekorv2.ParseCreateEntryJSON(body)
		if err != nil {
			a.Result = errClass(err)
			break
		}
		e, err := rekorv2.Canonicalize(req, rekorv2.DefaultOptions())
		if err != nil {
			a.Result = errClass(err)
			break
		}
		canonical = e.Canonical
		appendOnce = func() (uint64, bool, error) {
			r, err := l.Append(ctx, tlog.Entry{Data: e.Canonical, LeafHash: e.LeafHash()})
			if err != nil {
				return 0, false, err
			}
			return r.Index, r.Duplicate, nil
		}
	default: // CT
		l = s.ctLog
		chain, err := ct.ParseChainRequest(body)
		if err != nil {
			a.Result = errClass(err)
			break
		}
		pre := kind == kindCTPrechain || (kind == kindCTRaw && len(body)%2 == 1)
		seen := map[uint64]bool{}
		appendOnce = func() (uint64, bool, error) {
			sct, err := s.ct.AddChain(ctx, chain, pre)
			if err != nil {
				return 0, false, err
			}
			idx, err := format.ParseLeafIndex(sct.Extensions)
			if err != nil {
				t.Fatalf("%s: SCT without a leaf index: %v", s.name, err)
			}
			dup := seen[idx]
			seen[idx] = true
			if sct.Timestamp != uint64(diffEpoch.UnixMilli()) {
				t.Fatalf("SCT timestamp %d, the log's clock says %d", sct.Timestamp, diffEpoch.UnixMilli())
			}
			return idx, dup, nil
		}
	}
	if appendOnce != nil {
		idx, dup, err := appendOnce()
		a.Result, a.Index = errClass(err), idx
		if err == nil && dup {
			a.Result = "duplicate"
		}
		// The same request again is a duplicate at the same index.
		idx2, dup2, err := appendOnce()
		a.Again, a.AgainAt = errClass(err), idx2
		if err == nil && (!dup2 || idx2 != idx) {
			t.Fatalf("%s: resubmitting gives index %d duplicate=%v, first %d", s.name, idx2, dup2, idx)
		}
		if a.Result == "ok" || a.Result == "duplicate" {
			cp, err := l.Checkpoint(ctx)
			if err != nil {
				t.Fatal(err)
			}
			a.Size, a.Root = cp.Size, cp.Root
			if a.Leaf, err = l.EntryAt(ctx, idx, cp.Size); err != nil {
				t.Fatalf("%s: reading back entry %d: %v", s.name, idx, err)
			}
			if canonical != nil && !bytes.Equal(a.Leaf, canonical) {
				t.Fatalf("%s: entry %d reads back as %q, not its canonical form %q", s.name, idx, a.Leaf, canonical)
			}
		}
	}
	// Every index key of the entry finds it.
	for _, k := range keys {
		got, err := s.v1.Search(ctx, []string{k}, 1000)
		if err != nil {
			t.Fatalf("%s: Search(%q): %v", s.name, k, err)
		}
		if a.Result == "ok" || a.Result == "duplicate" {
			// (A common key lists the first 1000 entries only.)
			if among, err := s.v1.SearchAmong(ctx, []string{k}, []uint64{a.Index}); err != nil || len(among) != 1 {
				t.Fatalf("%s: SearchAmong(%q, [%d]) = %v, %v: the entry is not found by its key", s.name, k, a.Index, among, err)
			}
		}
		a.Search["key "+k] = got
	}
	// Raw queries, through the Rekor v1 search API's validation.
	for _, q := range queries {
		for _, sq := range []rekorv1.SearchQuery{{Subject: q}, {Email: q}, {Hash: q}} {
			name := fmt.Sprintf("query %+v", sq)
			if len(name) > 300 {
				name = name[:300] + fmt.Sprintf("…%x", sha256.Sum256([]byte(name)))
			}
			sets, _, err := sq.Keys()
			if err != nil {
				a.Search[name+" → "+errClass(err)] = nil
				continue
			}
			for _, set := range sets {
				got, err := s.v1.Search(ctx, set, 1000)
				if err != nil {
					t.Fatalf("%s: Search(%q): %v", s.name, set, err)
				}
				a.Search[name] = append(a.Search[name], got...)
				if len(got) > 0 {
					among, err := s.v1.SearchAmong(ctx, set, got)
					if err != nil || !reflect.DeepEqual(among, got) {
						t.Fatalf("%s: SearchAmong(%q, %v) = %v, %v", s.name, set, got, among, err)
					}
				}
			}
		}
	}
	// A raw JSON query, as POST /api/v1/index/retrieve decodes it.
	var q rekorv1.SearchQuery
	if len(queries) > 3 && json.Unmarshal([]byte(queries[3]), &q) == nil {
		if sets, _, err := q.Keys(); err == nil {
			for _, set := range sets {
				got, err := s.v1.Search(ctx, set, 1000)
				if err != nil {
					t.Fatalf("%s: Search(%q): %v", s.name, set, err)
				}
				a.Search[fmt.Sprintf("json %q", set)] = got
			}
		}
	}
	return a
}

// rawQuery is a POST /api/v1/index/retrieve body searching for subject.
func rawQuery(subject string) []byte {
	return mustJSON(map[string]string{"subject": subject})
}

// storeCases are issue 16's cases and their neighbours: SANs and
// statement digests with bytes PostgreSQL's text refuses.
var storeCases = []struct {
	san, digest, query string
}{
	{"evil\x00@example.com", strings.Repeat("ab", 32), "evil\x00@example.com"},
	{"a\x00b.example.com", strings.Repeat("cd", 32), "a\x00b"},
	{"a\x00b", "\x00", "a\x00b"},
	{"signer@example.com", strings.Repeat("ef", 32), "SIGNER@example.com"},
	{"\xff\xfe", "\xff", "\xff\xfe"},
	{"HEX:610062", "HEX:00", "HEX:610062"},
	{"jörg@bücher.example", "\u0000\u0001", "jörg@bücher.example"},
	{strings.Repeat("x", 127), strings.Repeat("0", 5000), strings.Repeat("x", 513)},
	{"", "", ""},
}

// TestStoresAgree feeds every entry kind with the hostile SANs and
// digests, and raw queries, to both stores.
func TestStoresAgree(t *testing.T) {
	d := newDiffer(t)
	for i, c := range storeCases {
		for kind := range numKinds {
			a := d.check(t, kind, c.san, c.digest, c.query, rawQuery(c.query))
			t.Logf("case %d %s: %.100s", i, kindNames[kind], a.Result)
			// The honest case and the (NUL in a SAN, as Rekor
			// does) are accepted by every validator; the rest may be
			// refused, the same way on both stores.
			if i <= 3 && kind < kindV1Raw && a.Result != "ok" {
				t.Errorf("case %d %s: %s, want it accepted", i, kindNames[kind], a.Result)
			}
		}
	}
	// The query, raw: 200 with the entry, on both stores.
	for _, s := range d.stores {
		var q rekorv1.SearchQuery
		if err := json.Unmarshal([]byte(`{"subject":"a\u0000b"}`), &q); err != nil {
			t.Fatal(err)
		}
		sets, _, err := q.Keys()
		if err != nil {
			t.Fatal(err)
		}
		got, err := s.v1.Search(context.Background(), sets[0], 100)
		if err != nil || len(got) == 0 {
			t.Fatalf("%s: {\"subject\":\"a\\u0000b\"} finds %v, %v; want the entries whose SAN it is", s.name, got, err)
		}
	}
}

// FuzzStoresAgree is the differential fuzz target: one target for every
// entry validator (the input's kind picks Rekor v1 hashedrekord, dsse,
// intoto 0.0.1 or 0.0.2, Rekor v2 hashedrekord or dsse, CT add-chain or
// add-pre-chain, or raw bytes into each personality's parser), built with
// the input's SAN and digest and searched with its query, on both stores.
func FuzzStoresAgree(f *testing.F) {
	d := newDiffer(f)
	// Raw kinds start from the requests the generators build, signed
	// with the harness's key, so mutations reach deep into the parsers.
	rawKind := func(kind int) int {
		switch {
		case kind <= kindV1Intoto2:
			return kindV1Raw
		case kind <= kindV2DSSE:
			return kindV2Raw
		}
		return kindCTRaw
	}
	for _, c := range storeCases {
		for kind := range numKinds {
			f.Add(uint8(kind), c.san, c.digest, c.query, rawQuery(c.query))
			if kind < kindV1Raw {
				if body := d.body(kind, c.san, c.digest, nil); body != nil {
					f.Add(uint8(rawKind(kind)), c.san, c.digest, c.query, body)
				}
			}
		}
	}
	f.Add(uint8(kindV1Raw), "", "", "", []byte(`{"kind":"hashedrekord","apiVersion":"0.0.1","spec":{}}`))
	f.Add(uint8(kindV2Raw), "", "", "", []byte(`{"hashedRekordRequestV002":{}}`))
	f.Add(uint8(kindCTRaw), "", "", "", []byte(`{"chain":["AA=="]}`))
	f.Fuzz(func(t *testing.T, kind uint8, san, digest, query string, raw []byte) {
		d.check(t, int(kind), san, digest, query, raw)
	})
}

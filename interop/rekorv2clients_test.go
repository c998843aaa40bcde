package interop

// Real Rekor v2 clients against an in-memory write endpoint built on
// tlog/rekorv2, the way Hallmark's API uses it: sigstore-go signs and
// verifies bundles through it, and rekor-tiles' own writer client accepts
// its responses.

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	mrand "math/rand/v2"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	protobundle "github.com/sigstore/protobuf-specs/gen/pb-go/bundle/v1"
	protocommon "github.com/sigstore/protobuf-specs/gen/pb-go/common/v1"
	protorekor "github.com/sigstore/protobuf-specs/gen/pb-go/rekor/v1"
	"github.com/sigstore/rekor-tiles/v2/pkg/client/write"
	rekortilespb "github.com/sigstore/rekor-tiles/v2/pkg/generated/protobuf"
	rtnote "github.com/sigstore/rekor-tiles/v2/pkg/note"
	rtverify "github.com/sigstore/rekor-tiles/v2/pkg/verify"
	"github.com/sigstore/sigstore-go/pkg/bundle"
	"github.com/sigstore/sigstore-go/pkg/root"
	"github.com/sigstore/sigstore-go/pkg/sign"
	sgtlog "github.com/sigstore/sigstore-go/pkg/tlog"
	"github.com/sigstore/sigstore-go/pkg/verify"
	"github.com/sigstore/sigstore/pkg/signature"
	"github.com/sigstore/sigstore/pkg/signature/options"
	"github.com/transparency-dev/merkle/proof"
	"github.com/transparency-dev/merkle/rfc6962"
	"github.com/transparency-dev/merkle/testonly"
	"golang.org/x/mod/sumdb/note"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/hallmark-dev/hallmark/tlog/rekorv2"
)

// v2Log is an in-memory Rekor v2 write endpoint built on rekorv2, the way
// Hallmark's API uses it: parse, canonicalise, append, sign a checkpoint,
// build and verify the inclusion proof, respond 201 with the entry.
type v2Log struct {
	origin string
	pub    crypto.PublicKey
	keyID  [32]byte
	signer note.Signer

	mu   sync.Mutex
	tree *testonly.Tree
}

func newV2Log(t testing.TB, origin string, key crypto.Signer) *v2Log {
	t.Helper()
	sv, err := signature.LoadSignerVerifier(key, crypto.SHA256)
	if err != nil {
		t.Fatal(err)
	}
	ns, err := rtnote.NewNoteSigner(context.Background(), origin, sv)
	if err != nil {
		t.Fatal(err)
	}
	keyID, err := rekorv2.KeyHash(origin, key.Public())
	if err != nil {
		t.Fatal(err)
	}
	if ns.KeyHash() != binary.BigEndian.Uint32(keyID[:4]) {
		t.Fatalf("note key ID %08x, rekorv2.KeyHash prefix %x", ns.KeyHash(), keyID[:4])
	}
	return &v2Log{origin: origin, pub: key.Public(), keyID: keyID, signer: ns, tree: testonly.New(rfc6962.DefaultHasher)}
}

func (l *v2Log) add(e *rekorv2.Entry) (*protorekor.TransparencyLogEntry, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.tree.AppendData(e.Canonical)
	index, size, rootHash := l.tree.Size()-1, l.tree.Size(), l.tree.Hash()
	checkpoint, err := note.Sign(&note.Note{Text: fmt.Sprintf("%s\n%d\n%s\n", l.origin, size, base64.StdEncoding.EncodeToString(rootHash))}, l.signer)
	if err != nil {
		return nil, err
	}
	hashes, err := l.tree.InclusionProof(index, size)
	if err != nil {
		return nil, err
	}
	leaf := e.LeafHash()
	if err := proof.VerifyInclusion(rfc6962.DefaultHasher, index, size, leaf[:], hashes, rootHash); err != nil {
		return nil, err
	}
	return rekorv2.NewTransparencyLogEntry(e, index, l.keyID, size, rootHash, hashes, checkpoint), nil
}

func (l *v2Log) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost || r.URL.Path != "/api/v2/log/entries" {
		http.NotFound(w, r)
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, 4<<20))
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	req, err := rekorv2.ParseCreateEntryJSON(body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	e, err := rekorv2.Canonicalize(req, rekorv2.DefaultOptions())
	var ie *rekorv2.InputError
	if errors.As(err, &ie) {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	} else if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	tle, err := l.add(e)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	out, err := rekorv2.MarshalTLE(tle)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusCreated)
	_, _ = w.Write(out)
}

func (l *v2Log) noteVerifier(t testing.TB) note.Verifier {
	t.Helper()
	v, err := signature.LoadVerifier(l.pub, crypto.SHA256)
	if err != nil {
		t.Fatal(err)
	}
	nv, err := rtnote.NewNoteVerifier(l.origin, v)
	if err != nil {
		t.Fatal(err)
	}
	return nv
}

// trust is the trusted material a verifier of this log holds: the log (by
// logId) and the signers' public keys (by bundle hint).
type trust struct {
	root.BaseTrustedMaterial
	logs map[string]*root.TransparencyLog
	mu   sync.Mutex
	keys map[string]crypto.PublicKey
}

func newTrust(logs ...*v2Log) *trust {
	tr := &trust{logs: map[string]*root.TransparencyLog{}, keys: map[string]crypto.PublicKey{}}
	for _, l := range logs {
		tr.logs[fmt.Sprintf("%x", l.keyID)] = &root.TransparencyLog{
			BaseURL:             "https://" + l.origin,
			ID:                  l.keyID[:],
			ValidityPeriodStart: time.Now().Add(-time.Hour),
			HashFunc:            crypto.SHA256,
			PublicKey:           l.pub,
			SignatureHashFunc:   crypto.SHA256,
		}
	}
	return tr
}

func (tr *trust) RekorLogs() map[string]*root.TransparencyLog { return tr.logs }

func (tr *trust) PublicKeyVerifier(hint string) (root.TimeConstrainedVerifier, error) {
	tr.mu.Lock()
	pub, ok := tr.keys[hint]
	tr.mu.Unlock()
	if !ok {
		return nil, fmt.Errorf("no key with hint %q", hint)
	}
	v, err := signature.LoadVerifierWithOpts(pub, options.WithED25519ph())
	if err != nil {
		return nil, err
	}
	return root.NewExpiringKey(v, time.Time{}, time.Time{}), nil
}

// testCA issues leaf certificates to sigstore-go keypairs, standing in for
// Fulcio.
type testCA struct{ r *mrand.Rand }

func (ca testCA) GetCertificate(_ context.Context, kp sign.Keypair, _ *sign.CertificateProviderOptions) ([]byte, error) {
	return issueCert(kp.GetPublicKey(), ca.r)
}

// TestSigstoreGoSignsAndVerifiesAgainstRekorV2 runs sigstore-go v1.3.0's own
// signer against the rekorv2 endpoint (through rekor-tiles' write client),
// round-trips the bundle through JSON, and verifies its log entry with
// verify.VerifyTlogEntry, which rebuilds the leaf from the bundle. Both
// content types are covered: message signatures, and DSSE envelopes, which
// sigstore-go ≥ 1.2 logs as hashedrekord over H(PAE).
func TestSigstoreGoSignsAndVerifiesAgainstRekorV2(t *testing.T) {
	logKeys := map[string]crypto.Signer{}
	_, edKey, _ := ed25519.GenerateKey(rand.Reader)
	ecKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	logKeys["ed25519 log"] = edKey
	logKeys["ecdsa log"] = ecKey

	r := mrand.New(mrand.NewPCG(5, 6))
	for logName, logKey := range logKeys {
		l := newV2Log(t, "rekor-v2.hallmark.test", logKey)
		srv := httptest.NewServer(l)
		defer srv.Close()
		tr := newTrust(l)

		for _, alg := range clientAlgorithms {
			kp, err := sign.NewEphemeralKeypair(&sign.EphemeralKeypairOptions{Algorithm: alg})
			if err != nil {
				t.Fatal(err)
			}
			tr.mu.Lock()
			tr.keys[string(kp.GetHint())] = kp.GetPublicKey()
			tr.mu.Unlock()
			contents := map[string]sign.Content{
				"message": &sign.PlainData{Data: []byte("artifact signed with " + alg.String())},
				"dsse":    &sign.DSSEData{Data: []byte(`{"_type":"https://in-toto.io/Statement/v1"}`), PayloadType: "application/vnd.in-toto+json"},
			}
			for contentName, content := range contents {
				for _, asCert := range []bool{false, true} {
					name := fmt.Sprintf("%s/%s/%s/cert=%v", logName, alg, contentName, asCert)
					opts := sign.BundleOptions{TransparencyLogs: []sign.Transparency{
						sign.NewRekor(&sign.RekorOptions{BaseURL: srv.URL, Version: 2}),
					}}
					if asCert {
						opts.CertificateProvider = testCA{r}
					}
					pb, err := sign.Bundle(content, kp, opts)
					if err != nil {
						t.Fatalf("%s: signing: %v", name, err)
					}
					b := bundleFromJSON(t, pb)
					if _, err := verify.VerifyTlogEntry(b, tr, 1, false); err != nil {
						t.Fatalf("%s: sigstore-go rejects the log entry: %v", name, err)
					}

					// The check can fail: another digest in the bundle no
					// longer matches the logged leaf.
					tampered := bundleFromJSON(t, pb)
					if ms := tampered.GetMessageSignature(); ms != nil {
						ms.MessageDigest.Digest[0] ^= 1
					} else {
						tampered.GetDsseEnvelope().Payload = append(tampered.GetDsseEnvelope().Payload, ' ')
					}
					if _, err := verify.VerifyTlogEntry(tampered, tr, 1, false); err == nil {
						t.Fatalf("%s: sigstore-go accepted a tampered bundle", name)
					}
				}
			}
		}
	}
}

// signatureBundle wraps a logged hashedrekord signature in a v0.3 bundle, as
// a signer would have received it.
func signatureBundle(t testing.TB, tr *trust, hr *rekortilespb.HashedRekordRequestV002, details protocommon.PublicKeyDetails,
	pub crypto.PublicKey, tle *protorekor.TransparencyLogEntry) *bundle.Bundle {
	t.Helper()
	vm := &protobundle.VerificationMaterial{TlogEntries: []*protorekor.TransparencyLogEntry{tle}}
	if c := hr.Signature.Verifier.GetX509Certificate(); c != nil {
		vm.Content = &protobundle.VerificationMaterial_Certificate{Certificate: c}
	} else {
		hint := fmt.Sprintf("%x", sha256.Sum256(hr.Signature.Verifier.GetPublicKey().RawBytes))
		tr.mu.Lock()
		tr.keys[hint] = pub
		tr.mu.Unlock()
		vm.Content = &protobundle.VerificationMaterial_PublicKey{PublicKey: &protocommon.PublicKeyIdentifier{Hint: hint}}
	}
	digestAlg := map[crypto.Hash]protocommon.HashAlgorithm{
		crypto.SHA256: protocommon.HashAlgorithm_SHA2_256,
		crypto.SHA384: protocommon.HashAlgorithm_SHA2_384,
		crypto.SHA512: protocommon.HashAlgorithm_SHA2_512,
	}[hashOf(details)]
	b, err := bundle.NewBundle(&protobundle.Bundle{
		MediaType:            "application/vnd.dev.sigstore.bundle.v0.3+json",
		VerificationMaterial: vm,
		Content: &protobundle.Bundle_MessageSignature{MessageSignature: &protocommon.MessageSignature{
			MessageDigest: &protocommon.HashOutput{Algorithm: digestAlg, Digest: hr.Digest},
			Signature:     hr.Signature.Content,
		}},
	})
	if err != nil {
		t.Fatalf("sigstore-go rejects the bundle: %v", err)
	}
	return b
}

func bundleFromJSON(t testing.TB, pb *protobundle.Bundle) *bundle.Bundle {
	t.Helper()
	js, err := protojson.Marshal(pb)
	if err != nil {
		t.Fatal(err)
	}
	var b bundle.Bundle
	if err := b.UnmarshalJSON(js); err != nil {
		t.Fatalf("sigstore-go cannot parse the bundle: %v", err)
	}
	return &b
}

// TestRekorTilesWriterAcceptsResponse posts with rekor-tiles' own Go client,
// which requires exactly 201 and decodes with strict protojson, and checks
// the entry with rekor-tiles' verifier and sigstore-go's entry parser.
func TestRekorTilesWriterAcceptsResponse(t *testing.T) {
	_, logKey, _ := ed25519.GenerateKey(rand.Reader)
	l := newV2Log(t, "rekor-v2.hallmark.test", logKey)
	srv := httptest.NewServer(l)
	defer srv.Close()
	w, err := write.NewWriter(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	r := mrand.New(mrand.NewPCG(7, 8))
	for i := range 5 {
		hr, _ := randomHashedRekord(t, protocommon.PublicKeyDetails_PKIX_ECDSA_P256_SHA_256, i%2 == 0, r)
		tle, err := w.Add(context.Background(), hr)
		if err != nil {
			t.Fatalf("rekor-tiles client: %v", err)
		}
		if tle.LogIndex != int64(i) || tle.GetKindVersion().GetKind() != "hashedrekord" || tle.GetKindVersion().GetVersion() != "0.0.2" {
			t.Errorf("entry %d: index %d, kindVersion %v", i, tle.LogIndex, tle.GetKindVersion())
		}
		if !bytes.Equal(tle.GetLogId().GetKeyId(), l.keyID[:]) {
			t.Errorf("logId %x, want %x", tle.GetLogId().GetKeyId(), l.keyID)
		}
		want, err := rekorTilesLeaf(hr, rekorTilesRegistry(t))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(tle.CanonicalizedBody, want) {
			t.Errorf("canonicalizedBody differs from rekor-tiles' leaf")
		}
		if err := rtverify.VerifyLogEntry(tle, l.noteVerifier(t)); err != nil {
			t.Errorf("rekor-tiles VerifyLogEntry: %v", err)
		}
		if _, err := sgtlog.ParseTransparencyLogEntry(tle); err != nil {
			t.Errorf("sigstore-go ParseTransparencyLogEntry: %v", err)
		}
	}

	// Client mistakes are 400 with the reason, which the client surfaces.
	hr, _ := randomHashedRekord(t, protocommon.PublicKeyDetails_PKIX_ECDSA_P256_SHA_256, false, r)
	hr.Digest = hr.Digest[:20]
	if _, err := w.Add(context.Background(), hr); err == nil || !strings.Contains(err.Error(), "400") || !strings.Contains(err.Error(), "digest is 20 bytes") {
		t.Errorf("bad request: got %v", err)
	}
}

package audit

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	protobundle "github.com/sigstore/protobuf-specs/gen/pb-go/bundle/v1"
	protocommon "github.com/sigstore/protobuf-specs/gen/pb-go/common/v1"
	protorekor "github.com/sigstore/protobuf-specs/gen/pb-go/rekor/v1"
	"github.com/transparency-dev/formats/log"
	"github.com/transparency-dev/merkle/rfc6962"
	"github.com/transparency-dev/merkle/testonly"
	"golang.org/x/mod/sumdb/note"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	"github.com/hallmark-dev/hallmark/audit/audittest"
	"github.com/hallmark-dev/hallmark/tlog/format"
	"github.com/hallmark-dev/hallmark/tlog/rekorv2"
	"github.com/hallmark-dev/hallmark/trust/clientconfig"
)

// verifyFixture is a Rekor v2-style log served at a URL whose host name is
// its origin, a trusted root naming it, and a bundle for one of its entries.
type verifyFixture struct {
	log      *audittest.TilesLog
	srv      *logServer
	key      logKey
	trust    *TrustedRoot
	artifact []byte
	bundle   *protobundle.Bundle
	entries  [][]byte
}

func newVerifyFixture(t *testing.T) *verifyFixture {
	f := &verifyFixture{artifact: []byte("the release")}
	f.srv = newLogServer(t, http.NotFoundHandler())
	origin := "127.0.0.1" // sigstore-go's rule: the base URL's host name
	f.key = newLogKeyFor(t, origin)
	f.log = audittest.NewTilesLog(origin, f.key.signer)
	f.srv.serve(f.log)
	ca := mustCA(t)
	leaf := mustIssue(t, ca, "release@acme.example", "https://ci.acme.example")
	tree := testonly.New(rfc6962.DefaultHasher)
	for i := 0; i < 300; i++ {
		e, _ := audittest.SignedEntry(leaf, []byte{byte(i), byte(i >> 8)})
		if i == 257 {
			e, _ = audittest.SignedEntry(leaf, f.artifact)
		}
		f.entries = append(f.entries, e)
		f.log.Append(e)
		tree.AppendData(e)
	}
	keyID, _ := rekorv2.KeyHash(origin, f.key.pub)
	raw, err := clientconfig.TrustedRoot(clientconfig.TrustedRootParams{Tlogs: []clientconfig.Log{{
		BaseURL: f.srv.srv.URL, PublicKey: f.key.pub, KeyID: keyID[:], Start: mustTime(t)}}})
	if err != nil {
		t.Fatal(err)
	}
	if f.trust, err = ParseTrustedRoot(raw); err != nil {
		t.Fatal(err)
	}
	// The bundle a client got when entry 257 was logged, at size 280.
	cp := checkpointFor(t, f.key, origin, 280, tree.HashAt(280))
	hashes, _ := tree.InclusionProof(257, 280)
	d := sha256.Sum256(f.artifact)
	sig := sigOf(t, f.entries[257])
	f.bundle = &protobundle.Bundle{
		MediaType: "application/vnd.dev.sigstore.bundle.v0.3+json",
		VerificationMaterial: &protobundle.VerificationMaterial{
			Content: &protobundle.VerificationMaterial_Certificate{Certificate: &protocommon.X509Certificate{RawBytes: leaf.DER}},
			TlogEntries: []*protorekor.TransparencyLogEntry{{
				LogIndex: 257, LogId: &protocommon.LogId{KeyId: keyID[:]},
				KindVersion:       &protorekor.KindVersion{Kind: "hashedrekord", Version: "0.0.2"},
				CanonicalizedBody: f.entries[257],
				InclusionProof: &protorekor.InclusionProof{LogIndex: 257, RootHash: tree.HashAt(280), TreeSize: 280, Hashes: hashes,
					Checkpoint: &protorekor.Checkpoint{Envelope: string(cp)}},
			}},
		},
		Content: &protobundle.Bundle_MessageSignature{MessageSignature: &protocommon.MessageSignature{
			MessageDigest: &protocommon.HashOutput{Algorithm: protocommon.HashAlgorithm_SHA2_256, Digest: d[:]}, Signature: sig}},
	}
	return f
}

func (f *verifyFixture) verify(t *testing.T, mutate func(b *protobundle.Bundle), digest []byte) (*Report, error) {
	b := proto.Clone(f.bundle).(*protobundle.Bundle)
	if mutate != nil {
		mutate(b)
	}
	js, err := protojson.Marshal(b)
	if err != nil {
		t.Fatal(err)
	}
	return Verify(context.Background(), VerifyRequest{Bundle: js, Trust: f.trust, Digest: digest})
}

func TestVerifyBundle(t *testing.T) {
	f := newVerifyFixture(t)
	d := sha256.Sum256(f.artifact)
	rep, err := f.verify(t, nil, d[:])
	if err != nil {
		t.Fatalf("%v\n%+v", err, rep.Checks)
	}
	if len(rep.Checks) != 7 {
		t.Errorf("checks: %+v", rep.Checks)
	}
	other := sha256.Sum256([]byte("another artifact"))
	for name, tc := range map[string]struct {
		mutate func(*protobundle.Bundle)
		digest []byte
		want   error
	}{
		"wrong artifact": {nil, other[:], ErrWrongArtifact},
		"tampered proof": {func(b *protobundle.Bundle) {
			b.VerificationMaterial.TlogEntries[0].InclusionProof.Hashes[0][0] ^= 1
		}, nil, ErrNotIncluded},
		"other index": {func(b *protobundle.Bundle) { b.VerificationMaterial.TlogEntries[0].LogIndex = 256 }, nil, ErrNotIncluded},
		"tampered body": {func(b *protobundle.Bundle) {
			b.VerificationMaterial.TlogEntries[0].CanonicalizedBody = f.entries[256]
		}, nil, ErrNotIncluded},
		"other signature": {func(b *protobundle.Bundle) {
			b.Content.(*protobundle.Bundle_MessageSignature).MessageSignature.Signature = sigOf(t, f.entries[256])
		}, nil, ErrWrongArtifact},
		"forged checkpoint": {func(b *protobundle.Bundle) {
			ip := b.VerificationMaterial.TlogEntries[0].InclusionProof
			ip.Checkpoint.Envelope = string(checkpointFor(t, newLogKeyFor(t, "127.0.0.1"), "127.0.0.1", 280, ip.RootHash))
		}, nil, ErrBadSignature},
	} {
		if _, err := f.verify(t, tc.mutate, tc.digest); !errors.Is(err, tc.want) {
			t.Errorf("%s: got %v, want %v", name, err, tc.want)
		}
	}

	// The log forks after the bundle was made: the bundle's tree is no
	// longer a prefix of the served one.
	fork := audittest.NewTilesLog("127.0.0.1", f.key.signer)
	for i, e := range f.entries {
		if i == 100 {
			e = append(bytes.Clone(e), ' ')
		}
		fork.Append(e)
	}
	f.srv.serve(fork)
	if rep, err := f.verify(t, nil, d[:]); !errors.Is(err, ErrInconsistent) {
		t.Fatalf("fork: %v %+v", err, rep.Checks)
	}
}

func TestVerifyTilesByIndex(t *testing.T) {
	f := newVerifyFixture(t)
	l, err := NewLog(KindRekorV2, f.srv.srv.URL, "", f.key.pub, nil)
	if err != nil {
		t.Fatal(err)
	}
	d := sha256.Sum256(f.artifact)
	i := uint64(257)
	if rep, err := Verify(context.Background(), VerifyRequest{Log: l, Index: &i, Digest: d[:]}); err != nil {
		t.Fatalf("%v %+v", err, rep.Checks)
	}
	i = 258
	if _, err := Verify(context.Background(), VerifyRequest{Log: l, Index: &i, Digest: d[:]}); !errors.Is(err, ErrWrongArtifact) {
		t.Fatalf("wrong entry for the artifact: %v", err)
	}
	i = 300
	if _, err := Verify(context.Background(), VerifyRequest{Log: l, Index: &i}); !errors.Is(err, ErrNotIncluded) {
		t.Fatalf("beyond the tree: %v", err)
	}
	if _, err := Verify(context.Background(), VerifyRequest{Log: l, Digest: d[:]}); err == nil || !strings.Contains(err.Error(), "no search") {
		t.Fatalf("digest search on a tiles log: %v", err)
	}
}

func newLogKeyFor(t testing.TB, origin string) logKey {
	pub, key, _ := ed25519.GenerateKey(rand.Reader)
	s, err := format.NewNoteSigner(origin, key)
	if err != nil {
		t.Fatal(err)
	}
	return logKey{signer: s, pub: pub}
}

func checkpointFor(t testing.TB, k logKey, origin string, size uint64, root []byte) []byte {
	cp, err := note.Sign(&note.Note{Text: string(log.Checkpoint{Origin: origin, Size: size, Hash: root}.Marshal())}, k.signer)
	if err != nil {
		t.Fatal(err)
	}
	return cp
}

// sigOf returns the signature of a hashedrekord 0.0.2 body.
func sigOf(t testing.TB, body []byte) []byte {
	s, err := parseEntrySubject(body)
	if err != nil || s.signature == nil {
		t.Fatalf("no signature in %s: %v", body, err)
	}
	return s.signature
}

func mustTime(t testing.TB) time.Time { return time.Now().Add(-time.Hour) }

package interop

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/go-openapi/strfmt"
	rekorclient "github.com/sigstore/rekor/pkg/client"
	"github.com/sigstore/rekor/pkg/generated/client/entries"
	"github.com/sigstore/rekor/pkg/generated/client/index"
	"github.com/sigstore/rekor/pkg/generated/client/pubkey"
	"github.com/sigstore/rekor/pkg/generated/client/tlog"
	"github.com/sigstore/rekor/pkg/generated/models"
	"github.com/sigstore/rekor/pkg/types"
	_ "github.com/sigstore/rekor/pkg/types/dsse/v0.0.1"
	_ "github.com/sigstore/rekor/pkg/types/hashedrekord/v0.0.1"
	_ "github.com/sigstore/rekor/pkg/types/intoto/v0.0.2"
	"github.com/sigstore/rekor/pkg/util"
	"github.com/sigstore/rekor/pkg/verify"
	"github.com/sigstore/sigstore/pkg/cryptoutils"
	"github.com/sigstore/sigstore/pkg/signature"
)

const v1TreeID = 1193050959916656506

func v1Spec(path string) logSpec {
	return logSpec{Name: "rekor", Kind: "rekor-v1", Path: path, KeyType: "ecdsa-p256",
		Extra: fmt.Sprintf("    rekor: {tree_id: %d}\n    batch: {max_age: 10ms}\n", v1TreeID)}
}

// v1Artifacts makes a signer and the three kinds of entries clients send.
type v1Signer struct {
	key    *ecdsa.PrivateKey
	pemKey []byte
}

func newV1Signer(t testing.TB) *v1Signer {
	k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	p, err := cryptoutils.MarshalPublicKeyToPEM(k.Public())
	if err != nil {
		t.Fatal(err)
	}
	return &v1Signer{key: k, pemKey: p}
}

func (s *v1Signer) hashedrekord(t testing.TB, artifact []byte) models.ProposedEntry {
	d := sha256.Sum256(artifact)
	sig, _ := ecdsa.SignASN1(rand.Reader, s.key, d[:])
	pe, err := types.NewProposedEntry(context.Background(), "hashedrekord", "0.0.1", types.ArtifactProperties{
		ArtifactHash: "sha256:" + hex.EncodeToString(d[:]), SignatureBytes: sig, PublicKeyBytes: [][]byte{s.pemKey}, PKIFormat: "x509",
	})
	if err != nil {
		t.Fatal(err)
	}
	return pe
}

func (s *v1Signer) envelope(t testing.TB, payload []byte) []byte {
	const pt = "application/vnd.in-toto+json"
	pae := fmt.Sprintf("DSSEv1 %d %s %d %s", len(pt), pt, len(payload), payload)
	d := sha256.Sum256([]byte(pae))
	sig, _ := ecdsa.SignASN1(rand.Reader, s.key, d[:])
	env, _ := json.Marshal(map[string]any{"payloadType": pt, "payload": base64.StdEncoding.EncodeToString(payload),
		"signatures": []map[string]string{{"keyid": "", "sig": base64.StdEncoding.EncodeToString(sig)}}})
	return env
}

func statement(subject string) []byte {
	d := sha256.Sum256([]byte(subject))
	return fmt.Appendf(nil, `{"_type":"https://in-toto.io/Statement/v0.1","predicateType":"https://slsa.dev/provenance/v0.2","subject":[{"name":%q,"digest":{"sha256":%q}}],"predicate":{}}`, subject, hex.EncodeToString(d[:]))
}

func (s *v1Signer) attestation(t testing.TB, kind, version, subject string) models.ProposedEntry {
	pe, err := types.NewProposedEntry(context.Background(), kind, version, types.ArtifactProperties{
		ArtifactBytes: s.envelope(t, statement(subject)), PublicKeyBytes: [][]byte{s.pemKey},
	})
	if err != nil {
		t.Fatal(err)
	}
	return pe
}

// TestRekorV1Server uses Rekor's own Go client and verifier against a real
// hallmark-log serving a Rekor v1 log, at the root and under a prefix.
func TestRekorV1Server(t *testing.T) {
	stores(t, func(t *testing.T, dbURL string) {
		for _, path := range []string{"", "/rekor"} {
			t.Run("prefix="+path, func(t *testing.T) {
				spec := v1Spec(path)
				spec.Name = "rekor" + strings.ReplaceAll(path, "/", "-")
				p := startLogServer(t, dbURL, spec)
				testRekorV1(t, p.Logs[spec.Name])
			})
		}
	})
}

func testRekorV1(t *testing.T, l *servedLog) {
	ctx := context.Background()
	rc, err := rekorclient.GetRekorClient(l.URL, rekorclient.WithRetryCount(0))
	if err != nil {
		t.Fatal(err)
	}
	// The log's public key, as clients fetch it.
	pk, err := rc.Pubkey.GetPublicKeyContext(ctx, pubkey.NewGetPublicKeyParams())
	if err != nil {
		t.Fatal(err)
	}
	logPub, err := cryptoutils.UnmarshalPEMToPublicKey([]byte(pk.Payload))
	if err != nil {
		t.Fatal(err)
	}
	if !logPub.(*ecdsa.PublicKey).Equal(l.Key.Public()) {
		t.Fatal("publicKey endpoint returned another key")
	}
	logVerifier, _ := signature.LoadVerifier(logPub, crypto.SHA256)

	signer := newV1Signer(t)
	proposed := map[string]models.ProposedEntry{
		"hashedrekord": signer.hashedrekord(t, []byte("artifact one")),
		"dsse":         signer.attestation(t, "dsse", "0.0.1", "image-a"),
		"intoto":       signer.attestation(t, "intoto", "0.0.2", "image-b"),
	}
	uuids := map[string]string{}
	var first *util.SignedCheckpoint
	for kind, pe := range proposed {
		resp, err := rc.Entries.CreateLogEntryContext(ctx, entries.NewCreateLogEntryParams().WithProposedEntry(pe))
		if err != nil {
			t.Fatalf("%s: upload: %v", kind, err)
		}
		if len(resp.Payload) != 1 || resp.Payload[resp.ETag].Body == nil {
			t.Fatalf("%s: response map must hold exactly the ETag key %q", kind, resp.ETag)
		}
		if !strings.HasSuffix(resp.Location.String(), "/api/v1/log/entries/"+resp.ETag) {
			t.Fatalf("%s: Location %s", kind, resp.Location)
		}
		e := resp.Payload[resp.ETag]
		if err := verify.VerifyLogEntry(ctx, &e, logVerifier); err != nil {
			t.Fatalf("%s: Rekor's verifier rejects the entry: %v", kind, err)
		}
		// The UUID is the leaf hash of the body, as cosign checks.
		body, _ := base64.StdEncoding.DecodeString(e.Body.(string))
		leaf := sha256.Sum256(append([]byte{0}, body...))
		if !strings.HasSuffix(resp.ETag, hex.EncodeToString(leaf[:])) || len(resp.ETag) != 80 {
			t.Fatalf("%s: entry ID %s is not treeID+leafhash", kind, resp.ETag)
		}
		uuids[kind] = resp.ETag
		if first == nil {
			first = &util.SignedCheckpoint{}
			if err := first.UnmarshalText([]byte(*e.Verification.InclusionProof.Checkpoint)); err != nil {
				t.Fatal(err)
			}
		}
	}

	// A duplicate: 409 with Location of the existing entry.
	_, err = rc.Entries.CreateLogEntryContext(ctx, entries.NewCreateLogEntryParams().WithProposedEntry(proposed["hashedrekord"]))
	var conflict *entries.CreateLogEntryConflict
	if !errors.As(err, &conflict) || !strings.HasSuffix(conflict.Location.String(), uuids["hashedrekord"]) {
		t.Fatalf("duplicate: %v", err)
	}

	// Reads by UUID (80 and 64 hex) and by index, verified again.
	for kind, id := range uuids {
		for _, u := range []string{id, id[16:]} {
			got, err := rc.Entries.GetLogEntryByUUIDContext(ctx, entries.NewGetLogEntryByUUIDParams().WithEntryUUID(u))
			if err != nil {
				t.Fatalf("%s: get %s: %v", kind, u, err)
			}
			e := got.Payload[id]
			if err := verify.VerifyLogEntry(ctx, &e, logVerifier); err != nil {
				t.Fatalf("%s: reread entry fails verification: %v", kind, err)
			}
			byIdx, err := rc.Entries.GetLogEntryByIndexContext(ctx, entries.NewGetLogEntryByIndexParams().WithLogIndex(*e.LogIndex))
			if err != nil || byIdx.Payload[id].Body == nil {
				t.Fatalf("%s: get by index %d: %v", kind, *e.LogIndex, err)
			}
		}
	}
	_, err = rc.Entries.GetLogEntryByIndexContext(ctx, entries.NewGetLogEntryByIndexParams().WithLogIndex(999))
	var nf *entries.GetLogEntryByIndexNotFound
	if !errors.As(err, &nf) {
		t.Fatalf("missing index: %v", err)
	}

	// entries/retrieve: by proposed entry (how cosign v2 verifies without a
	// bundle), by UUID and by index.
	sr, err := rc.Entries.SearchLogQueryContext(ctx, entries.NewSearchLogQueryParams().WithEntry(&models.SearchLogQuery{
		EntryUUIDs: []string{uuids["dsse"]},
		LogIndexes: []*int64{new(int64(0))},
	}))
	if err != nil || len(sr.Payload) != 2 {
		t.Fatalf("retrieve by uuid and index: %d results, %v", len(sr.Payload), err)
	}
	var q models.SearchLogQuery
	q.SetEntries([]models.ProposedEntry{proposed["hashedrekord"]})
	sr, err = rc.Entries.SearchLogQueryContext(ctx, entries.NewSearchLogQueryParams().WithEntry(&q))
	if err != nil || len(sr.Payload) != 1 {
		t.Fatalf("retrieve by proposed entry: %v %v", sr, err)
	}
	tooMany := &models.SearchLogQuery{LogIndexes: make([]*int64, 11)}
	for i := range tooMany.LogIndexes {
		tooMany.LogIndexes[i] = new(int64(0))
	}
	_, err = rc.Entries.SearchLogQueryContext(ctx, entries.NewSearchLogQueryParams().WithEntry(tooMany))
	var unproc *entries.SearchLogQueryUnprocessableEntity
	if !errors.As(err, &unproc) {
		t.Fatalf("11 queries: %v", err)
	}

	// Search index, complete because it is written with the entries.
	d := sha256.Sum256([]byte("artifact one"))
	for name, query := range map[string]*models.SearchIndex{
		"sha":       {Hash: "sha256:" + hex.EncodeToString(d[:])},
		"publicKey": {PublicKey: &models.SearchIndexPublicKey{Format: new("x509"), Content: strfmt.Base64(signer.pemKey)}},
	} {
		res, err := rc.Index.SearchIndexContext(ctx, index.NewSearchIndexParams().WithQuery(query))
		if err != nil || len(res.Payload) == 0 {
			t.Fatalf("search by %s: %v %v", name, res, err)
		}
		found := false
		for _, id := range res.Payload {
			found = found || id == uuids["hashedrekord"]
		}
		if !found {
			t.Fatalf("search by %s: %v does not include %s", name, res.Payload, uuids["hashedrekord"])
		}
	}

	// Log info and a verified consistency proof between two checkpoints.
	info, err := rc.Tlog.GetLogInfoContext(ctx, tlog.NewGetLogInfoParams())
	if err != nil {
		t.Fatal(err)
	}
	if *info.Payload.TreeID != fmt.Sprint(v1TreeID) || *info.Payload.TreeSize != 3 {
		t.Fatalf("log info: %+v", info.Payload)
	}
	latest := &util.SignedCheckpoint{}
	if err := latest.UnmarshalText([]byte(*info.Payload.SignedTreeHead)); err != nil {
		t.Fatal(err)
	}
	if !latest.Verify(logVerifier) {
		t.Fatal("signed tree head does not verify")
	}
	if latest.Origin != fmt.Sprintf("127.0.0.1 - %d", v1TreeID) {
		t.Fatalf("origin %q", latest.Origin)
	}
	if err := verify.ProveConsistency(ctx, rc, first, latest, fmt.Sprint(v1TreeID)); err != nil {
		t.Fatalf("consistency: %v", err)
	}
	if _, err := verify.VerifyCurrentCheckpoint(ctx, rc, logVerifier, first); err != nil {
		t.Fatalf("VerifyCurrentCheckpoint: %v", err)
	}

	// Bad input: 400 with Rekor's message; unknown kind; body limit.
	bad := signer.hashedrekord(t, []byte("artifact two"))
	bad.(*models.Hashedrekord).Spec.(models.HashedrekordV001Schema).Data.Hash.Value = new(hex.EncodeToString(d[:]))
	_, err = rc.Entries.CreateLogEntryContext(ctx, entries.NewCreateLogEntryParams().WithProposedEntry(bad))
	var br *entries.CreateLogEntryBadRequest
	if !errors.As(err, &br) || !strings.Contains(br.Payload.Message, "verif") {
		t.Fatalf("bad signature: %v", err)
	}
	for body, code := range map[string]int{
		`{"apiVersion":"0.0.1","kind":"nope","spec":{}}`: 0,
		`{not json`:                400,
		strings.Repeat("x", 5<<20): 413,
	} {
		resp, err := http.Post(l.URL+"/api/v1/log/entries", "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if (code != 0 && resp.StatusCode != code) || resp.StatusCode < 400 || resp.StatusCode >= 500 || !bytes.Contains(b, []byte(`"message"`)) {
			t.Fatalf("body %.30q: HTTP %d %s", body, resp.StatusCode, b)
		}
	}
}

func rekorPublicKeyPEM(l *servedLog) ([]byte, error) {
	return cryptoutils.MarshalPublicKeyToPEM(l.Key.Public())
}

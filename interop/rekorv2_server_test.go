package interop

import (
	"bytes"
	"context"
	"crypto"
	"fmt"
	"io"
	mrand "math/rand/v2"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	protocommon "github.com/sigstore/protobuf-specs/gen/pb-go/common/v1"
	rekortilespb "github.com/sigstore/rekor-tiles/v2/pkg/generated/protobuf"
	"github.com/sigstore/sigstore-go/pkg/root"
	"github.com/sigstore/sigstore-go/pkg/sign"
	"github.com/sigstore/sigstore-go/pkg/verify"
	"github.com/sigstore/sigstore/pkg/signature"
	"github.com/transparency-dev/merkle/proof"
	"github.com/transparency-dev/merkle/rfc6962"
	"github.com/transparency-dev/tessera/client"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/types/known/emptypb"

	"github.com/hallmark-dev/hallmark/tlog/rekorv2"
	"github.com/hallmark-dev/hallmark/trust/clientconfig"
)

// v2TrustedRoot builds trusted_root.json for a Rekor v2 log the way
// `hallmark trust-root` does, and parses it with sigstore-go.
func v2TrustedRoot(t testing.TB, l *servedLog) *root.TrustedRoot {
	t.Helper()
	keyID, err := rekorv2.KeyHash(l.Origin, l.Key.Public())
	if err != nil {
		t.Fatal(err)
	}
	raw, err := clientconfig.TrustedRoot(clientconfig.TrustedRootParams{Tlogs: []clientconfig.Log{{
		BaseURL: l.URL, PublicKey: l.Key.Public(), KeyID: keyID[:], Start: time.Now().Add(-time.Hour),
	}}})
	if err != nil {
		t.Fatal(err)
	}
	tr, err := root.NewTrustedRootFromJSON(raw)
	if err != nil {
		t.Fatalf("sigstore-go rejects the trusted root: %v\n%s", err, raw)
	}
	return tr
}

// TestRekorV2Server runs sigstore-go against a real hallmark-log serving a
// Rekor v2 log: it signs (message signature and DSSE) with the log in its
// signing path, then verifies the bundles with a trusted root naming the
// log's key. A tampered artifact fails. tessera's client reads the log
// under both tile prefixes, and the gRPC service answers too.
func TestRekorV2Server(t *testing.T) {
	stores(t, func(t *testing.T, dbURL string) {
		for _, keyType := range []string{"ed25519", "ecdsa-p256"} {
			t.Run(keyType, func(t *testing.T) {
				name := "v2-" + keyType // a new log: both subtests may share a database
				p := startLogServer(t, dbURL, logSpec{Name: name, Kind: "rekor-v2", Path: "", KeyType: keyType})
				testRekorV2(t, p, p.Logs[name])
			})
		}
	})
}

func testRekorV2(t *testing.T, p *logProc, l *servedLog) {
	ctx := context.Background()
	tr := v2TrustedRoot(t, l)
	kp, err := sign.NewEphemeralKeypair(nil)
	if err != nil {
		t.Fatal(err)
	}
	sv, err := signature.LoadVerifier(kp.GetPublicKey(), crypto.SHA256)
	if err != nil {
		t.Fatal(err)
	}
	keys := root.NewTrustedPublicKeyMaterialFromMapping(map[string]*root.ExpiringKey{
		string(kp.GetHint()): root.NewExpiringKey(sv, time.Time{}, time.Time{}),
	})
	verifier, err := verify.NewVerifier(root.TrustedMaterialCollection{tr, keys}, verify.WithTransparencyLog(1), verify.WithNoObserverTimestamps())
	if err != nil {
		t.Fatal(err)
	}
	opts := sign.BundleOptions{TransparencyLogs: []sign.Transparency{sign.NewRekor(&sign.RekorOptions{BaseURL: l.URL, Version: 2})}}
	artifact := []byte("hallmark artifact " + time.Now().String())
	for name, content := range map[string]sign.Content{
		"message": &sign.PlainData{Data: artifact},
		"dsse":    &sign.DSSEData{Data: []byte(`{"_type":"https://in-toto.io/Statement/v1","subject":[]}`), PayloadType: "application/vnd.in-toto+json"},
	} {
		start := time.Now()
		pb, err := sign.Bundle(content, kp, opts)
		if err != nil {
			t.Fatalf("%s: sigstore-go signing against Hallmark's v2 log: %v", name, err)
		}
		t.Logf("%s: signed and logged in %v", name, time.Since(start).Round(time.Millisecond))
		b := bundleFromJSON(t, pb)
		policy := verify.NewPolicy(verify.WithArtifact(bytes.NewReader(artifact)), verify.WithKey())
		if name == "dsse" {
			policy = verify.NewPolicy(verify.WithoutArtifactUnsafe(), verify.WithKey())
		}
		if _, err := verifier.Verify(b, policy); err != nil {
			t.Fatalf("%s: sigstore-go rejects the bundle: %v", name, err)
		}
		if name == "message" {
			bad := verify.NewPolicy(verify.WithArtifact(bytes.NewReader(append(artifact, '!'))), verify.WithKey())
			if _, err := verifier.Verify(b, bad); err == nil {
				t.Fatal("sigstore-go accepted a tampered artifact")
			}
		}
	}

	// A resubmitted entry: 409 with the existing index in x-log-index.
	hr, _ := randomHashedRekord(t, protocommon.PublicKeyDetails_PKIX_ECDSA_P256_SHA_256, false, newRand(t))
	body, _ := protojson.Marshal(hashedRekordRequest(hr))
	post := func() (*http.Response, []byte) {
		resp, err := http.Post(l.URL+"/api/v2/log/entries", "application/json", bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp, b
	}
	if resp, b := post(); resp.StatusCode != 201 {
		t.Fatalf("create: %d %s", resp.StatusCode, b)
	}
	resp, b := post()
	if resp.StatusCode != 409 || resp.Header.Get("x-log-index") == "" {
		t.Fatalf("duplicate: HTTP %d, x-log-index %q: %s", resp.StatusCode, resp.Header.Get("x-log-index"), b)
	}
	// Bad input: 400 with a message that says what is wrong.
	hr.Digest = hr.Digest[:20]
	body, _ = protojson.Marshal(hashedRekordRequest(hr))
	if resp, b := post(); resp.StatusCode != 400 || !strings.Contains(string(b), "digest") {
		t.Fatalf("short digest: HTTP %d %s", resp.StatusCode, b)
	}

	// tessera's client reads the log under both prefixes.
	for _, prefix := range []string{"/", "/api/v2/"} {
		u, _ := url.Parse(l.URL + prefix)
		f, _ := client.NewHTTPFetcher(u, nil)
		cp, _, _, err := client.FetchCheckpoint(ctx, f.ReadCheckpoint, p.Verifier, l.Origin)
		if err != nil {
			t.Fatalf("%s checkpoint: %v", prefix, err)
		}
		if cp.Size != 3 {
			t.Fatalf("%s: size %d, want 3", prefix, cp.Size)
		}
		pb, _ := client.NewProofBuilder(ctx, cp.Size, f.ReadTile)
		bundle, err := client.GetEntryBundle(ctx, f.ReadEntryBundle, 0, cp.Size)
		if err != nil {
			t.Fatal(err)
		}
		for i, e := range bundle.Entries {
			ip, err := pb.InclusionProof(ctx, uint64(i))
			if err != nil {
				t.Fatal(err)
			}
			if err := proof.VerifyInclusion(rfc6962.DefaultHasher, uint64(i), cp.Size, rfc6962.DefaultHasher.HashLeaf(e), ip, cp.Hash); err != nil {
				t.Fatal(err)
			}
		}
		cons, _ := pb.ConsistencyProof(ctx, 1, cp.Size)
		r1 := rfc6962.DefaultHasher.HashLeaf(bundle.Entries[0])
		if err := proof.VerifyConsistency(rfc6962.DefaultHasher, 1, cp.Size, cons, r1, cp.Hash); err != nil {
			t.Fatal(err)
		}
	}

	// gRPC: dev.sigstore.rekor.v2.Rekor.
	conn, err := grpc.NewClient(p.grpc, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	rc := rekortilespb.NewRekorClient(conn)
	hr2, _ := randomHashedRekord(t, protocommon.PublicKeyDetails_PKIX_ED25519_PH, true, newRand(t))
	tle, err := rc.CreateEntry(ctx, hashedRekordRequest(hr2))
	if err != nil {
		t.Fatalf("gRPC CreateEntry: %v", err)
	}
	if tle.GetKindVersion().GetKind() != "hashedrekord" || tle.GetInclusionProof().GetCheckpoint().GetEnvelope() == "" {
		t.Fatalf("gRPC entry: %v", tle)
	}
	var hdr metadata.MD
	_, err = rc.CreateEntry(ctx, hashedRekordRequest(hr2), grpc.Header(&hdr))
	if status.Code(err) != codes.AlreadyExists || len(hdr.Get("x-log-index")) != 1 {
		t.Fatalf("gRPC duplicate: %v, header %v", err, hdr)
	}
	if cp, err := rc.GetCheckpoint(ctx, &emptypb.Empty{}); err != nil || !strings.HasPrefix(string(cp.GetData()), l.Origin+"\n") {
		t.Fatalf("gRPC GetCheckpoint: %v", err)
	}
	if _, err := rc.GetTile(ctx, &rekortilespb.TileRequest{L: 0, N: "000.p/4"}); err != nil {
		t.Fatalf("gRPC GetTile: %v", err)
	}
	_ = fmt.Sprint
}

var randStream atomic.Uint64

// newRand returns a generator for random entries: seeded from the clock so
// that runs against a shared database make fresh entries, and logged so a
// failure can be replayed.
func newRand(t testing.TB) *mrand.Rand {
	s, n := uint64(time.Now().UnixNano()), randStream.Add(1)
	t.Logf("random entries: mrand.NewPCG(%d, %d)", s, n)
	return mrand.New(mrand.NewPCG(s, n))
}

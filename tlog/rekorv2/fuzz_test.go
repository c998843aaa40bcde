package rekorv2

//lint:file-ignore SA1019 DSSE v0.0.2 is deprecated in rekor-tiles but still sent by cosign v3.0.x (sigstore-go v1.1.x); Hallmark accepts it.

import (
	"bytes"
	"errors"
	"testing"

	"github.com/gowebpki/jcs"
	protocommon "github.com/sigstore/protobuf-specs/gen/pb-go/common/v1"
	protodsse "github.com/sigstore/protobuf-specs/gen/pb-go/dsse"
	rekortilespb "github.com/sigstore/rekor-tiles/v2/pkg/generated/protobuf"
	"google.golang.org/protobuf/encoding/protojson"
)

// checkCanonicalize runs Canonicalize and checks its contract: every
// rejection is an *InputError, and an accepted entry is a deterministic,
// already-canonical encoding of a rekor-tiles Entry of the request's kind.
func checkCanonicalize(t *testing.T, req *CreateEntryRequest) {
	e, err := Canonicalize(req, DefaultOptions())
	if err != nil {
		var ie *InputError
		if !errors.As(err, &ie) {
			t.Fatalf("rejection is not an *InputError: %v", err)
		}
		return
	}
	wantKind := KindHashedRekord
	if req.GetDsseRequestV002() != nil {
		wantKind = KindDSSE
	}
	if e.Kind != wantKind || e.Version != Version {
		t.Fatalf("kind/version %s/%s for a %s request", e.Kind, e.Version, wantKind)
	}
	again, err := jcs.Transform(e.Canonical)
	if err != nil || !bytes.Equal(again, e.Canonical) {
		t.Fatalf("leaf is not canonical JSON: %s", e.Canonical)
	}
	var entry rekortilespb.Entry
	if err := protojson.Unmarshal(e.Canonical, &entry); err != nil || entry.Kind != e.Kind {
		t.Fatalf("leaf is not a %s Entry (%v): %s", e.Kind, err, e.Canonical)
	}
	second, err := Canonicalize(req, DefaultOptions())
	if err != nil || !bytes.Equal(second.Canonical, e.Canonical) {
		t.Fatal("Canonicalize is not deterministic")
	}
}

// FuzzCreateEntryJSON feeds REST bodies through ParseCreateEntryJSON and
// Canonicalize, as the API does.
func FuzzCreateEntryJSON(f *testing.F) {
	for _, k := range testKeys() {
		for _, req := range []*CreateEntryRequest{
			k.hashedRekordRequest(f, []byte("seed "+k.name), false),
			k.hashedRekordRequest(f, []byte("seed "+k.name), true),
			dsseRequest(f, "text/plain", []byte("seed "+k.name), dsseKey(k)),
		} {
			body, err := protojson.Marshal(req)
			if err != nil {
				f.Fatal(err)
			}
			f.Add(body)
		}
	}
	f.Add(mustMarshal(f, dsseRequest(f, "application/vnd.in-toto+json", []byte("{}"),
		testKeyNamed("ecdsa-p256"), testKeyNamed("rsa-2048"), dsseKey(testKeyNamed("ed25519ph")))))
	f.Add([]byte(`{}`))
	f.Add([]byte(`{"hashed_rekord_request_v002":{"digest":"AAAA","signature":{"content":"AAAA","verifier":{"key_details":7,"public_key":{"raw_bytes":"MCowBQYDK2VwAyEAt8rlp1knGwjfbcXAYPYAkn0XiLz1x8O4t0YkEhie244="}}}}}`))
	f.Add([]byte(`{"dsseRequestV002":{"envelope":{"payload":"","payloadType":"","signatures":[{"sig":"AA=="}]},"verifiers":[{}]}}`))

	f.Fuzz(func(t *testing.T, body []byte) {
		req, err := ParseCreateEntryJSON(body)
		if err != nil {
			var ie *InputError
			if !errors.As(err, &ie) {
				t.Fatalf("parse error is not an *InputError: %v", err)
			}
			return
		}
		checkCanonicalize(t, req)
	})
}

// FuzzHashedRekord varies the fields of a hashedrekord request directly, to
// reach key parsing and signature checks without going through JSON.
func FuzzHashedRekord(f *testing.F) {
	for _, k := range testKeys() {
		for _, asCert := range []bool{false, true} {
			hr := k.hashedRekordRequest(f, []byte("seed"), asCert).GetHashedRekordRequestV002()
			v := hr.Signature.Verifier
			raw := v.GetPublicKey().GetRawBytes()
			if asCert {
				raw = v.GetX509Certificate().GetRawBytes()
			}
			f.Add(hr.Digest, hr.Signature.Content, raw, int32(v.KeyDetails), asCert)
		}
	}
	f.Fuzz(func(t *testing.T, digest, sig, raw []byte, details int32, asCert bool) {
		v := &rekortilespb.Verifier{KeyDetails: protocommon.PublicKeyDetails(details)}
		if asCert {
			v.Verifier = &rekortilespb.Verifier_X509Certificate{X509Certificate: &protocommon.X509Certificate{RawBytes: raw}}
		} else {
			v.Verifier = &rekortilespb.Verifier_PublicKey{PublicKey: &rekortilespb.PublicKey{RawBytes: raw}}
		}
		checkCanonicalize(t, &CreateEntryRequest{Spec: &rekortilespb.CreateEntryRequest_HashedRekordRequestV002{
			HashedRekordRequestV002: &rekortilespb.HashedRekordRequestV002{
				Digest:    digest,
				Signature: &rekortilespb.Signature{Content: sig, Verifier: v},
			},
		}})
	})
}

// FuzzDSSE varies a two-signature, two-verifier dsse request.
func FuzzDSSE(f *testing.F) {
	keys := []testKey{testKeyNamed("ecdsa-p256"), dsseKey(testKeyNamed("ed25519ph"))}
	ds := dsseRequest(f, "text/plain", []byte("seed"), keys...).GetDsseRequestV002()
	f.Add(ds.Envelope.PayloadType, ds.Envelope.Payload,
		ds.Envelope.Signatures[0].Sig, ds.Envelope.Signatures[1].Sig,
		ds.Verifiers[0].GetPublicKey().RawBytes, ds.Verifiers[1].GetPublicKey().RawBytes,
		int32(ds.Verifiers[0].KeyDetails), int32(ds.Verifiers[1].KeyDetails))
	f.Fuzz(func(t *testing.T, payloadType string, payload, sig0, sig1, key0, key1 []byte, details0, details1 int32) {
		verifier := func(raw []byte, details int32) *rekortilespb.Verifier {
			return &rekortilespb.Verifier{
				KeyDetails: protocommon.PublicKeyDetails(details),
				Verifier:   &rekortilespb.Verifier_PublicKey{PublicKey: &rekortilespb.PublicKey{RawBytes: raw}},
			}
		}
		checkCanonicalize(t, &CreateEntryRequest{Spec: &rekortilespb.CreateEntryRequest_DsseRequestV002{
			DsseRequestV002: &rekortilespb.DSSERequestV002{
				Envelope: &protodsse.Envelope{
					PayloadType: payloadType,
					Payload:     payload,
					Signatures:  []*protodsse.Signature{{Sig: sig0}, {Sig: sig1}},
				},
				Verifiers: []*rekortilespb.Verifier{verifier(key0, details0), verifier(key1, details1)},
			},
		}})
	})
}

func mustMarshal(f *testing.F, req *CreateEntryRequest) []byte {
	body, err := protojson.Marshal(req)
	if err != nil {
		f.Fatal(err)
	}
	return body
}

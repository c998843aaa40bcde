package rekorv2

//lint:file-ignore SA1019 DSSE v0.0.2 is deprecated in rekor-tiles but still sent by cosign v3.0.x (sigstore-go v1.1.x); Hallmark accepts it.

import (
	"bytes"
	"crypto/ecdh"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/base64"
	"errors"
	"math/big"
	"slices"
	"strings"
	"testing"

	protocommon "github.com/sigstore/protobuf-specs/gen/pb-go/common/v1"
	protodsse "github.com/sigstore/protobuf-specs/gen/pb-go/dsse"
	rekortilespb "github.com/sigstore/rekor-tiles/v2/pkg/generated/protobuf"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	"github.com/hallmark-dev/hallmark/tlog/format"
)

var b64 = base64.StdEncoding.EncodeToString

// TestCanonicalHashedRekordGolden spells out the leaf rekor-tiles stores
// (sorted keys, enum names, standard base64) independently of protojson.
func TestCanonicalHashedRekordGolden(t *testing.T) {
	k := testKeyNamed("ed25519ph")
	digest := sha512.Sum512([]byte("hello, hallmark"))
	sig := k.signDigest(t, digest[:])
	req := &CreateEntryRequest{Spec: &rekortilespb.CreateEntryRequest_HashedRekordRequestV002{
		HashedRekordRequestV002: &rekortilespb.HashedRekordRequestV002{
			Digest:    digest[:],
			Signature: &rekortilespb.Signature{Content: sig, Verifier: k.verifier(t, false)},
		},
	}}
	e, err := Canonicalize(req, DefaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	want := `{"apiVersion":"0.0.2","kind":"hashedrekord","spec":{"hashedRekordV002":{` +
		`"data":{"algorithm":"SHA2_512","digest":"` + b64(digest[:]) + `"},` +
		`"signature":{"content":"` + b64(sig) + `","verifier":{"keyDetails":"PKIX_ED25519_PH",` +
		`"publicKey":{"rawBytes":"` + b64(k.spki(t)) + `"}}}}}}`
	if string(e.Canonical) != want {
		t.Errorf("Canonical =\n%s\nwant\n%s", e.Canonical, want)
	}
	if e.Kind != "hashedrekord" || e.Version != "0.0.2" {
		t.Errorf("kind/version = %s/%s", e.Kind, e.Version)
	}
	leaf := sha256.Sum256(append([]byte{0}, want...))
	if e.LeafHash() != leaf {
		t.Errorf("LeafHash = %x, want %x", e.LeafHash(), leaf)
	}
}

func TestCanonicalDSSEGolden(t *testing.T) {
	k := dsseKey(testKeyNamed("ed25519ph"))
	payload := []byte(`{"_type":"https://in-toto.io/Statement/v1"}`)
	req := dsseRequest(t, "application/vnd.in-toto+json", payload, k)
	e, err := Canonicalize(req, DefaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	ph := sha256.Sum256(payload)
	sig := req.GetDsseRequestV002().Envelope.Signatures[0].Sig
	want := `{"apiVersion":"0.0.2","kind":"dsse","spec":{"dsseV002":{` +
		`"payloadHash":{"algorithm":"SHA2_256","digest":"` + b64(ph[:]) + `"},` +
		`"signatures":[{"content":"` + b64(sig) + `","verifier":{"keyDetails":"PKIX_ED25519",` +
		`"publicKey":{"rawBytes":"` + b64(k.spki(t)) + `"}}}]}}}`
	if string(e.Canonical) != want {
		t.Errorf("Canonical =\n%s\nwant\n%s", e.Canonical, want)
	}
	if e.Kind != "dsse" || e.Version != "0.0.2" {
		t.Errorf("kind/version = %s/%s", e.Kind, e.Version)
	}
}

// TestCanonicalizeHashedRekordAccepts covers every default algorithm with
// both verifier forms, and checks the leaf decodes to what was sent.
func TestCanonicalizeHashedRekordAccepts(t *testing.T) {
	wantHash := map[string]protocommon.HashAlgorithm{
		"ecdsa-p256": protocommon.HashAlgorithm_SHA2_256,
		"ecdsa-p384": protocommon.HashAlgorithm_SHA2_384,
		"ecdsa-p521": protocommon.HashAlgorithm_SHA2_512,
		"rsa-2048":   protocommon.HashAlgorithm_SHA2_256,
		"rsa-3072":   protocommon.HashAlgorithm_SHA2_256,
		"rsa-4096":   protocommon.HashAlgorithm_SHA2_256,
		"ed25519ph":  protocommon.HashAlgorithm_SHA2_512,
	}
	for _, k := range testKeys() {
		for _, asCert := range []bool{false, true} {
			name := k.name
			if asCert {
				name += "/cert"
			}
			t.Run(name, func(t *testing.T) {
				req := k.hashedRekordRequest(t, []byte("artifact "+name), asCert)
				e, err := Canonicalize(req, DefaultOptions())
				if err != nil {
					t.Fatal(err)
				}
				var got rekortilespb.Entry
				if err := protojson.Unmarshal(e.Canonical, &got); err != nil {
					t.Fatalf("leaf is not an Entry: %v", err)
				}
				hr := got.GetSpec().GetHashedRekordV002()
				sent := req.GetHashedRekordRequestV002()
				if got.Kind != KindHashedRekord || got.ApiVersion != Version {
					t.Errorf("kind/version = %s/%s", got.Kind, got.ApiVersion)
				}
				if hr.GetData().GetAlgorithm() != wantHash[k.name] {
					t.Errorf("data.algorithm = %s, want %s", hr.GetData().GetAlgorithm(), wantHash[k.name])
				}
				if !bytes.Equal(hr.GetData().GetDigest(), sent.Digest) {
					t.Error("digest not logged verbatim")
				}
				if !proto.Equal(hr.GetSignature(), sent.Signature) {
					t.Error("signature or verifier not logged verbatim")
				}
				again, err := Canonicalize(req, DefaultOptions())
				if err != nil || !bytes.Equal(again.Canonical, e.Canonical) {
					t.Error("Canonicalize is not deterministic")
				}
			})
		}
	}
}

func TestCanonicalizeDSSEAccepts(t *testing.T) {
	payload := []byte("payload")
	for _, k := range testKeys() {
		t.Run(k.name, func(t *testing.T) {
			if _, err := Canonicalize(dsseRequest(t, "text/plain", payload, dsseKey(k)), DefaultOptions()); err != nil {
				t.Fatal(err)
			}
		})
	}

	t.Run("order-independent", func(t *testing.T) {
		keys := []testKey{testKeyNamed("ecdsa-p256"), testKeyNamed("rsa-2048"), dsseKey(testKeyNamed("ed25519ph")), testKeyNamed("ecdsa-p384")}
		req := dsseRequest(t, "text/plain", payload, keys...)
		first, err := Canonicalize(req, DefaultOptions())
		if err != nil {
			t.Fatal(err)
		}
		var entry rekortilespb.Entry
		if err := protojson.Unmarshal(first.Canonical, &entry); err != nil {
			t.Fatal(err)
		}
		logged := entry.GetSpec().GetDsseV002().GetSignatures()
		if len(logged) != len(keys) {
			t.Fatalf("%d signatures logged, want %d", len(logged), len(keys))
		}
		if !slices.IsSortedFunc(logged, func(a, b *rekortilespb.Signature) int { return bytes.Compare(a.Content, b.Content) }) {
			t.Error("signatures not sorted by content")
		}
		// Reverse signatures and rotate verifiers: same leaf.
		ds := req.GetDsseRequestV002()
		slices.Reverse(ds.Envelope.Signatures)
		ds.Verifiers = append(ds.Verifiers[1:], ds.Verifiers[0])
		second, err := Canonicalize(req, DefaultOptions())
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(first.Canonical, second.Canonical) {
			t.Error("leaf depends on signature or verifier order")
		}
	})

	t.Run("duplicate-signature", func(t *testing.T) {
		req := dsseRequest(t, "text/plain", payload, testKeyNamed("ecdsa-p256"))
		env := req.GetDsseRequestV002().Envelope
		env.Signatures = append(env.Signatures, &protodsse.Signature{Sig: env.Signatures[0].Sig, Keyid: "other"})
		e, err := Canonicalize(req, DefaultOptions())
		if err != nil {
			t.Fatal(err)
		}
		if n := strings.Count(string(e.Canonical), `"content"`); n != 1 {
			t.Errorf("identical signatures logged %d times", n)
		}
	})
}

func TestCanonicalizeRejects(t *testing.T) {
	p256 := testKeyNamed("ecdsa-p256")
	rsa2048 := testKeyNamed("rsa-2048")
	ed := testKeyNamed("ed25519ph")
	hashed := func(t *testing.T) (*CreateEntryRequest, *rekortilespb.HashedRekordRequestV002) {
		req := p256.hashedRekordRequest(t, []byte("artifact"), false)
		return req, req.GetHashedRekordRequestV002()
	}
	dsse := func(t *testing.T, keys ...testKey) (*CreateEntryRequest, *rekortilespb.DSSERequestV002) {
		req := dsseRequest(t, "text/plain", []byte("payload"), keys...)
		return req, req.GetDsseRequestV002()
	}
	spki := func(t *testing.T, pub any) []byte {
		der, err := x509.MarshalPKIXPublicKey(pub)
		if err != nil {
			t.Fatal(err)
		}
		return der
	}

	tests := []struct {
		name      string
		req       func(t *testing.T) *CreateEntryRequest
		opts      *Options
		wantField string
		wantMsg   string
	}{
		{"no entry", func(t *testing.T) *CreateEntryRequest { return &CreateEntryRequest{} }, nil,
			"", "expected hashedRekordRequestV002 or dsseRequestV002"},
		{"nil hashedrekord", func(t *testing.T) *CreateEntryRequest {
			return &CreateEntryRequest{Spec: &rekortilespb.CreateEntryRequest_HashedRekordRequestV002{}}
		}, nil, "hashedRekordRequestV002", "missing request"},
		{"missing signature", func(t *testing.T) *CreateEntryRequest {
			req, hr := hashed(t)
			hr.Signature = nil
			return req
		}, nil, "hashedRekordRequestV002.signature", "missing signature"},
		{"empty signature", func(t *testing.T) *CreateEntryRequest {
			req, hr := hashed(t)
			hr.Signature.Content = nil
			return req
		}, nil, "hashedRekordRequestV002.signature.content", "empty signature"},
		{"empty digest", func(t *testing.T) *CreateEntryRequest {
			req, hr := hashed(t)
			hr.Digest = nil
			return req
		}, nil, "hashedRekordRequestV002.digest", "empty digest"},
		{"wrong digest length", func(t *testing.T) *CreateEntryRequest {
			req, hr := hashed(t)
			d := sha512.Sum384([]byte("artifact"))
			hr.Digest = d[:]
			return req
		}, nil, "hashedRekordRequestV002.digest", "digest is 48 bytes, but keyDetails PKIX_ECDSA_P256_SHA_256 signs SHA-256 digests of 32 bytes"},
		{"missing verifier", func(t *testing.T) *CreateEntryRequest {
			req, hr := hashed(t)
			hr.Signature.Verifier = nil
			return req
		}, nil, "hashedRekordRequestV002.signature.verifier", "missing verifier"},
		{"verifier without key", func(t *testing.T) *CreateEntryRequest {
			req, hr := hashed(t)
			hr.Signature.Verifier.Verifier = nil
			return req
		}, nil, "hashedRekordRequestV002.signature.verifier", "neither publicKey nor x509Certificate"},
		{"empty public key", func(t *testing.T) *CreateEntryRequest {
			req, hr := hashed(t)
			hr.Signature.Verifier.GetPublicKey().RawBytes = nil
			return req
		}, nil, "hashedRekordRequestV002.signature.verifier.publicKey.rawBytes", "empty public key"},
		{"garbage public key", func(t *testing.T) *CreateEntryRequest {
			req, hr := hashed(t)
			hr.Signature.Verifier.GetPublicKey().RawBytes = []byte("-----BEGIN PUBLIC KEY-----")
			return req
		}, nil, "hashedRekordRequestV002.signature.verifier.publicKey.rawBytes", "not a DER SubjectPublicKeyInfo"},
		{"empty certificate", func(t *testing.T) *CreateEntryRequest {
			req, hr := hashed(t)
			hr.Signature.Verifier.Verifier = &rekortilespb.Verifier_X509Certificate{X509Certificate: &protocommon.X509Certificate{}}
			return req
		}, nil, "hashedRekordRequestV002.signature.verifier.x509Certificate.rawBytes", "empty certificate"},
		{"garbage certificate", func(t *testing.T) *CreateEntryRequest {
			req, hr := hashed(t)
			hr.Signature.Verifier.Verifier = &rekortilespb.Verifier_X509Certificate{X509Certificate: &protocommon.X509Certificate{RawBytes: p256.spki(t)}}
			return req
		}, nil, "hashedRekordRequestV002.signature.verifier.x509Certificate.rawBytes", "not a DER X.509 certificate"},
		{"unsupported key type", func(t *testing.T) *CreateEntryRequest {
			req, hr := hashed(t)
			x, err := ecdh.X25519().GenerateKey(rand.Reader)
			if err != nil {
				t.Fatal(err)
			}
			hr.Signature.Verifier.GetPublicKey().RawBytes = spki(t, x.PublicKey())
			return req
		}, nil, "hashedRekordRequestV002.signature.verifier", "unsupported public key type *ecdh.PublicKey"},
		{"missing keyDetails", func(t *testing.T) *CreateEntryRequest {
			req, hr := hashed(t)
			hr.Signature.Verifier.KeyDetails = protocommon.PublicKeyDetails_PUBLIC_KEY_DETAILS_UNSPECIFIED
			return req
		}, nil, "hashedRekordRequestV002.signature.verifier.keyDetails", "missing keyDetails for the ECDSA P-256 key"},
		{"unsupported keyDetails", func(t *testing.T) *CreateEntryRequest {
			req := rsa2048.hashedRekordRequest(t, []byte("artifact"), false)
			req.GetHashedRekordRequestV002().Signature.Verifier.KeyDetails = protocommon.PublicKeyDetails_PKIX_RSA_PSS_2048_SHA256
			return req
		}, nil, "hashedRekordRequestV002.signature.verifier.keyDetails", "unsupported keyDetails PKIX_RSA_PSS_2048_SHA256"},
		{"keyDetails curve mismatch", func(t *testing.T) *CreateEntryRequest {
			req, hr := hashed(t)
			hr.Signature.Verifier.KeyDetails = protocommon.PublicKeyDetails_PKIX_ECDSA_P384_SHA_384
			return req
		}, nil, "hashedRekordRequestV002.signature.verifier.keyDetails", "keyDetails PKIX_ECDSA_P384_SHA_384 does not match the ECDSA P-256 key"},
		{"keyDetails key type mismatch", func(t *testing.T) *CreateEntryRequest {
			// rekor-tiles accepts this (same hash); sigstore-go could not
			// verify it, because it derives keyDetails from the key.
			req := rsa2048.hashedRekordRequest(t, []byte("artifact"), false)
			req.GetHashedRekordRequestV002().Signature.Verifier.KeyDetails = protocommon.PublicKeyDetails_PKIX_ECDSA_P256_SHA_256
			return req
		}, nil, "hashedRekordRequestV002.signature.verifier.keyDetails", "keyDetails PKIX_ECDSA_P256_SHA_256 does not match the RSA 2048-bit key"},
		{"keyDetails RSA size mismatch", func(t *testing.T) *CreateEntryRequest {
			req := rsa2048.hashedRekordRequest(t, []byte("artifact"), false)
			req.GetHashedRekordRequestV002().Signature.Verifier.KeyDetails = protocommon.PublicKeyDetails_PKIX_RSA_PKCS1V15_3072_SHA256
			return req
		}, nil, "hashedRekordRequestV002.signature.verifier.keyDetails", "does not match the RSA 2048-bit key"},
		{"unsupported curve", func(t *testing.T) *CreateEntryRequest {
			req, hr := hashed(t)
			k, err := ecdsa.GenerateKey(elliptic.P224(), rand.Reader)
			if err != nil {
				t.Fatal(err)
			}
			hr.Signature.Verifier.GetPublicKey().RawBytes = spki(t, &k.PublicKey)
			return req
		}, nil, "hashedRekordRequestV002.signature.verifier.keyDetails", "does not match the ECDSA P-224 key"},
		{"Ed25519 not prehash", func(t *testing.T) *CreateEntryRequest {
			req := ed.hashedRekordRequest(t, []byte("artifact"), false)
			req.GetHashedRekordRequestV002().Signature.Verifier.KeyDetails = protocommon.PublicKeyDetails_PKIX_ED25519
			return req
		}, nil, "hashedRekordRequestV002.signature.verifier.keyDetails", "Ed25519 keys must use PKIX_ED25519_PH"},
		{"algorithm not allowed", func(t *testing.T) *CreateEntryRequest {
			req, _ := hashed(t)
			return req
		}, &Options{AllowedAlgorithms: []protocommon.PublicKeyDetails{protocommon.PublicKeyDetails_PKIX_ED25519_PH}},
			"hashedRekordRequestV002.signature.verifier.keyDetails", "PKIX_ECDSA_P256_SHA_256 is not allowed by this log"},
		{"bad signature", func(t *testing.T) *CreateEntryRequest {
			req, hr := hashed(t)
			hr.Digest[0] ^= 1
			return req
		}, nil, "hashedRekordRequestV002.signature.content", "signature does not verify over the digest with the verifier's ECDSA P-256 key"},
		{"bad RSA signature", func(t *testing.T) *CreateEntryRequest {
			req := rsa2048.hashedRekordRequest(t, []byte("artifact"), true)
			req.GetHashedRekordRequestV002().Signature.Content[7] ^= 1
			return req
		}, nil, "hashedRekordRequestV002.signature.content", "signature does not verify"},
		{"pure Ed25519 signature", func(t *testing.T) *CreateEntryRequest {
			req := ed.hashedRekordRequest(t, []byte("artifact"), false)
			hr := req.GetHashedRekordRequestV002()
			hr.Signature.Content = ed25519.Sign(ed.signer.(ed25519.PrivateKey), hr.Digest)
			return req
		}, nil, "hashedRekordRequestV002.signature.content", "signature does not verify over the digest with the verifier's Ed25519 key"},
		{"entry too large", func(t *testing.T) *CreateEntryRequest {
			req, hr := hashed(t)
			// A certificate with a 50 KB extension: 67 KB of base64 in the leaf.
			tmpl := &x509.Certificate{
				SerialNumber:    big.NewInt(2),
				ExtraExtensions: []pkix.Extension{{Id: asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 99999, 1}, Value: make([]byte, 50000)}},
			}
			der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, p256.signer.Public(), p256.signer)
			if err != nil {
				t.Fatal(err)
			}
			hr.Signature.Verifier.Verifier = &rekortilespb.Verifier_X509Certificate{X509Certificate: &protocommon.X509Certificate{RawBytes: der}}
			return req
		}, nil, "hashedRekordRequestV002", "bytes, more than the 49151 a log entry can hold"}, // refused before parsing
		{"signature by another key", func(t *testing.T) *CreateEntryRequest {
			req, hr := hashed(t)
			other, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
			if err != nil {
				t.Fatal(err)
			}
			hr.Signature.Verifier = testKey{"other", p256.details, other}.verifier(t, false)
			return req
		}, nil, "hashedRekordRequestV002.signature.content", "signature does not verify"},

		{"nil dsse", func(t *testing.T) *CreateEntryRequest {
			return &CreateEntryRequest{Spec: &rekortilespb.CreateEntryRequest_DsseRequestV002{}}
		}, nil, "dsseRequestV002", "missing request"},
		{"dsse missing envelope", func(t *testing.T) *CreateEntryRequest {
			req, ds := dsse(t, p256)
			ds.Envelope = nil
			return req
		}, nil, "dsseRequestV002.envelope", "missing envelope"},
		{"dsse no verifiers", func(t *testing.T) *CreateEntryRequest {
			req, ds := dsse(t, p256)
			ds.Verifiers = nil
			return req
		}, nil, "dsseRequestV002.verifiers", "no verifiers"},
		{"dsse 11 verifiers", func(t *testing.T) *CreateEntryRequest {
			req, ds := dsse(t, p256)
			for range 10 {
				ds.Verifiers = append(ds.Verifiers, ds.Verifiers[0])
			}
			return req
		}, nil, "dsseRequestV002.verifiers", "11 verifiers, at most 10 are allowed"},
		{"dsse no signatures", func(t *testing.T) *CreateEntryRequest {
			req, ds := dsse(t, p256)
			ds.Envelope.Signatures = nil
			return req
		}, nil, "dsseRequestV002.envelope.signatures", "envelope has no signatures"},
		{"dsse 11 signatures", func(t *testing.T) *CreateEntryRequest {
			req, ds := dsse(t, p256)
			pae := format.PAE(ds.Envelope.PayloadType, ds.Envelope.Payload)
			for range 10 {
				ds.Envelope.Signatures = append(ds.Envelope.Signatures, &protodsse.Signature{Sig: p256.signMessage(t, pae)})
			}
			return req
		}, nil, "dsseRequestV002.envelope.signatures", "11 signatures, at most 10 are allowed"},
		{"dsse empty signature", func(t *testing.T) *CreateEntryRequest {
			req, ds := dsse(t, p256, rsa2048)
			ds.Envelope.Signatures[1].Sig = nil
			return req
		}, nil, "dsseRequestV002.envelope.signatures[1].sig", "empty signature"},
		{"dsse bad verifier", func(t *testing.T) *CreateEntryRequest {
			req, ds := dsse(t, p256, rsa2048)
			ds.Verifiers[1].KeyDetails = protocommon.PublicKeyDetails_PKIX_RSA_PKCS1V15_4096_SHA256
			return req
		}, nil, "dsseRequestV002.verifiers[1].keyDetails", "does not match the RSA 2048-bit key"},
		{"dsse Ed25519 prehash", func(t *testing.T) *CreateEntryRequest {
			req, _ := dsse(t, ed)
			return req
		}, nil, "dsseRequestV002.verifiers[0].keyDetails", "Ed25519 keys must use PKIX_ED25519, not PKIX_ED25519_PH"},
		{"dsse duplicate verifier", func(t *testing.T) *CreateEntryRequest {
			req, ds := dsse(t, p256, rsa2048)
			ds.Verifiers = append(ds.Verifiers, p256.verifier(t, true))
			return req
		}, nil, "dsseRequestV002.verifiers[2]", "same public key as verifiers[0]"},
		{"dsse bad signature", func(t *testing.T) *CreateEntryRequest {
			req, ds := dsse(t, p256, rsa2048)
			ds.Envelope.Payload = []byte("other payload")
			return req
		}, nil, "dsseRequestV002.envelope.signatures[0].sig", "does not verify over the DSSE PAE with any of the 2 verifiers"},
		{"dsse signature over digest", func(t *testing.T) *CreateEntryRequest {
			req, ds := dsse(t, p256)
			// Signing the payload instead of the PAE.
			ds.Envelope.Signatures[0].Sig = p256.signMessage(t, ds.Envelope.Payload)
			return req
		}, nil, "dsseRequestV002.envelope.signatures[0].sig", "does not verify over the DSSE PAE with the verifier's ECDSA P-256 key"},
		{"dsse unused verifier", func(t *testing.T) *CreateEntryRequest {
			req, ds := dsse(t, p256)
			ds.Verifiers = append(ds.Verifiers, rsa2048.verifier(t, false))
			return req
		}, nil, "dsseRequestV002.verifiers[1]", "verifies none of the envelope's signatures"},
		{"dsse verifier signs twice", func(t *testing.T) *CreateEntryRequest {
			req, ds := dsse(t, p256)
			pae := format.PAE(ds.Envelope.PayloadType, ds.Envelope.Payload)
			ds.Envelope.Signatures = append(ds.Envelope.Signatures, &protodsse.Signature{Sig: p256.signMessage(t, pae)})
			return req
		}, nil, "dsseRequestV002.verifiers[0]", "verifies both signatures[0] and signatures[1]"},
		{"dsse algorithm not allowed", func(t *testing.T) *CreateEntryRequest {
			req, _ := dsse(t, dsseKey(ed))
			return req
		}, &Options{AllowedAlgorithms: []protocommon.PublicKeyDetails{protocommon.PublicKeyDetails_PKIX_ED25519_PH}},
			"dsseRequestV002.verifiers[0].keyDetails", "PKIX_ED25519 is not allowed by this log"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			opts := DefaultOptions()
			if tt.opts != nil {
				opts = *tt.opts
			}
			e, err := Canonicalize(tt.req(t), opts)
			if err == nil {
				t.Fatalf("accepted: %s", e.Canonical)
			}
			t.Log(err)
			var ie *InputError
			if !errors.As(err, &ie) {
				t.Fatalf("error %v is not an *InputError", err)
			}
			if ie.Field != tt.wantField {
				t.Errorf("Field = %q, want %q", ie.Field, tt.wantField)
			}
			if !strings.Contains(err.Error(), tt.wantMsg) {
				t.Errorf("error %q does not contain %q", err, tt.wantMsg)
			}
		})
	}
}

package interop

//lint:file-ignore SA1019 DSSE v0.0.2 is deprecated in rekor-tiles but still sent by cosign v3.0.x (sigstore-go v1.1.x); Hallmark accepts it.

// Cross-checks of tlog/rekorv2 against Sigstore's own code: rekor-tiles
// v2.3.0 (hashedrekord validation and leaf, note key hashes, Go write
// client, log-entry verification) and sigstore-go v1.3.0 (signing against a
// Rekor v2 URL, bundle parsing, and the v2 leaf reconstruction inside
// verify.VerifyTlogEntry). The real clients run against a small in-memory
// log (v2Log, rekorv2clients_test.go) that puts rekorv2 behind the Rekor v2
// HTTP route the way Hallmark's API does.

import (
	"bytes"
	"context"
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
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/big"
	mrand "math/rand/v2"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cyberphone/json-canonicalization/go/src/webpki.org/jsoncanonicalizer"
	ssldsse "github.com/secure-systems-lab/go-securesystemslib/dsse"
	protocommon "github.com/sigstore/protobuf-specs/gen/pb-go/common/v1"
	protodsse "github.com/sigstore/protobuf-specs/gen/pb-go/dsse"
	protorekor "github.com/sigstore/protobuf-specs/gen/pb-go/rekor/v1"
	rekortilespb "github.com/sigstore/rekor-tiles/v2/pkg/generated/protobuf"
	rtnote "github.com/sigstore/rekor-tiles/v2/pkg/note"
	"github.com/sigstore/rekor-tiles/v2/pkg/types/hashedrekord"
	rtverify "github.com/sigstore/rekor-tiles/v2/pkg/verify"
	"github.com/sigstore/sigstore-go/pkg/verify"
	"github.com/sigstore/sigstore/pkg/signature"
	sigdsse "github.com/sigstore/sigstore/pkg/signature/dsse"
	"github.com/sigstore/sigstore/pkg/signature/options"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	"github.com/hallmark-dev/hallmark/tlog/rekorv2"
)

// rekorTilesDefaultAlgorithms is rekor-tiles v2.3.0's
// internal/algorithmregistry.AllowedClientSigningAlgorithms.
var rekorTilesDefaultAlgorithms = []protocommon.PublicKeyDetails{
	protocommon.PublicKeyDetails_PKIX_RSA_PKCS1V15_2048_SHA256,
	protocommon.PublicKeyDetails_PKIX_RSA_PKCS1V15_3072_SHA256,
	protocommon.PublicKeyDetails_PKIX_RSA_PKCS1V15_4096_SHA256,
	protocommon.PublicKeyDetails_PKIX_ECDSA_P256_SHA_256,
	protocommon.PublicKeyDetails_PKIX_ECDSA_P384_SHA_384,
	protocommon.PublicKeyDetails_PKIX_ECDSA_P521_SHA_512,
	protocommon.PublicKeyDetails_PKIX_ED25519,
	protocommon.PublicKeyDetails_PKIX_ED25519_PH,
}

// clientAlgorithms are the keyDetails sigstore-go sends for hashedrekord.
var clientAlgorithms = []protocommon.PublicKeyDetails{
	protocommon.PublicKeyDetails_PKIX_ECDSA_P256_SHA_256,
	protocommon.PublicKeyDetails_PKIX_ECDSA_P384_SHA_384,
	protocommon.PublicKeyDetails_PKIX_ECDSA_P521_SHA_512,
	protocommon.PublicKeyDetails_PKIX_RSA_PKCS1V15_2048_SHA256,
	protocommon.PublicKeyDetails_PKIX_RSA_PKCS1V15_3072_SHA256,
	protocommon.PublicKeyDetails_PKIX_RSA_PKCS1V15_4096_SHA256,
	protocommon.PublicKeyDetails_PKIX_ED25519_PH,
}

func rekorTilesRegistry(t testing.TB) *signature.AlgorithmRegistryConfig {
	t.Helper()
	reg, err := signature.NewAlgorithmRegistryConfig(rekorTilesDefaultAlgorithms)
	if err != nil {
		t.Fatal(err)
	}
	return reg
}

// rekorTilesLeaf is what rekor-tiles v2.3.0's CreateEntry stores for a
// hashedrekord request: ToLogEntry, protojson, then cyberphone's JCS (an
// implementation independent of the gowebpki one rekorv2 uses). A panic in
// ToLogEntry (PKIX_ED25519 makes v2.3.0 call Size on hash 0) is a rejection.
func rekorTilesLeaf(hr *rekortilespb.HashedRekordRequestV002, reg *signature.AlgorithmRegistryConfig) (leaf []byte, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("rekor-tiles panicked: %v", r)
		}
	}()
	entry, err := hashedrekord.ToLogEntry(hr, reg)
	if err != nil {
		return nil, err
	}
	js, err := protojson.Marshal(entry)
	if err != nil {
		return nil, err
	}
	return jsoncanonicalizer.Transform(js)
}

// keySource hands out signing keys: fresh ECDSA and Ed25519 keys every time,
// and one of a few pre-generated RSA keys per size (RSA generation is slow).
type keySource struct {
	mu  sync.Mutex
	rsa map[int][]*rsa.PrivateKey
}

func (ks *keySource) key(t testing.TB, details protocommon.PublicKeyDetails, r *mrand.Rand) crypto.Signer {
	t.Helper()
	var err error
	var k crypto.Signer
	switch details {
	case protocommon.PublicKeyDetails_PKIX_ECDSA_P256_SHA_256:
		k, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	case protocommon.PublicKeyDetails_PKIX_ECDSA_P384_SHA_384:
		k, err = ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	case protocommon.PublicKeyDetails_PKIX_ECDSA_P521_SHA_512:
		k, err = ecdsa.GenerateKey(elliptic.P521(), rand.Reader)
	case protocommon.PublicKeyDetails_PKIX_ED25519_PH, protocommon.PublicKeyDetails_PKIX_ED25519:
		_, k, err = ed25519.GenerateKey(rand.Reader)
	default:
		bits := map[protocommon.PublicKeyDetails]int{
			protocommon.PublicKeyDetails_PKIX_RSA_PKCS1V15_2048_SHA256: 2048,
			protocommon.PublicKeyDetails_PKIX_RSA_PKCS1V15_3072_SHA256: 3072,
			protocommon.PublicKeyDetails_PKIX_RSA_PKCS1V15_4096_SHA256: 4096,
		}[details]
		if bits == 0 {
			t.Fatalf("no key for %s", details)
		}
		ks.mu.Lock()
		defer ks.mu.Unlock()
		if ks.rsa == nil {
			ks.rsa = map[int][]*rsa.PrivateKey{}
		}
		if len(ks.rsa[bits]) < 2 {
			rk, err := rsa.GenerateKey(rand.Reader, bits)
			if err != nil {
				t.Fatal(err)
			}
			ks.rsa[bits] = append(ks.rsa[bits], rk)
			return rk
		}
		return ks.rsa[bits][r.IntN(len(ks.rsa[bits]))]
	}
	if err != nil {
		t.Fatal(err)
	}
	return k
}

var keys keySource

func hashOf(details protocommon.PublicKeyDetails) crypto.Hash {
	switch details {
	case protocommon.PublicKeyDetails_PKIX_ECDSA_P384_SHA_384:
		return crypto.SHA384
	case protocommon.PublicKeyDetails_PKIX_ECDSA_P521_SHA_512, protocommon.PublicKeyDetails_PKIX_ED25519_PH:
		return crypto.SHA512
	case protocommon.PublicKeyDetails_PKIX_ED25519:
		return 0
	}
	return crypto.SHA256
}

// signDigestV2 signs a prehashed digest; Ed25519 keys produce Ed25519ph.
func signDigestV2(t testing.TB, k crypto.Signer, h crypto.Hash, digest []byte) []byte {
	t.Helper()
	var opts crypto.SignerOpts = h
	if _, ok := k.(ed25519.PrivateKey); ok {
		opts = &ed25519.Options{Hash: crypto.SHA512}
	}
	sig, err := k.Sign(rand.Reader, digest, opts)
	if err != nil {
		t.Fatal(err)
	}
	return sig
}

// randomCert issues a certificate for pub from a throwaway CA, with random
// subject, serial, validity and SANs, like a Fulcio leaf would vary.
func randomCert(t testing.TB, pub crypto.PublicKey, r *mrand.Rand) []byte {
	t.Helper()
	der, err := issueCert(pub, r)
	if err != nil {
		t.Fatal(err)
	}
	return der
}

func issueCert(pub crypto.PublicKey, r *mrand.Rand) ([]byte, error) {
	ca, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	if err != nil {
		return nil, err
	}
	notBefore := time.Unix(1600000000+r.Int64N(200000000), 0).UTC()
	tmpl := &x509.Certificate{
		SerialNumber:   new(big.Int).SetUint64(r.Uint64()),
		Subject:        pkix.Name{Organization: []string{fmt.Sprintf("org-%d", r.IntN(1000))}},
		NotBefore:      notBefore,
		NotAfter:       notBefore.Add(10 * time.Minute),
		KeyUsage:       x509.KeyUsageDigitalSignature,
		ExtKeyUsage:    []x509.ExtKeyUsage{x509.ExtKeyUsageCodeSigning},
		EmailAddresses: []string{fmt.Sprintf("signer%d@example.com", r.IntN(1000))},
	}
	parent := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "interop CA"}}
	return x509.CreateCertificate(rand.Reader, tmpl, parent, pub, ca)
}

func protoClone[M proto.Message](m M) M { return proto.Clone(m).(M) }

// randomHashedRekord builds a valid hashedrekord request the way sigstore-go
// does: keyDetails from the key, raw SPKI or certificate DER.
func randomHashedRekord(t testing.TB, details protocommon.PublicKeyDetails, asCert bool, r *mrand.Rand) (*rekortilespb.HashedRekordRequestV002, crypto.Signer) {
	t.Helper()
	k := keys.key(t, details, r)
	msg := make([]byte, r.IntN(4096))
	for i := range msg {
		msg[i] = byte(r.Uint32())
	}
	h := hashOf(details).New()
	h.Write(msg)
	digest := h.Sum(nil)
	v := &rekortilespb.Verifier{KeyDetails: details}
	if asCert {
		v.Verifier = &rekortilespb.Verifier_X509Certificate{X509Certificate: &protocommon.X509Certificate{RawBytes: randomCert(t, k.Public(), r)}}
	} else {
		der, err := x509.MarshalPKIXPublicKey(k.Public())
		if err != nil {
			t.Fatal(err)
		}
		v.Verifier = &rekortilespb.Verifier_PublicKey{PublicKey: &rekortilespb.PublicKey{RawBytes: der}}
	}
	return &rekortilespb.HashedRekordRequestV002{
		Digest:    digest,
		Signature: &rekortilespb.Signature{Content: signDigestV2(t, k, hashOf(details), digest), Verifier: v},
	}, k
}

func hashedRekordRequest(hr *rekortilespb.HashedRekordRequestV002) *rekorv2.CreateEntryRequest {
	return &rekorv2.CreateEntryRequest{Spec: &rekortilespb.CreateEntryRequest_HashedRekordRequestV002{HashedRekordRequestV002: hr}}
}

func TestDefaultOptionsAreRekorTilesDefaults(t *testing.T) {
	got := slices.Clone(rekorv2.DefaultOptions().AllowedAlgorithms)
	want := slices.Clone(rekorTilesDefaultAlgorithms)
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("DefaultOptions = %v, rekor-tiles v2.3.0 allows %v", got, want)
	}
}

// TestHashedRekordLeafParity: over random keys, certificates and messages,
// the leaf equals rekor-tiles' and its hash equals what a verifier computes
// from the bundle alone: directly (sigstore-go's reconstruction, keyDetails
// derived from the key with Ed25519ph, then rekor-tiles'
// hashedrekord.ToEntryHash), and through sigstore-go's exported
// verify.VerifyTlogEntry on a bundle holding the entry.
func TestHashedRekordLeafParity(t *testing.T) {
	const perCase = 20
	reg := rekorTilesRegistry(t)
	r := mrand.New(mrand.NewPCG(1, 2))
	_, logKey, _ := ed25519.GenerateKey(rand.Reader)
	l := newV2Log(t, "rekor-v2.hallmark.test", logKey)
	tr := newTrust(l)
	for _, details := range clientAlgorithms {
		for _, asCert := range []bool{false, true} {
			for range perCase {
				hr, k := randomHashedRekord(t, details, asCert, r)
				ours, err := rekorv2.Canonicalize(hashedRekordRequest(hr), rekorv2.DefaultOptions())
				if err != nil {
					t.Fatalf("%s (cert %v): rekorv2 rejected a valid request: %v", details, asCert, err)
				}
				theirs, err := rekorTilesLeaf(hr, reg)
				if err != nil {
					t.Fatalf("%s (cert %v): rekor-tiles rejected it: %v", details, asCert, err)
				}
				if !bytes.Equal(ours.Canonical, theirs) {
					t.Fatalf("%s (cert %v): leaf differs\nrekorv2:     %s\nrekor-tiles: %s", details, asCert, ours.Canonical, theirs)
				}

				algDetails, err := signature.GetDefaultAlgorithmDetails(k.Public(), options.WithED25519ph())
				if err != nil {
					t.Fatal(err)
				}
				rebuilt := &rekortilespb.Verifier{KeyDetails: algDetails.GetSignatureAlgorithm()}
				if asCert {
					cert, err := x509.ParseCertificate(hr.Signature.Verifier.GetX509Certificate().RawBytes)
					if err != nil {
						t.Fatal(err)
					}
					rebuilt.Verifier = &rekortilespb.Verifier_X509Certificate{X509Certificate: &protocommon.X509Certificate{RawBytes: cert.Raw}}
				} else {
					der, err := x509.MarshalPKIXPublicKey(k.Public())
					if err != nil {
						t.Fatal(err)
					}
					rebuilt.Verifier = &rekortilespb.Verifier_PublicKey{PublicKey: &rekortilespb.PublicKey{RawBytes: der}}
				}
				want, err := hashedrekord.ToEntryHash(hr.Digest, &rekortilespb.Signature{Content: hr.Signature.Content, Verifier: rebuilt})
				if err != nil {
					t.Fatal(err)
				}
				if got := ours.LeafHash(); !bytes.Equal(got[:], want) {
					t.Fatalf("%s (cert %v): leaf hash %x, verifier reconstructs %x", details, asCert, got, want)
				}

				// The same through sigstore-go's exported verifier: log the
				// entry, bundle it with the signature, verify.
				tle, err := l.add(ours)
				if err != nil {
					t.Fatal(err)
				}
				b := signatureBundle(t, tr, hr, details, k.Public(), tle)
				if _, err := verify.VerifyTlogEntry(b, tr, 1, false); err != nil {
					t.Fatalf("%s (cert %v): sigstore-go rejects the entry: %v", details, asCert, err)
				}
			}
		}
	}
}

// TestHashedRekordAcceptsSubsetOfRekorTiles mutates valid requests and checks
// that whatever rekorv2 accepts, rekor-tiles accepts with the same leaf, and
// that the only requests rekor-tiles accepts and rekorv2 rejects are
// keyDetails that do not describe the key (which sigstore-go, deriving
// keyDetails from the key, could never verify).
func TestHashedRekordAcceptsSubsetOfRekorTiles(t *testing.T) {
	reg := rekorTilesRegistry(t)
	r := mrand.New(mrand.NewPCG(3, 4))
	var stricter, bothAccept, bothReject int
	check := func(name string, hr *rekortilespb.HashedRekordRequestV002) {
		t.Helper()
		ours, errOurs := rekorv2.Canonicalize(hashedRekordRequest(hr), rekorv2.DefaultOptions())
		theirs, errTheirs := rekorTilesLeaf(hr, reg)
		switch {
		case errOurs == nil && errTheirs != nil:
			t.Errorf("%s: rekorv2 accepts what rekor-tiles rejects (%v)", name, errTheirs)
		case errOurs == nil:
			bothAccept++
			if !bytes.Equal(ours.Canonical, theirs) {
				t.Errorf("%s: leaf differs\nrekorv2:     %s\nrekor-tiles: %s", name, ours.Canonical, theirs)
			}
		case errTheirs == nil:
			stricter++
			var ie *rekorv2.InputError
			if !errors.As(errOurs, &ie) || !strings.HasSuffix(ie.Field, ".keyDetails") {
				t.Errorf("%s: rekor-tiles accepts, rekorv2 rejects for a reason other than keyDetails: %v", name, errOurs)
			}
		default:
			bothReject++
			var ie *rekorv2.InputError
			if !errors.As(errOurs, &ie) {
				t.Errorf("%s: rejection is not an *InputError: %v", name, errOurs)
			}
		}
	}

	var pool []*rekortilespb.HashedRekordRequestV002
	for _, details := range clientAlgorithms {
		for _, asCert := range []bool{false, true} {
			hr, _ := randomHashedRekord(t, details, asCert, r)
			pool = append(pool, hr)
		}
	}
	clone := protoClone[*rekortilespb.HashedRekordRequestV002]
	for i, base := range pool {
		name := fmt.Sprintf("request %d (%s)", i, base.Signature.Verifier.KeyDetails)
		check(name, base)
		for d := range protocommon.PublicKeyDetails_name {
			hr := clone(base)
			hr.Signature.Verifier.KeyDetails = protocommon.PublicKeyDetails(d)
			check(fmt.Sprintf("%s with keyDetails %s", name, hr.Signature.Verifier.KeyDetails), hr)
		}
		for _, n := range []int{0, 1, 20, 31, 33, 47, 48, 49, 63, 64, 65} {
			hr := clone(base)
			hr.Digest = append(bytes.Clone(hr.Digest), make([]byte, 64)...)[:n]
			check(fmt.Sprintf("%s with a %d-byte digest", name, n), hr)
		}
		for range 4 {
			hr := clone(base)
			hr.Digest[r.IntN(len(hr.Digest))] ^= 1 << r.IntN(8)
			check(name+" with a modified digest", hr)
			hr = clone(base)
			hr.Signature.Content[r.IntN(len(hr.Signature.Content))] ^= 1 << r.IntN(8)
			check(name+" with a modified signature", hr)
			hr = clone(base)
			hr.Signature.Content = hr.Signature.Content[:r.IntN(len(hr.Signature.Content))]
			check(name+" with a truncated signature", hr)
			hr = clone(base)
			hr.Signature.Verifier = protoClone(pool[r.IntN(len(pool))]).Signature.Verifier
			check(name+" with another verifier", hr)
			hr = clone(base)
			if pk := hr.Signature.Verifier.GetPublicKey(); pk != nil {
				pk.RawBytes[r.IntN(len(pk.RawBytes))] ^= 1 << r.IntN(8)
			} else {
				c := hr.Signature.Verifier.GetX509Certificate()
				c.RawBytes[r.IntN(len(c.RawBytes))] ^= 1 << r.IntN(8)
			}
			check(name+" with a modified key or certificate", hr)
		}
	}
	t.Logf("both accept %d, both reject %d, only rekor-tiles accepts (keyDetails mismatch) %d", bothAccept, bothReject, stricter)
	if bothAccept < len(pool) || bothReject == 0 {
		t.Error("mutation test exercised too little")
	}
}

// TestKeyHashMatchesRekorTilesNote compares log identities with rekor-tiles'
// pkg/note for every key type it supports.
func TestKeyHashMatchesRekorTilesNote(t *testing.T) {
	r := mrand.New(mrand.NewPCG(9, 10))
	var pubs []crypto.PublicKey
	for _, c := range []elliptic.Curve{elliptic.P256(), elliptic.P384(), elliptic.P521()} {
		k, _ := ecdsa.GenerateKey(c, rand.Reader)
		pubs = append(pubs, k.Public())
	}
	for range 3 {
		pub, _, _ := ed25519.GenerateKey(rand.Reader)
		pubs = append(pubs, pub)
	}
	pubs = append(pubs, keys.key(t, protocommon.PublicKeyDetails_PKIX_RSA_PKCS1V15_2048_SHA256, r).Public())
	for _, pub := range pubs {
		for _, origin := range []string{"rekor.example.com", "log2026-1.rekor.hallmark.test", fmt.Sprintf("h%d.example", r.IntN(1e6))} {
			got, err := rekorv2.KeyHash(origin, pub)
			if err != nil {
				t.Fatal(err)
			}
			id, want, err := rtnote.KeyHash(origin, pub)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got[:], want) || binary.BigEndian.Uint32(got[:4]) != id {
				t.Errorf("%T origin %s: KeyHash %x, rekor-tiles %x (%08x)", pub, origin, got, want, id)
			}
		}
	}
}

// rekorTilesV221DSSE is an oracle for rekor-tiles v2.2.1's dsse.ToLogEntry,
// the last release that accepted DSSE, written against the libraries it
// used (sigstore signature verifiers, go-securesystemslib's envelope
// verifier). Verifiers are tried in request order instead of v2.2.1's map
// order; for the one-to-one requests rekorv2 accepts, order does not matter.
func rekorTilesV221DSSE(ds *rekortilespb.DSSERequestV002, reg *signature.AlgorithmRegistryConfig) (*rekortilespb.Entry, error) {
	env := &ssldsse.Envelope{PayloadType: ds.Envelope.PayloadType, Payload: base64.StdEncoding.EncodeToString(ds.Envelope.Payload)}
	remaining := map[string]bool{}
	for _, s := range ds.Envelope.Signatures {
		b := base64.StdEncoding.EncodeToString(s.Sig)
		env.Signatures = append(env.Signatures, ssldsse.Signature{KeyID: s.Keyid, Sig: b})
		remaining[b] = true
	}
	signers := map[string]*rekortilespb.Verifier{}
	for _, v := range ds.Verifiers {
		if len(remaining) == 0 {
			break
		}
		var pub crypto.PublicKey
		var err error
		if pk := v.GetPublicKey(); pk != nil {
			pub, err = x509.ParsePKIXPublicKey(pk.RawBytes)
		} else {
			var c *x509.Certificate
			c, err = x509.ParseCertificate(v.GetX509Certificate().GetRawBytes())
			if c != nil {
				pub = c.PublicKey
			}
		}
		if err != nil {
			return nil, err
		}
		algDetails, err := signature.GetAlgorithmDetails(v.KeyDetails)
		if err != nil {
			return nil, err
		}
		if ok, err := reg.IsAlgorithmPermitted(pub, algDetails.GetHashType()); err != nil || !ok {
			return nil, fmt.Errorf("algorithm not permitted (%v)", err)
		}
		sv, err := signature.LoadVerifier(pub, algDetails.GetHashType())
		if err != nil {
			return nil, err
		}
		ev, err := ssldsse.NewEnvelopeVerifier(&sigdsse.VerifierAdapter{SignatureVerifier: sv})
		if err != nil {
			return nil, err
		}
		accepted, err := ev.Verify(context.Background(), env)
		if err != nil {
			return nil, err
		}
		for _, a := range accepted {
			delete(remaining, a.Sig.Sig)
			raw, _ := base64.StdEncoding.DecodeString(a.Sig.Sig)
			signers[string(raw)] = v
		}
	}
	if len(remaining) > 0 {
		return nil, errors.New("all signatures must have a key that verifies it")
	}
	sigs := slices.Sorted(func(yield func(string) bool) {
		for s := range signers {
			if !yield(s) {
				return
			}
		}
	})
	var logged []*rekortilespb.Signature
	for _, s := range sigs {
		logged = append(logged, &rekortilespb.Signature{Content: []byte(s), Verifier: signers[s]})
	}
	ph := sha256.Sum256(ds.Envelope.Payload)
	return &rekortilespb.Entry{
		Kind:       "dsse",
		ApiVersion: "0.0.2",
		Spec: &rekortilespb.Spec{Spec: &rekortilespb.Spec_DsseV002{DsseV002: &rekortilespb.DSSELogEntryV002{
			PayloadHash: &protocommon.HashOutput{Algorithm: protocommon.HashAlgorithm_SHA2_256, Digest: ph[:]},
			Signatures:  logged,
		}}},
	}, nil
}

// randomDSSE builds a dsse request as sigstore-go v1.1.x (cosign v3.0.x)
// sends it, with 1–4 signers of random algorithms (pure Ed25519 for DSSE).
func randomDSSE(t testing.TB, r *mrand.Rand) *rekortilespb.DSSERequestV002 {
	t.Helper()
	payload := make([]byte, r.IntN(2048))
	for i := range payload {
		payload[i] = byte(r.Uint32())
	}
	payloadType := "application/vnd.in-toto+json"
	pae := ssldsse.PAE(payloadType, payload)
	ds := &rekortilespb.DSSERequestV002{Envelope: &protodsse.Envelope{Payload: payload, PayloadType: payloadType}}
	algs := append(slices.Clone(clientAlgorithms[:6]), protocommon.PublicKeyDetails_PKIX_ED25519)
	used := map[protocommon.PublicKeyDetails]bool{}
	for range 1 + r.IntN(4) {
		alg := algs[r.IntN(len(algs))]
		if used[alg] { // one key per algorithm keeps the verifiers distinct
			continue
		}
		used[alg] = true
		k := keys.key(t, alg, r)
		var sig []byte
		var err error
		if h := hashOf(alg); h == 0 {
			sig, err = k.Sign(rand.Reader, pae, crypto.Hash(0))
		} else {
			d := h.New()
			d.Write(pae)
			sig, err = k.Sign(rand.Reader, d.Sum(nil), h)
		}
		if err != nil {
			t.Fatal(err)
		}
		ds.Envelope.Signatures = append(ds.Envelope.Signatures, &protodsse.Signature{Sig: sig, Keyid: fmt.Sprint(r.IntN(3))})
		v := &rekortilespb.Verifier{KeyDetails: alg}
		if r.IntN(2) == 0 {
			v.Verifier = &rekortilespb.Verifier_X509Certificate{X509Certificate: &protocommon.X509Certificate{RawBytes: randomCert(t, k.Public(), r)}}
		} else {
			der, _ := x509.MarshalPKIXPublicKey(k.Public())
			v.Verifier = &rekortilespb.Verifier_PublicKey{PublicKey: &rekortilespb.PublicKey{RawBytes: der}}
		}
		ds.Verifiers = append(ds.Verifiers, v)
	}
	r.Shuffle(len(ds.Verifiers), func(i, j int) { ds.Verifiers[i], ds.Verifiers[j] = ds.Verifiers[j], ds.Verifiers[i] })
	return ds
}

// TestDSSEParityWithRekorTilesV221 checks dsse leaves against the v2.2.1
// oracle, and that the HTTP path serves entries that verify the way
// sigstore-go v1.1.x (cosign v3.0.x) checks them: by hashing the returned
// canonicalizedBody (rekor-tiles verify.VerifyLogEntry).
func TestDSSEParityWithRekorTilesV221(t *testing.T) {
	reg := rekorTilesRegistry(t)
	r := mrand.New(mrand.NewPCG(11, 12))
	_, logKey, _ := ed25519.GenerateKey(rand.Reader)
	l := newV2Log(t, "rekor-v2.hallmark.test", logKey)
	srv := httptest.NewServer(l)
	defer srv.Close()

	for i := range 60 {
		ds := randomDSSE(t, r)
		req := &rekorv2.CreateEntryRequest{Spec: &rekortilespb.CreateEntryRequest_DsseRequestV002{DsseRequestV002: ds}}
		ours, err := rekorv2.Canonicalize(req, rekorv2.DefaultOptions())
		if err != nil {
			t.Fatalf("request %d: rekorv2 rejects: %v", i, err)
		}
		entry, err := rekorTilesV221DSSE(ds, reg)
		if err != nil {
			t.Fatalf("request %d: v2.2.1 oracle rejects: %v", i, err)
		}
		js, err := protojson.Marshal(entry)
		if err != nil {
			t.Fatal(err)
		}
		want, err := jsoncanonicalizer.Transform(js)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(ours.Canonical, want) {
			t.Fatalf("request %d: leaf differs\nrekorv2: %s\nv2.2.1:  %s", i, ours.Canonical, want)
		}

		if i%6 != 0 {
			continue
		}
		body, err := protojson.Marshal(req)
		if err != nil {
			t.Fatal(err)
		}
		resp, err := http.Post(srv.URL+"/api/v2/log/entries", "application/json", bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		out, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusCreated {
			t.Fatalf("request %d: HTTP %d: %s", i, resp.StatusCode, out)
		}
		var tle protorekor.TransparencyLogEntry
		if err := protojson.Unmarshal(out, &tle); err != nil {
			t.Fatal(err)
		}
		if tle.GetKindVersion().GetKind() != "dsse" || !bytes.Equal(tle.CanonicalizedBody, want) {
			t.Fatalf("request %d: served kind %v, body %s", i, tle.GetKindVersion(), tle.CanonicalizedBody)
		}
		if err := rtverify.VerifyLogEntry(&tle, l.noteVerifier(t)); err != nil {
			t.Fatalf("request %d: %v", i, err)
		}
	}
}

package rekorv2

//lint:file-ignore SA1019 DSSE v0.0.2 is deprecated in rekor-tiles but still sent by cosign v3.0.x (sigstore-go v1.1.x); Hallmark accepts it.

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"sync"
	"testing"
	"time"

	protocommon "github.com/sigstore/protobuf-specs/gen/pb-go/common/v1"
	protodsse "github.com/sigstore/protobuf-specs/gen/pb-go/dsse"
	rekortilespb "github.com/sigstore/rekor-tiles/v2/pkg/generated/protobuf"

	"github.com/hallmark-dev/hallmark/tlog/format"
)

// testKey is a signing key and the keyDetails a client would send with it.
type testKey struct {
	name    string
	details protocommon.PublicKeyDetails
	signer  crypto.Signer
}

// hash is the digest algorithm of the key's hashedrekord entries.
func (k testKey) hash() crypto.Hash {
	a, _ := lookupAlgorithm(k.details)
	return a.hash
}

func (k testKey) digest(msg []byte) []byte {
	h := k.hash().New()
	h.Write(msg)
	return h.Sum(nil)
}

// signDigest signs a hashedrekord digest (Ed25519ph for Ed25519 keys).
func (k testKey) signDigest(t testing.TB, digest []byte) []byte {
	t.Helper()
	var opts crypto.SignerOpts = k.hash()
	if _, ok := k.signer.(ed25519.PrivateKey); ok {
		opts = &ed25519.Options{Hash: crypto.SHA512}
	}
	sig, err := k.signer.Sign(rand.Reader, digest, opts)
	if err != nil {
		t.Fatal(err)
	}
	return sig
}

// signMessage signs a whole message the way DSSE signers do (pure Ed25519).
func (k testKey) signMessage(t testing.TB, msg []byte) []byte {
	t.Helper()
	if _, ok := k.signer.(ed25519.PrivateKey); ok {
		sig, err := k.signer.Sign(nil, msg, crypto.Hash(0))
		if err != nil {
			t.Fatal(err)
		}
		return sig
	}
	return k.signDigest(t, k.digest(msg))
}

func (k testKey) spki(t testing.TB) []byte {
	t.Helper()
	der, err := x509.MarshalPKIXPublicKey(k.signer.Public())
	if err != nil {
		t.Fatal(err)
	}
	return der
}

// cert returns a self-signed certificate for the key.
func (k testKey) cert(t testing.TB) []byte {
	t.Helper()
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "rekorv2 test " + k.name},
		NotBefore:    time.Unix(1700000000, 0),
		NotAfter:     time.Unix(1700000000, 0).Add(time.Hour),
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, k.signer.Public(), k.signer)
	if err != nil {
		t.Fatal(err)
	}
	return der
}

func (k testKey) verifier(t testing.TB, asCert bool) *rekortilespb.Verifier {
	t.Helper()
	v := &rekortilespb.Verifier{KeyDetails: k.details}
	if asCert {
		v.Verifier = &rekortilespb.Verifier_X509Certificate{X509Certificate: &protocommon.X509Certificate{RawBytes: k.cert(t)}}
	} else {
		v.Verifier = &rekortilespb.Verifier_PublicKey{PublicKey: &rekortilespb.PublicKey{RawBytes: k.spki(t)}}
	}
	return v
}

// hashedRekordRequest builds a valid hashedrekord request for msg.
func (k testKey) hashedRekordRequest(t testing.TB, msg []byte, asCert bool) *CreateEntryRequest {
	t.Helper()
	digest := k.digest(msg)
	return &CreateEntryRequest{Spec: &rekortilespb.CreateEntryRequest_HashedRekordRequestV002{
		HashedRekordRequestV002: &rekortilespb.HashedRekordRequestV002{
			Digest: digest,
			Signature: &rekortilespb.Signature{
				Content:  k.signDigest(t, digest),
				Verifier: k.verifier(t, asCert),
			},
		},
	}}
}

// dsseRequest builds a dsse request signed by every key, one signature each.
func dsseRequest(t testing.TB, payloadType string, payload []byte, keys ...testKey) *CreateEntryRequest {
	t.Helper()
	pae := format.PAE(payloadType, payload)
	env := &protodsse.Envelope{Payload: payload, PayloadType: payloadType}
	req := &rekortilespb.DSSERequestV002{Envelope: env}
	for _, k := range keys {
		env.Signatures = append(env.Signatures, &protodsse.Signature{Sig: k.signMessage(t, pae), Keyid: k.name})
		req.Verifiers = append(req.Verifiers, k.verifier(t, false))
	}
	return &CreateEntryRequest{Spec: &rekortilespb.CreateEntryRequest_DsseRequestV002{DsseRequestV002: req}}
}

// dsseKey returns the key with the keyDetails a DSSE client sends for it
// (pure Ed25519 rather than Ed25519ph).
func dsseKey(k testKey) testKey {
	if k.details == protocommon.PublicKeyDetails_PKIX_ED25519_PH {
		k.details = protocommon.PublicKeyDetails_PKIX_ED25519
	}
	return k
}

// testKeys returns one key per hashedrekord algorithm, generated once.
var testKeys = sync.OnceValue(func() []testKey {
	mustRSA := func(bits int) crypto.Signer {
		k, err := rsa.GenerateKey(rand.Reader, bits)
		if err != nil {
			panic(err)
		}
		return k
	}
	mustEC := func(c elliptic.Curve) crypto.Signer {
		k, err := ecdsa.GenerateKey(c, rand.Reader)
		if err != nil {
			panic(err)
		}
		return k
	}
	// A fixed Ed25519 key keeps the golden test deterministic.
	seed := sha256.Sum256([]byte("hallmark rekorv2 test key"))
	return []testKey{
		{"ecdsa-p256", protocommon.PublicKeyDetails_PKIX_ECDSA_P256_SHA_256, mustEC(elliptic.P256())},
		{"ecdsa-p384", protocommon.PublicKeyDetails_PKIX_ECDSA_P384_SHA_384, mustEC(elliptic.P384())},
		{"ecdsa-p521", protocommon.PublicKeyDetails_PKIX_ECDSA_P521_SHA_512, mustEC(elliptic.P521())},
		{"rsa-2048", protocommon.PublicKeyDetails_PKIX_RSA_PKCS1V15_2048_SHA256, mustRSA(2048)},
		{"rsa-3072", protocommon.PublicKeyDetails_PKIX_RSA_PKCS1V15_3072_SHA256, mustRSA(3072)},
		{"rsa-4096", protocommon.PublicKeyDetails_PKIX_RSA_PKCS1V15_4096_SHA256, mustRSA(4096)},
		{"ed25519ph", protocommon.PublicKeyDetails_PKIX_ED25519_PH, ed25519.NewKeyFromSeed(seed[:])},
	}
})

func testKeyNamed(name string) testKey {
	for _, k := range testKeys() {
		if k.name == name {
			return k
		}
	}
	panic("no test key " + name)
}

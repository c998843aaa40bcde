package rekorv2

import (
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"math/big"
	"net/url"
	"slices"
	"testing"
	"time"

	protocommon "github.com/sigstore/protobuf-specs/gen/pb-go/common/v1"
	rekortilespb "github.com/sigstore/rekor-tiles/v2/pkg/generated/protobuf"

	"github.com/hallmark-dev/hallmark/tlog/rekorv1"
)

// TestIndexKeysMeetV1Queries checks that the keys of Rekor v2 entries are
// the ones Rekor v1 search queries look up: artifact hash, public key (a
// bare key or a certificate, as PEM) and the certificate's email and URI.
func TestIndexKeysMeetV1Queries(t *testing.T) {
	k := testKeys()[0] // ECDSA P-256
	u, _ := url.Parse("https://github.com/acme/widget/.github/workflows/build.yml@refs/heads/main")
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(7), Subject: pkix.Name{CommonName: "signer"},
		NotBefore: time.Unix(1700000000, 0), NotAfter: time.Unix(1700000600, 0),
		EmailAddresses: []string{"Alice@Corp.Example"}, URIs: []*url.URL{u}}
	certDER, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, k.signer.Public(), k.signer)
	if err != nil {
		t.Fatal(err)
	}
	msg := []byte("an artifact")
	withCert := k.hashedRekordRequest(t, msg, false)
	withCert.GetHashedRekordRequestV002().Signature.Verifier = &rekortilespb.Verifier{KeyDetails: k.details,
		Verifier: &rekortilespb.Verifier_X509Certificate{X509Certificate: &protocommon.X509Certificate{RawBytes: certDER}}}
	digest := hex.EncodeToString(k.digest(msg))

	keysOf := func(req *CreateEntryRequest) []string {
		t.Helper()
		e, err := Canonicalize(req, DefaultOptions())
		if err != nil {
			t.Fatal(err)
		}
		keys, err := IndexKeys(e.Canonical)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(keys, e.IndexKeys()) {
			t.Fatalf("Entry.IndexKeys %v, IndexKeys %v", e.IndexKeys(), keys)
		}
		return keys
	}
	finds := func(keys []string, q rekorv1.SearchQuery) bool {
		t.Helper()
		sets, _, err := q.Keys()
		if err != nil {
			t.Fatal(err)
		}
		for _, set := range sets {
			if !slices.ContainsFunc(set, func(s string) bool { return slices.Contains(keys, s) }) {
				return false
			}
		}
		return true
	}
	certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: certDER})
	keyPEM := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: k.spki(t)})

	keys := keysOf(withCert)
	for _, q := range []rekorv1.SearchQuery{
		{Hash: digest}, {Hash: "sha256:" + digest},
		{Email: "alice@corp.example"},
		{Subject: u.String()},
		{PublicKey: &rekorv1.SearchPublicKey{Format: "x509", Content: certPEM}},
		{Hash: digest, Email: "alice@corp.example", Operator: "and"},
	} {
		if !finds(keys, q) {
			t.Errorf("keys %v: query %+v finds nothing", keys, q)
		}
	}
	if finds(keys, rekorv1.SearchQuery{Email: "bob@corp.example"}) {
		t.Errorf("another email finds the entry")
	}

	bare := keysOf(k.hashedRekordRequest(t, []byte("another artifact"), false))
	if !finds(bare, rekorv1.SearchQuery{PublicKey: &rekorv1.SearchPublicKey{Format: "x509", Content: keyPEM}}) {
		t.Errorf("keys %v: the public key finds nothing", bare)
	}
	if finds(bare, rekorv1.SearchQuery{Hash: digest}) {
		t.Errorf("another artifact's hash finds the entry")
	}

	dsse := keysOf(dsseRequest(t, "application/vnd.in-toto+json", []byte(`{"_type":"x"}`), dsseKey(k)))
	if len(dsse) < 2 {
		t.Errorf("dsse keys: %v, want the payload hash and the key", dsse)
	}
	if _, err := IndexKeys([]byte(`{"kind":"other"}`)); err == nil {
		t.Error("an entry without a spec has keys")
	}
}

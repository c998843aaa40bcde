package audit

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	prototrustroot "github.com/sigstore/protobuf-specs/gen/pb-go/trustroot/v1"
	"golang.org/x/mod/sumdb/note"
	"google.golang.org/protobuf/proto"

	"github.com/hallmark-dev/hallmark/ca"
	"github.com/hallmark-dev/hallmark/tlog/format"
	"github.com/hallmark-dev/hallmark/tlog/rekorv2"
	"github.com/hallmark-dev/hallmark/trust/clientconfig"
)

// fakeDeployment serves what verify-config reads from each service: a
// CA's trust bundle, a TSA's chain, a Rekor v1 public key, Rekor v2 and
// CT checkpoints and an OIDC discovery document, all from the keys and
// chains in the returned trusted root and signing config.
type fakeDeployment struct {
	srv                     *httptest.Server
	caChain, tsaChain       []byte // PEM served
	v1Key                   []byte // PEM served
	v2Checkpoint, ctCheckpt []byte
	tr                      *prototrustroot.TrustedRoot
	sc                      *prototrustroot.SigningConfig
}

func newFakeDeployment(t *testing.T) *fakeDeployment {
	t.Helper()
	f := &fakeDeployment{}
	mux := http.NewServeMux()
	f.srv = httptest.NewServer(mux)
	t.Cleanup(f.srv.Close)
	base := f.srv.URL
	host := strings.TrimPrefix(base, "http://")
	mux.HandleFunc("GET /ca/api/v2/trustBundle", func(w http.ResponseWriter, r *http.Request) {
		json.NewEncoder(w).Encode(map[string]any{"chains": []any{map[string]any{"certificates": pemBlocks(f.caChain)}}})
	})
	mux.HandleFunc("GET /tsa/certchain", func(w http.ResponseWriter, r *http.Request) { w.Write(f.tsaChain) })
	mux.HandleFunc("GET /v1/api/v1/log/publicKey", func(w http.ResponseWriter, r *http.Request) { w.Write(f.v1Key) })
	mux.HandleFunc("GET /v2/checkpoint", func(w http.ResponseWriter, r *http.Request) { w.Write(f.v2Checkpoint) })
	mux.HandleFunc("GET /ct/checkpoint", func(w http.ResponseWriter, r *http.Request) { w.Write(f.ctCheckpt) })
	mux.HandleFunc("GET /oidc/.well-known/openid-configuration", func(w http.ResponseWriter, r *http.Request) { w.Write([]byte(`{}`)) })

	d, err := ca.NewDeployment(ca.InitOptions{Organization: "Acme"})
	if err != nil {
		t.Fatal(err)
	}
	f.caChain = chainPEM(d.Chain())
	dir := t.TempDir()
	if err := d.WriteFiles(dir, []byte("correct horse battery")); err != nil {
		t.Fatal(err)
	}
	tsaChain, err := ca.InitTSA(dir, []byte("correct horse battery"), ca.TSAInitOptions{})
	if err != nil {
		t.Fatal(err)
	}
	f.tsaChain = chainPEM(tsaChain)

	v1Key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	der, _ := x509.MarshalPKIXPublicKey(&v1Key.PublicKey)
	f.v1Key = pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
	_, v2Key, _ := ed25519.GenerateKey(rand.Reader)
	f.v2Checkpoint = signedNote(t, format.NewNoteSigner, "127.0.0.1", v2Key)
	ctKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	f.ctCheckpt = signedNote(t, format.NewRFC6962NoteSigner, host+"/ct", ctKey)

	start := time.Now().Add(-time.Hour)
	v2ID, err := rekorv2.KeyHash("127.0.0.1", v2Key.Public())
	if err != nil {
		t.Fatal(err)
	}
	tr, err := clientconfig.TrustedRoot(clientconfig.TrustedRootParams{
		Tlogs: []clientconfig.Log{
			{BaseURL: base + "/v1", PublicKey: &v1Key.PublicKey, Start: start},
			{BaseURL: base + "/v2", PublicKey: v2Key.Public(), KeyID: v2ID[:], Start: start},
		},
		CTLogs:                 []clientconfig.Log{{BaseURL: base + "/ct", PublicKey: &ctKey.PublicKey, Start: start}},
		CertificateAuthorities: []clientconfig.Authority{{URI: base + "/ca", Chain: d.Chain(), Start: start}},
		TimestampAuthorities:   []clientconfig.Authority{{URI: base + "/tsa", Chain: tsaChain, Start: start}},
	})
	if err != nil {
		t.Fatal(err)
	}
	sc, err := clientconfig.SigningConfig(clientconfig.SigningConfigParams{
		CAURL: base + "/ca", OIDCURLs: []string{base + "/oidc"}, TSAURLs: []string{base + "/tsa"}, Start: start,
		RekorURLs: []clientconfig.Service{{URL: base + "/v1", APIVersion: 1}, {URL: base + "/v2", APIVersion: 2}},
	})
	if err != nil {
		t.Fatal(err)
	}
	// Through files, as the command reads them.
	trPath, scPath := filepath.Join(dir, "trusted_root.json"), filepath.Join(dir, "signing_config.json")
	os.WriteFile(trPath, tr, 0o644)
	os.WriteFile(scPath, sc, 0o644)
	if f.tr, f.sc, err = ReadClientConfig(trPath, scPath); err != nil {
		t.Fatal(err)
	}
	return f
}

func chainPEM(chain []*x509.Certificate) []byte {
	var b []byte
	for _, c := range chain {
		b = append(b, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})...)
	}
	return b
}

func pemBlocks(b []byte) []string {
	var out []string
	for {
		var blk *pem.Block
		if blk, b = pem.Decode(b); blk == nil {
			return out
		}
		out = append(out, string(pem.EncodeToMemory(blk)))
	}
}

func signedNote(t *testing.T, newSigner func(string, crypto.Signer) (note.Signer, error), name string, key crypto.Signer) []byte {
	t.Helper()
	s, err := newSigner(name, key)
	if err != nil {
		t.Fatal(err)
	}
	msg, err := note.Sign(&note.Note{Text: name + "\n0\n47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=\n"}, s)
	if err != nil {
		t.Fatal(err)
	}
	return msg
}

func (f *fakeDeployment) verify(t *testing.T) map[string]error {
	t.Helper()
	checks := VerifyConfig(context.Background(), f.srv.Client(), f.tr, f.sc)
	m := map[string]error{}
	for _, c := range checks {
		kind, _, _ := strings.Cut(c.What, " http")
		m[kind] = c.Err
	}
	if len(checks) != 6 || len(m) != 6 {
		t.Fatalf("checks: %v", checks)
	}
	return m
}

func TestVerifyConfig(t *testing.T) {
	f := newFakeDeployment(t)
	for what, err := range f.verify(t) {
		if err != nil {
			t.Errorf("%s: %v", what, err)
		}
	}

	// Each service serving something the trusted root does not trust
	// fails its check, and only its own.
	other := newFakeDeployment(t)
	for _, tc := range []struct {
		what   string
		break_ func()
		msg    string
	}{
		{"CA", func() { f.caChain = other.caChain }, "none of the CA's certificates"},
		{"TSA", func() { f.tsaChain = other.tsaChain }, "none of the TSA's certificates"},
		{"Rekor v1", func() { f.v1Key = other.v1Key }, "another public key"},
		{"Rekor v2", func() { f.v2Checkpoint = other.v2Checkpoint }, "does not verify with the trusted key"},
		{"CT log", func() { f.ctCheckpt = other.ctCheckpt }, "does not verify with the trusted key"},
	} {
		t.Run(tc.what, func(t *testing.T) {
			saved := *f
			defer func() { *f = saved }()
			tc.break_()
			for what, err := range f.verify(t) {
				if what == tc.what {
					if err == nil || !strings.Contains(err.Error(), tc.msg) {
						t.Errorf("%s: got %v, want …%s…", what, err, tc.msg)
					}
				} else if err != nil {
					t.Errorf("%s failed too: %v", what, err)
				}
			}
		})
	}

	// A Rekor log the trusted root does not list, and a service that is
	// down.
	t.Run("untrusted log", func(t *testing.T) {
		sc := proto.Clone(f.sc).(*prototrustroot.SigningConfig)
		sc.RekorTlogUrls = append(sc.RekorTlogUrls[:0:0], &prototrustroot.Service{Url: f.srv.URL + "/v3", MajorApiVersion: 2})
		sc.CaUrls = []*prototrustroot.Service{{Url: "http://127.0.0.1:1/ca"}}
		checks := VerifyConfig(context.Background(), f.srv.Client(), f.tr, sc)
		var failed []string
		for _, c := range checks {
			if c.Err != nil {
				failed = append(failed, c.What+": "+c.Err.Error())
			}
		}
		if len(failed) != 2 || !strings.Contains(failed[0], "CA http://127.0.0.1:1/ca") ||
			!strings.Contains(failed[1], "the trusted root has no log with baseUrl "+f.srv.URL+"/v3") {
			t.Fatalf("failed checks: %q", failed)
		}
	})
	if _, _, err := ReadClientConfig(filepath.Join(t.TempDir(), "missing.json"), ""); err == nil {
		t.Fatal("ReadClientConfig of a missing file succeeded")
	}
	bad := filepath.Join(t.TempDir(), "bad.json")
	os.WriteFile(bad, []byte(`{"tlogs": 3}`), 0o644)
	if _, _, err := ReadClientConfig(bad, bad); err == nil || !strings.Contains(err.Error(), bad) {
		t.Fatalf("ReadClientConfig of a malformed file: %v", err)
	}
}

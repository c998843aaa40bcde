package clientconfig

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	prototrustroot "github.com/sigstore/protobuf-specs/gen/pb-go/trustroot/v1"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/hallmark-dev/hallmark/ca"
	"github.com/hallmark-dev/hallmark/tlog/rekorv2"
)

// TestTrustRootRotatedCA: after an intermediate rotation, `hallmark
// trust-root` lists the old chain with end= and the new one, and
// both validity ranges are in it; an end before the start is refused.
func TestTrustRootRotatedCA(t *testing.T) {
	dir := t.TempDir()
	d, err := ca.NewDeployment(ca.InitOptions{Organization: "Acme"})
	if err != nil {
		t.Fatal(err)
	}
	if err := d.WriteFiles(dir, []byte("pw")); err != nil {
		t.Fatal(err)
	}
	old := filepath.Join(dir, ca.ChainFile)
	rot, err := ca.RotateIntermediate(dir, []byte("pw"), d.Chain(), ca.RotateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	raw, err := trustedRootFromSpecs(t, time.Now(), nil,
		"uri=https://ca.example.com,chain="+old+",start=2026-01-01T00:00:00Z,end=2026-06-01T01:00:00Z",
		"uri=https://ca.example.com,chain="+rot.ChainFile+",start=2026-06-01T00:00:00Z")
	if err != nil {
		t.Fatal(err)
	}
	var tr prototrustroot.TrustedRoot
	if err := protojson.Unmarshal(raw, &tr); err != nil {
		t.Fatal(err)
	}
	cas := tr.CertificateAuthorities
	if len(cas) != 2 {
		t.Fatalf("%d CAs", len(cas))
	}
	a, b := cas[0], cas[1]
	if !a.ValidFor.End.AsTime().Equal(time.Date(2026, 6, 1, 1, 0, 0, 0, time.UTC)) || b.ValidFor.End != nil ||
		!bytes.Equal(a.CertChain.Certificates[0].RawBytes, d.Intermediate.Raw) ||
		!bytes.Equal(b.CertChain.Certificates[0].RawBytes, rot.Chain[0].Raw) ||
		!bytes.Equal(a.CertChain.Certificates[1].RawBytes, b.CertChain.Certificates[1].RawBytes) {
		t.Fatalf("CAs:\n%s", raw)
	}
	_, err = trustedRootFromSpecs(t, time.Now(), nil, "uri=u,chain="+old+",start=2026-01-01T00:00:00Z,end=2025-01-01T00:00:00Z")
	if err == nil {
		t.Fatal("an end before the start was accepted")
	}
	if _, err := os.Stat(rot.KeyFile); err != nil {
		t.Fatal(err)
	}
}

// trustedRootFromSpecs builds trusted_root.json as `hallmark trust-root`
// does, from --rekor and --ca specs.
func trustedRootFromSpecs(t *testing.T, start time.Time, rekor []string, cas ...string) ([]byte, error) {
	t.Helper()
	var s TrustedRootSpecs
	s.Start = start
	s.RekorV2KeyID = rekorV2KeyID
	for _, r := range rekor {
		m, err := ParseSpec(r)
		if err != nil {
			t.Fatal(err)
		}
		s.Rekor = append(s.Rekor, m)
	}
	for _, c := range cas {
		m, err := ParseSpec(c)
		if err != nil {
			t.Fatal(err)
		}
		s.CAs = append(s.CAs, m)
	}
	p, err := TrustedRootFromSpecs(s)
	if err != nil {
		return nil, err
	}
	return TrustedRoot(p)
}

func TestParseSpec(t *testing.T) {
	m, err := ParseSpec("url=https://r.example/a=b,api-version=2")
	if err != nil || m["url"] != "https://r.example/a=b" || m["api-version"] != "2" || len(m) != 2 {
		t.Fatalf("ParseSpec: %v, %v", m, err)
	}
	if _, err := ParseSpec("url=x,public-key"); err == nil || !strings.Contains(err.Error(), "key=value") {
		t.Fatalf("a pair without = was accepted: %v", err)
	}
	for in, want := range map[string]uint32{"": 1, "1": 1, "2": 2} {
		if v, err := (Spec{"api-version": in}).APIVersion(); err != nil || v != want {
			t.Errorf("api-version=%q: %d, %v", in, v, err)
		}
	}
	for _, bad := range []string{"0", "3", "v2", "-1"} {
		if _, err := (Spec{"api-version": bad}).APIVersion(); err == nil {
			t.Errorf("api-version=%q accepted", bad)
		}
	}
	if _, err := (Spec{"api-version": "2"}).Service(); err == nil || !strings.Contains(err.Error(), "url=") {
		t.Errorf("a service without url= accepted: %v", err)
	}
	if s, err := (Spec{"url": "https://r", "api-version": "2"}).Service(); err != nil || s != (Service{URL: "https://r", APIVersion: 2}) {
		t.Errorf("Service: %+v, %v", s, err)
	}
}

// TestSpecLogs: Rekor v1 and CT logs are identified by SHA-256 of their
// key, Rekor v2 logs by the note key hash under the URL's host; start=
// overrides the default start; missing fields and unreadable keys name
// the flag at fault.
func TestSpecLogs(t *testing.T) {
	dir := t.TempDir()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, _ := x509.MarshalPKIXPublicKey(&key.PublicKey)
	pubFile := filepath.Join(dir, "log.pub")
	os.WriteFile(pubFile, pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}), 0o600)
	def := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

	v1, err := Spec{"url": "https://rekor.example.com", "public-key": pubFile}.Log(def, nil)
	if err != nil || !v1.Start.Equal(def) || v1.KeyID != nil {
		t.Fatalf("v1 log: %+v, %v", v1, err)
	}
	v2, err := Spec{"url": "https://log2.example.com/v2", "public-key": pubFile, "start": "2026-05-01T00:00:00Z"}.Log(def, rekorV2KeyID)
	if err != nil {
		t.Fatal(err)
	}
	want, _ := rekorv2.KeyHash("log2.example.com", &key.PublicKey)
	if !bytes.Equal(v2.KeyID, want[:]) || !v2.Start.Equal(time.Date(2026, 5, 1, 0, 0, 0, 0, time.UTC)) {
		t.Fatalf("v2 log: %+v", v2)
	}

	for _, tc := range []struct{ spec, flag, msg string }{
		{"url=https://r", "--rekor", "needs url= and public-key="},
		{"url=https://r,public-key=" + filepath.Join(dir, "missing.pub"), "--rekor", "missing.pub"},
		{"url=https://r,public-key=" + pubFile + ",api-version=7", "--rekor", "want 1 or 2"},
		{"url=https://r,public-key=" + pubFile + ",start=yesterday", "--rekor", "start=\"yesterday\""},
	} {
		_, err := trustedRootFromSpecs(t, def, []string{tc.spec})
		if err == nil || !strings.HasPrefix(err.Error(), tc.flag+": ") || !strings.Contains(err.Error(), tc.msg) {
			t.Errorf("%s: got %v, want %s: …%s…", tc.spec, err, tc.flag, tc.msg)
		}
	}
	if _, err := (Spec{"uri": "https://ca"}).Authority(def); err == nil || !strings.Contains(err.Error(), "uri= and chain=") {
		t.Errorf("an authority without chain= accepted: %v", err)
	}
}

func rekorV2KeyID(origin string, pub crypto.PublicKey) ([]byte, error) {
	id, err := rekorv2.KeyHash(origin, pub)
	return id[:], err
}

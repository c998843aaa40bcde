package interop

import (
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sigstore/sigstore-go/pkg/sign"
	"github.com/transparency-dev/merkle/rfc6962"
	"google.golang.org/protobuf/encoding/protojson"
)

// TestVerifyCommand runs `hallmark verify` against hallmark-log's Rekor v1,
// Rekor v2 and tiles logs, by bundle (made by sigstore-go), index, UUID and
// digest, with the right artifact and a wrong one.
func TestVerifyCommand(t *testing.T) {
	p := startLogServer(t, "",
		v1Spec("/v1"),
		logSpec{Name: "v2", Kind: "rekor-v2", Path: "/v2", Extra: "    batch: {max_age: 10ms}\n"},
		logSpec{Name: "tiles", Kind: "tiles", Path: "/tiles", Extra: "    batch: {max_age: 10ms}\n"})
	v1, v2, tl := p.Logs["rekor"], p.Logs["v2"], p.Logs["tiles"]
	dir := t.TempDir()
	tr := writeTrustedRoot(t, dir, []*servedLog{v2}, []*servedLog{v1}, nil)
	artifact := filepath.Join(dir, "artifact")
	os.WriteFile(artifact, []byte("the artifact"), 0o644)
	wrong := filepath.Join(dir, "wrong")
	os.WriteFile(wrong, []byte("another artifact"), 0o644)
	d := sha256.Sum256([]byte("the artifact"))
	digest := "sha256:" + hex.EncodeToString(d[:])

	// Some other entries first, so indices are not all 0.
	signer := newV1Signer(t)
	for i := 0; i < 3; i++ {
		postV1(t, v1.URL, signer.hashedrekord(t, fmt.Appendf(nil, "other %d", i)))
		postV2Entry(t, v2.URL)
	}
	v1Index := postV1(t, v1.URL, signer.hashedrekord(t, []byte("the artifact")))
	v2Index := postV2Signed(t, v2.URL, issue(t, "dev@acme.example", "https://ci.acme.example"), []byte("the artifact"))
	tilesEntry := []byte("a plain tiles entry")
	tr0, err := appendEntry(t.Context(), tl.URL, tilesEntry)
	if err != nil {
		t.Fatal(err)
	}

	// sigstore-go bundles, v1 and v2.
	kp, _ := sign.NewEphemeralKeypair(nil)
	for _, b := range []struct {
		file    string
		url     string
		version uint32
	}{{"v1.bundle.json", v1.URL, 1}, {"v2.bundle.json", v2.URL, 2}} {
		pb, err := sign.Bundle(&sign.PlainData{Data: []byte("the artifact")}, kp, sign.BundleOptions{
			TransparencyLogs: []sign.Transparency{sign.NewRekor(&sign.RekorOptions{BaseURL: b.url, Version: b.version})}})
		if err != nil {
			t.Fatalf("%s: %v", b.file, err)
		}
		js, _ := protojson.Marshal(pb)
		os.WriteFile(filepath.Join(dir, b.file), js, 0o644)
	}
	pubPEM := func(l *servedLog) string {
		der, _ := x509.MarshalPKIXPublicKey(l.Key.Public())
		f := filepath.Join(dir, l.Name+".pub")
		os.WriteFile(f, pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}), 0o644)
		return f
	}
	v1UUID := hex.EncodeToString(rfc6962.DefaultHasher.HashLeaf(v1EntryBody(t, v1.URL, v1Index)))

	for _, tc := range []struct {
		name string
		args []string
		ok   bool
	}{
		{"v1 bundle", []string{"--bundle", filepath.Join(dir, "v1.bundle.json"), "--trusted-root", tr, artifact}, true},
		{"v1 bundle, wrong artifact", []string{"--bundle", filepath.Join(dir, "v1.bundle.json"), "--trusted-root", tr, wrong}, false},
		{"v2 bundle", []string{"--bundle", filepath.Join(dir, "v2.bundle.json"), "--trusted-root", tr, artifact}, true},
		{"v2 bundle, wrong artifact", []string{"--bundle", filepath.Join(dir, "v2.bundle.json"), "--trusted-root", tr, wrong}, false},
		{"v1 index", []string{"--log-url", v1.URL, "--trusted-root", tr, "--index", fmt.Sprint(v1Index), artifact}, true},
		{"v1 index, wrong entry", []string{"--log-url", v1.URL, "--trusted-root", tr, "--index", "0", artifact}, false},
		{"v1 uuid", []string{"--log-url", v1.URL, "--trusted-root", tr, "--uuid", v1UUID, "--digest", digest}, true},
		{"v1 digest search", []string{"--log-url", v1.URL, "--trusted-root", tr, "--digest", digest}, true},
		{"v2 index", []string{"--log-url", v2.URL, "--trusted-root", tr, "--index", fmt.Sprint(v2Index), artifact}, true},
		{"v2 index, public key", []string{"--log-url", v2.URL, "--public-key", pubPEM(v2), "--log-kind", "rekor-v2", "--index", fmt.Sprint(v2Index), artifact}, true},
		{"tiles index", []string{"--log-url", tl.URL, "--public-key", pubPEM(tl), "--index", fmt.Sprint(tr0.Index)}, true},
		{"tiles leaf hash", []string{"--log-url", tl.URL, "--public-key", pubPEM(tl), "--uuid", hex.EncodeToString(rfc6962.DefaultHasher.HashLeaf(tilesEntry))}, true},
		{"tiles, wrong key", []string{"--log-url", tl.URL, "--public-key", pubPEM(v2), "--index", "0"}, false},
	} {
		out, code := runHallmark(t, append([]string{"verify"}, tc.args...)...)
		t.Logf("%s:\n%s", tc.name, out)
		if (code == 0) != tc.ok || (tc.ok && !strings.Contains(out, "\nVERIFIED")) || (!tc.ok && !strings.Contains(out, "NOT VERIFIED")) {
			t.Errorf("%s: exit %d:\n%s", tc.name, code, out)
		}
	}
}

// v1Entry reads an entry's body through Rekor v1's API.
func v1EntryBody(t testing.TB, logURL string, index uint64) []byte {
	t.Helper()
	var m map[string]struct {
		Body []byte `json:"body"`
	}
	if err := json.Unmarshal(getBody(t, fmt.Sprintf("%s/api/v1/log/entries?logIndex=%d", logURL, index)), &m); err != nil {
		t.Fatal(err)
	}
	for _, e := range m {
		return e.Body
	}
	t.Fatal("no entry")
	return nil
}

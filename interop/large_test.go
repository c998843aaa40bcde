package interop

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hallmark-dev/hallmark/tlog"
	"github.com/hallmark-dev/hallmark/tlog/format"
	"github.com/hallmark-dev/hallmark/tlog/rekorv2"
	"github.com/hallmark-dev/hallmark/trust/clientconfig"
)

// Large attestations (issue 17): a 20 MB SBOM attested with cosign v2
// (Rekor v1) and cosign v3 with Sigstore bundles (Rekor v2 with the TSA,
// and Rekor v1), keyless with `hallmark dev`'s CA, against a hallmark-log
// whose dsse and intoto entries may be 32 MiB, then verified with cosign
// verify-attestation from the in-process OCI registry (go-containerregistry
// keeps blobs in memory, with no size limit). The CA sees only the usual
// certificate request. The log's peak memory and the time of one 20 MB
// entry are measured by posting one directly (docs/BENCHMARKS.md, "Large
// attestations (issue 17)"):
//
//	cd interop && go test -run TestLargeAttestations -v ./...

// largeSBOM is an SPDX-like JSON document of about n bytes.
func largeSBOM(n int) []byte {
	var b bytes.Buffer
	b.WriteString(`{"spdxVersion":"SPDX-2.3","dataLicense":"CC0-1.0","SPDXID":"SPDXRef-DOCUMENT","name":"app","packages":[`)
	for i := 0; b.Len() < n-100; i++ {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `{"SPDXID":"SPDXRef-Package-%d","name":"pkg-%d","versionInfo":"1.%d.0","checksums":[{"algorithm":"SHA256","checksumValue":"%064x"}],"externalRefs":[{"referenceCategory":"PACKAGE-MANAGER","referenceType":"purl","referenceLocator":"pkg:golang/example.com/pkg-%d@v1.%d.0"}]}`,
			i, i, i%100, i, i, i%100)
	}
	b.WriteString(`]}`)
	return b.Bytes()
}

// largeLog is a hallmark-log with a Rekor v1 and a Rekor v2 log that take
// 32 MiB attestations, and the in-flight budget they need (3 × 32 MiB per
// large entry, twice over).
type largeLog struct {
	*logProc
	v1URL, v2URL string
	v1Key, v2Key []byte // PEM private keys
}

func startLargeLog(t *testing.T) *largeLog {
	t.Helper()
	dir := t.TempDir()
	l := &largeLog{logProc: &logProc{t: t, dir: dir, addr: freeAddr(t), grpc: freeAddr(t), Logs: map[string]*servedLog{}}}
	l.v1Key, _ = tlog.GenerateKey("ecdsa-p256")
	l.v2Key, _ = tlog.GenerateKey("ed25519")
	os.WriteFile(filepath.Join(dir, "v1.pem"), l.v1Key, 0o600)
	os.WriteFile(filepath.Join(dir, "v2.pem"), l.v2Key, 0o600)
	l.v1URL, l.v2URL = "http://"+l.addr+"/v1", "http://"+l.addr+"/v2"
	cfg := fmt.Sprintf(`listen: {http: %q, grpc: %q}
database: {sqlite: %q}
limits: {inflight_bytes: 268435456}
logs:
  - name: large-v1
    kind: rekor-v1
    url: %s
    key_file: v1.pem
    rekor: {tree_id: 17}
    limits: {max_entry_bytes: {dsse: 32MiB, intoto: 32MiB}}
  - name: large-v2
    kind: rekor-v2
    url: %s
    key_file: v2.pem
    limits: {max_entry_bytes: {dsse: 32MiB}}
`, l.addr, l.grpc, filepath.Join(dir, "log.db"), l.v1URL, l.v2URL)
	l.config = filepath.Join(dir, "hallmark-log.yaml")
	os.WriteFile(l.config, []byte(cfg), 0o600)
	if _, err := tlog.ParseServiceConfig([]byte(cfg)); err != nil {
		t.Fatal(err)
	}
	l.start()
	t.Cleanup(l.kill)
	return l
}

// clientConfig writes a trusted root (`hallmark dev`'s, plus the two large
// logs) and a signing config (`hallmark dev`'s named devConfig, with its
// Rekor URL replaced by rekorURL) into dir.
func (l *largeLog) clientConfig(t *testing.T, d *devProc, devConfig, rekorURL, dir string) (trustedRoot, signingConfig string) {
	t.Helper()
	v1, _ := tlog.ParsePrivateKey(l.v1Key)
	v2, _ := tlog.ParsePrivateKey(l.v2Key)
	v2ID, err := rekorv2.KeyHash("127.0.0.1", v2.Public())
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now().Add(-time.Hour)
	mine, err := clientconfig.TrustedRoot(clientconfig.TrustedRootParams{Tlogs: []clientconfig.Log{
		{BaseURL: l.v1URL, PublicKey: v1.Public(), Start: start},
		{BaseURL: l.v2URL, PublicKey: v2.Public(), KeyID: v2ID[:], Start: start},
	}})
	if err != nil {
		t.Fatal(err)
	}
	var tr, add map[string]any
	raw, _ := os.ReadFile(d.file("trusted_root.json"))
	if err := json.Unmarshal(raw, &tr); err != nil {
		t.Fatal(err)
	}
	json.Unmarshal(mine, &add)
	tr["tlogs"] = append(tr["tlogs"].([]any), add["tlogs"].([]any)...)
	trustedRoot = filepath.Join(dir, "large-trusted-root.json")
	out, _ := json.Marshal(tr)
	os.WriteFile(trustedRoot, out, 0o644)

	var sc map[string]any
	raw, _ = os.ReadFile(d.file(devConfig))
	if err := json.Unmarshal(raw, &sc); err != nil {
		t.Fatal(err)
	}
	urls := sc["rekorTlogUrls"].([]any)
	if len(urls) != 1 {
		t.Fatalf("%s names %d Rekor URLs", devConfig, len(urls))
	}
	urls[0].(map[string]any)["url"] = rekorURL
	signingConfig = filepath.Join(dir, "large-"+devConfig)
	out, _ = json.Marshal(sc)
	os.WriteFile(signingConfig, out, 0o644)
	return trustedRoot, signingConfig
}

// memory reads a size in bytes (VmRSS, VmHWM) of the log's process.
func (l *largeLog) memory(t *testing.T, field string) int64 {
	t.Helper()
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", l.cmd.Process.Pid))
	if err != nil {
		t.Skipf("no /proc: %v", err)
	}
	for line := range strings.Lines(string(raw)) {
		if v, ok := strings.CutPrefix(line, field+":"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return kb << 10
		}
	}
	t.Fatalf("no %s for the log process", field)
	return 0
}

// measure posts one entry body and reports its time and how far the log
// process's resident memory rose above where it was.
func (l *largeLog) measure(t *testing.T, what, url string, body []byte) {
	t.Helper()
	if err := os.WriteFile(fmt.Sprintf("/proc/%d/clear_refs", l.cmd.Process.Pid), []byte("5"), 0); err != nil {
		t.Logf("cannot reset the log's peak resident size: %v", err)
	}
	before := l.memory(t, "VmRSS")
	start := time.Now()
	resp, err := http.Post(url, "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	took := time.Since(start)
	if resp.StatusCode != 201 {
		t.Fatalf("%s: HTTP %d", what, resp.StatusCode)
	}
	peak := l.memory(t, "VmHWM")
	t.Logf("%s: %d-byte request body answered 201 in %v; the log's resident memory rose by %.1f MiB (%.2f× the body), from %.1f MiB",
		what, len(body), took.Round(time.Millisecond), float64(peak-before)/(1<<20), float64(peak-before)/float64(len(body)), float64(before)/(1<<20))
}

// directEntries are a Rekor v1 dsse request and a Rekor v2 dsse request
// (its REST JSON) over an in-toto statement holding sbom, signed with a
// fresh P-256 key, as cosign sends them.
func directEntries(t *testing.T, sbom []byte) (v1, v2 []byte) {
	t.Helper()
	statement := append(append([]byte(`{"_type":"https://in-toto.io/Statement/v1","subject":[{"name":"direct","digest":{"sha256":"`+
		strings.Repeat("ab", 32)+`"}}],"predicateType":"https://spdx.dev/Document","predicate":`), sbom...), '}')
	const payloadType = "application/vnd.in-toto+json"
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	der, _ := x509.MarshalPKIXPublicKey(key.Public())
	digest := sha256.Sum256(format.PAE(payloadType, statement))
	sig, _ := ecdsa.SignASN1(rand.Reader, key, digest[:])
	payload := base64.StdEncoding.EncodeToString(statement)
	env, _ := json.Marshal(map[string]any{"payloadType": payloadType, "payload": payload,
		"signatures": []map[string]string{{"sig": base64.StdEncoding.EncodeToString(sig)}}})
	v1, _ = json.Marshal(map[string]any{"apiVersion": "0.0.1", "kind": "dsse", "spec": map[string]any{"proposedContent": map[string]any{
		"envelope": string(env), "verifiers": []string{base64.StdEncoding.EncodeToString(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}))}}}})
	v2, _ = json.Marshal(map[string]any{"dsseRequestV002": map[string]any{
		"envelope":  map[string]any{"payload": payload, "payloadType": payloadType, "signatures": []map[string]string{{"sig": base64.StdEncoding.EncodeToString(sig)}}},
		"verifiers": []map[string]any{{"publicKey": map[string]string{"rawBytes": base64.StdEncoding.EncodeToString(der)}, "keyDetails": "PKIX_ECDSA_P256_SHA_256"}},
	}})
	return v1, v2
}

func TestLargeAttestations(t *testing.T) {
	if testing.Short() {
		t.Skip("attests a 20 MB SBOM five times")
	}
	cosign2 := clientBinary(t, "cosign", "v2.6.5")
	cosign3 := clientBinary(t, "cosign", "v3.1.3")
	d := startDev(t)
	l := startLargeLog(t)
	sbom := largeSBOM(20_000_000)
	os.WriteFile(filepath.Join(d.work, "sbom.spdx.json"), sbom, 0o644)

	// The log itself: one 20 MB entry of each API, posted directly.
	v1Body, v2Body := directEntries(t, sbom)
	l.measure(t, "Rekor v1 dsse, 20 MB SBOM", l.v1URL+"/api/v1/log/entries", v1Body)
	l.measure(t, "Rekor v2 dsse (REST), 20 MB SBOM", l.v2URL+"/api/v2/log/entries", v2Body)

	attest := func(what string, env []string, cosign string, args ...string) {
		t.Helper()
		start := time.Now()
		out, err := run(t, d.work, env, cosign, args...)
		if err != nil {
			t.Fatalf("%s: cosign %s: %v\n%s", what, strings.Join(args, " "), err, out)
		}
		t.Logf("%s: cosign %s took %v", what, args[0], time.Since(start).Round(time.Millisecond))
	}
	identity := []string{"--certificate-identity", devIdentity, "--certificate-oidc-issuer", d.state["email_issuer_url"]}

	// cosign v2, Rekor v1 by URL, its keys from the environment.
	t.Run("cosign-v2-rekor-v1", func(t *testing.T) {
		host := startRegistry(t, false)
		app := pushImage(t, host, "hallmark/app", "v1")
		rekorPub := filepath.Join(d.work, "large-rekor.pub")
		v1, _ := tlog.ParsePrivateKey(l.v1Key)
		der, _ := x509.MarshalPKIXPublicKey(v1.Public())
		os.WriteFile(rekorPub, pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}), 0o644)
		env := []string{"HOME=" + d.work, "TUF_ROOT=" + filepath.Join(d.work, "tuf"),
			"SIGSTORE_ROOT_FILE=" + d.file("ca/chain.pem"), "SIGSTORE_REKOR_PUBLIC_KEY=" + rekorPub,
			"SIGSTORE_CT_LOG_PUBLIC_KEY_FILE=" + d.file("keys/ct.pub")}
		attest("cosign v2", env, cosign2, "attest", "--yes", "--identity-token", d.token(t), "--type", "spdxjson",
			"--predicate", "sbom.spdx.json", "--fulcio-url", d.state["ca_url"], "--rekor-url", l.v1URL, app.String())
		attest("cosign v2", env, cosign2, append(append([]string{"verify-attestation", "--type", "spdxjson", "--rekor-url", l.v1URL}, identity...), app.String())...)

		// `hallmark dev`'s Rekor v1 keeps the default limit (4 MiB for dsse
		// entries): cosign shows the 413 and the limit.
		out, err := run(t, d.work, cosignV2Env(t, d), cosign2, "attest", "--yes", "--identity-token", d.token(t), "--type", "spdxjson",
			"--predicate", "sbom.spdx.json", "--fulcio-url", d.state["ca_url"], "--rekor-url", d.state["rekor_v1_url"], app.String())
		if err == nil || !strings.Contains(out, "over the limit of 4194304 bytes") {
			t.Fatalf("cosign v2 attest of 20 MB to a log with the default limits: %v\n%s", err, out)
		}
		lines := strings.Split(strings.TrimSpace(out), "\n")
		t.Logf("the default limit, as cosign v2 reports it: %s", lines[len(lines)-1])
	})

	// cosign v3 with Sigstore bundles (the default), from a signing config:
	// Rekor v2 with the TSA, then Rekor v1.
	for _, tc := range []struct{ name, devConfig, rekorURL string }{
		{"cosign-v3-rekor-v2", "signing_config.v2.json", l.v2URL},
		{"cosign-v3-rekor-v1", "signing_config.json", l.v1URL},
	} {
		t.Run(tc.name, func(t *testing.T) {
			host := startRegistry(t, true)
			app := pushImage(t, host, "hallmark/app", "v1")
			tr, sc := l.clientConfig(t, d, tc.devConfig, tc.rekorURL, d.work)
			env := []string{"HOME=" + d.work, "TUF_ROOT=" + filepath.Join(d.work, "tuf")}
			attest("cosign v3", env, cosign3, "attest", "--yes", "--identity-token", d.token(t), "--type", "spdxjson",
				"--predicate", "sbom.spdx.json", "--signing-config", sc, "--trusted-root", tr, "--allow-insecure-registry", app.String())
			attest("cosign v3", env, cosign3, append(append([]string{"verify-attestation", "--type", "spdxjson", "--trusted-root", tr,
				"--allow-insecure-registry"}, identity...), app.String())...)
			bundles, _ := imageBundles(t, app)
			b := bundles["https://spdx.dev/Document"]
			if b == nil || len(b.GetVerificationMaterial().GetTlogEntries()) != 1 {
				t.Fatalf("no SPDX bundle with one tlog entry on the image: %v", bundles)
			}
			if n := len(b.GetVerificationMaterial().GetTlogEntries()[0].GetCanonicalizedBody()); n > 8<<10 {
				t.Errorf("the tlog entry's body is %d bytes: it should hold hashes, not the SBOM", n)
			}
		})
	}
}

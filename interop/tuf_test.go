package interop

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/sigstore/sigstore-go/pkg/root"
	sgtuf "github.com/sigstore/sigstore-go/pkg/tuf"
	//lint:ignore SA1019 cosign v2's TUF client, deprecated upstream; the test checks the repository serves it.
	legacytuf "github.com/sigstore/sigstore/pkg/tuf"
)

// tufClient fetches a target with sigstore-go's TUF client (go-tuf v2's
// updater), as cosign v3 does, with a fresh cache in cacheDir.
func tufClient(t *testing.T, mirror string, rootJSON []byte, cacheDir, target string) ([]byte, error) {
	t.Helper()
	opts := sgtuf.DefaultOptions().WithRoot(rootJSON).WithRepositoryBaseURL(mirror).WithCachePath(cacheDir)
	c, err := sgtuf.New(opts)
	if err != nil {
		return nil, err
	}
	return c.GetTarget(target)
}

// TestDevTUF distributes the trusted root of `hallmark dev` through its
// TUF repository: cosign v3 and v2 `initialize --mirror --root` and then
// sign and verify keyless with no --trusted-root or --signing-config;
// sigstore-go's TUF client and cosign v2's legacy client (sigstore/sigstore
// pkg/tuf, by custom metadata) fetch what they need; after a log rotation
// and `hallmark tuf update` clients see the new trusted root; a tampered
// target and metadata signed by a key root does not name are refused.
func TestDevTUF(t *testing.T) {
	cosign3 := clientBinary(t, "cosign", "v3.1.3")
	cosign2 := clientBinary(t, "cosign", "v2.6.5")
	hallmark := hallmarkBinary(t, "hallmark")
	d := startDev(t)
	mirror, rootFile := d.state["tuf_url"], d.state["tuf_root"]
	if mirror == "" || rootFile == "" {
		t.Fatalf("dev.json names no TUF repository: %v", d.state)
	}
	rootJSON, err := os.ReadFile(rootFile)
	if err != nil {
		t.Fatal(err)
	}
	issuer := d.state["email_issuer_url"]
	artifact := []byte("distributed by TUF\n")
	os.WriteFile(filepath.Join(d.work, "artifact.txt"), artifact, 0o644)
	os.WriteFile(filepath.Join(d.work, "tampered.txt"), []byte("distributed by TUF!\n"), 0o644)
	clientEnv := func(name string) []string {
		home := filepath.Join(d.work, name)
		os.MkdirAll(home, 0o700)
		return []string{"HOME=" + home, "TUF_ROOT=" + filepath.Join(home, "tuf")}
	}
	mustRun := func(env []string, bin string, args ...string) string {
		t.Helper()
		out, err := run(t, d.work, env, bin, args...)
		if err != nil {
			t.Fatalf("%s %s: %v\n%s", filepath.Base(filepath.Dir(bin)), strings.Join(args, " "), err, out)
		}
		return out
	}
	mustFailRun := func(env []string, bin string, args ...string) {
		t.Helper()
		if out, err := run(t, d.work, env, bin, args...); err == nil {
			t.Fatalf("%s %s succeeded, want failure:\n%s", filepath.Base(filepath.Dir(bin)), strings.Join(args, " "), out)
		}
	}

	// cosign v3: everything from TUF: the signing config names the CA,
	// the log and the OIDC issuer; the trusted root verifies.
	v3 := clientEnv("v3")
	mustRun(v3, cosign3, "initialize", "--mirror", mirror, "--root", rootFile)
	mustRun(v3, cosign3, "sign-blob", "--yes", "--identity-token", d.token(t), "--bundle", "v3.sigstore.json", "artifact.txt")
	verify3 := func(identity, file string) []string {
		return []string{"verify-blob", "--bundle", "v3.sigstore.json", "--certificate-identity", identity,
			"--certificate-oidc-issuer", issuer, file}
	}
	if out := mustRun(v3, cosign3, verify3("developer@hallmark.dev", "artifact.txt")...); !strings.Contains(out, "Verified OK") {
		t.Fatalf("cosign v3 verify-blob: %s", out)
	}
	mustFailRun(v3, cosign3, verify3("mallory@hallmark.dev", "artifact.txt")...)
	mustFailRun(v3, cosign3, verify3("developer@hallmark.dev", "tampered.txt")...)

	// cosign v2.6: initialize finds trusted_root.json; sign with service
	// URLs (v2's default) and with the TUF signing config.
	v2 := clientEnv("v2")
	mustRun(v2, cosign2, "initialize", "--mirror", mirror, "--root", rootFile)
	mustRun(v2, cosign2, "sign-blob", "--yes", "--identity-token", d.token(t), "--fulcio-url", d.state["ca_url"],
		"--rekor-url", d.state["rekor_v1_url"], "--bundle", "v2.bundle", "artifact.txt")
	mustRun(v2, cosign2, "verify-blob", "--bundle", "v2.bundle", "--rekor-url", d.state["rekor_v1_url"],
		"--certificate-identity", "developer@hallmark.dev", "--certificate-oidc-issuer", issuer, "artifact.txt")
	mustFailRun(v2, cosign2, "verify-blob", "--bundle", "v2.bundle", "--rekor-url", d.state["rekor_v1_url"],
		"--certificate-identity", "developer@hallmark.dev", "--certificate-oidc-issuer", issuer, "tampered.txt")
	mustRun(v2, cosign2, "sign-blob", "--yes", "--identity-token", d.token(t), "--use-signing-config",
		"--new-bundle-format", "--bundle", "v2.sigstore.json", "artifact.txt")
	mustRun(v2, cosign2, "verify-blob", "--new-bundle-format", "--bundle", "v2.sigstore.json",
		"--certificate-identity", "developer@hallmark.dev", "--certificate-oidc-issuer", issuer, "artifact.txt")
	// cosign v3 verifies what v2 signed, from the same TUF trusted root.
	mustRun(v3, cosign3, "verify-blob", "--bundle", "v2.sigstore.json",
		"--certificate-identity", "developer@hallmark.dev", "--certificate-oidc-issuer", issuer, "artifact.txt")

	// sigstore-go's TUF client fetches exactly the files `hallmark dev`
	// wrote, and the trusted root verifies cosign's bundle.
	for target, file := range map[string]string{"trusted_root.json": "trusted_root.json", "signing_config.v0.2.json": "signing_config.json"} {
		got, err := tufClient(t, mirror, rootJSON, t.TempDir(), target)
		if err != nil {
			t.Fatalf("sigstore-go TUF client: %s: %v", target, err)
		}
		if want, _ := os.ReadFile(d.file(file)); !bytes.Equal(got, want) {
			t.Fatalf("%s from TUF differs from %s", target, file)
		}
	}
	trFromTUF := filepath.Join(d.work, "trusted_root.from-tuf.json")
	raw, _ := tufClient(t, mirror, rootJSON, t.TempDir(), "trusted_root.json")
	os.WriteFile(trFromTUF, raw, 0o644)
	verifyBundleWithSigstoreGo(t, trFromTUF, filepath.Join(d.work, "v3.sigstore.json"), artifact, "developer@hallmark.dev", issuer)

	// cosign v2's legacy client: one key or chain per usage, by custom
	// metadata, equal to what the trusted root holds.
	tr, err := root.NewTrustedRootFromPath(d.file("trusted_root.json"))
	if err != nil {
		t.Fatal(err)
	}
	legacy := legacyTargets(t, mirror, rootJSON)
	wantLegacy := map[string]int{"Fulcio": 1, "Rekor": 1, "CTFE": 1, "TSA": 1}
	for usage, n := range wantLegacy {
		if len(legacy[usage]) != n {
			t.Fatalf("legacy client: %d %s targets, want %d: %v", len(legacy[usage]), usage, n, legacy)
		}
	}
	caRoot := tr.FulcioCertificateAuthorities()[0].(*root.FulcioCertificateAuthority).Root
	if certs := pemCerts(t, legacy["Fulcio"][0].Data); !certs[len(certs)-1].Equal(caRoot) {
		t.Fatalf("legacy Fulcio target does not end with the trusted root's CA root")
	}
	for usage, logs := range map[string]map[string]*root.TransparencyLog{"Rekor": tr.RekorLogs(), "CTFE": tr.CTLogs()} {
		if !legacyKeyIn(t, legacy[usage][0].Data, logs) {
			t.Fatalf("legacy %s key is not one of the trusted root's logs", usage)
		}
	}

	// Rotate the Rekor v1 log: open a new shard in the trusted root, then
	// freeze the old one, publishing each with `hallmark tuf update` while
	// `hallmark dev` serves the repository.
	newRoot := filepath.Join(d.work, "trusted_root.rotated.json")
	cp, _ := os.ReadFile(d.file("trusted_root.json"))
	os.WriteFile(newRoot, cp, 0o644)
	repoArgs := []string{"--repo", filepath.Join(d.dir, "tuf", "repository"), "--keys", filepath.Join(d.dir, "tuf", "keys")}
	mustRun(nil, hallmark, "log", "rotate", "open", "--config", d.file("hallmark-log.yaml"), "--log", "rekor-v1",
		"--name", "rekor-v1-2027", "--url", d.state["log_url"]+"/2027", "--tree-id", "2",
		"--key-out", filepath.Join(d.work, "rekor-2027.pem"), "--trusted-root", newRoot)
	out := mustRun(nil, hallmark, append([]string{"tuf", "update", "--trusted-root", newRoot}, repoArgs...)...)
	if !strings.Contains(out, "targets v2") {
		t.Fatalf("tuf update: %s", out)
	}
	mustRun(nil, hallmark, "log", "rotate", "freeze", "--config", d.file("hallmark-log.yaml"), "--log", "rekor-v1", "--trusted-root", newRoot)
	mustRun(nil, hallmark, append([]string{"tuf", "update", "--trusted-root", newRoot}, repoArgs...)...)
	if out := mustRun(nil, hallmark, append([]string{"tuf", "update", "--trusted-root", newRoot}, repoArgs...)...); !strings.Contains(out, "unchanged") {
		t.Fatalf("a second update of the same file published again: %s", out)
	}
	// cosign v3 refreshes its cache and still verifies the old signature
	// (the frozen log stays trusted for entries made in its validity).
	mustRun(v3, cosign3, verify3("developer@hallmark.dev", "artifact.txt")...)
	var tm struct {
		Signed struct {
			Version int `json:"version"`
		} `json:"signed"`
	}
	cached, _ := os.ReadFile(filepath.Join(d.work, "v3", "tuf", sgtuf.URLToPath(mirror), "targets.json"))
	if json.Unmarshal(cached, &tm); tm.Signed.Version != 3 {
		t.Fatalf("cosign v3's TUF cache holds targets version %d, want 3", tm.Signed.Version)
	}
	want, _ := os.ReadFile(newRoot)
	got, err := tufClient(t, mirror, rootJSON, filepath.Join(d.work, "v3", "tuf"), "trusted_root.json")
	if err != nil || !bytes.Equal(got, want) {
		t.Fatalf("after update, sigstore-go's client did not get the rotated trusted root: %v", err)
	}
	if tl, _ := root.NewTrustedRootFromJSON(got); len(tl.RekorLogs()) != 3 {
		t.Fatalf("rotated trusted root has %d Rekor logs, want 3", len(tl.RekorLogs()))
	}
	legacy = legacyTargets(t, mirror, rootJSON)
	status := map[string]int{}
	for _, lt := range legacy["Rekor"] {
		status[lt.Status]++
	}
	if status["Active"] != 1 || status["Expired"] != 1 {
		t.Fatalf("legacy Rekor targets after rotation: %v, want one Active and one Expired", status)
	}

	// Refusals, on a copy of the repository behind a plain file server.
	t.Run("tampered target", func(t *testing.T) {
		repo := copyRepo(t, filepath.Join(d.dir, "tuf", "repository"))
		targets, _ := filepath.Glob(filepath.Join(repo, "targets", "*.trusted_root.json"))
		for _, p := range targets {
			b, _ := os.ReadFile(p)
			tampered := bytes.Replace(b, []byte("127.0.0.1"), []byte("127.0.0.9"), 1)
			if bytes.Equal(b, tampered) {
				t.Fatal("nothing to tamper with")
			}
			os.WriteFile(p, tampered, 0o644)
		}
		srv := httptest.NewServer(http.FileServer(http.Dir(repo)))
		defer srv.Close()
		if _, err := tufClient(t, srv.URL, rootJSON, t.TempDir(), "trusted_root.json"); err == nil {
			t.Fatal("sigstore-go's TUF client accepted a tampered trusted_root.json")
		}
		env := clientEnv("tampered")
		run(t, d.work, env, cosign3, "initialize", "--mirror", srv.URL, "--root", rootFile) // may fail already
		mustFailRun(env, cosign3, verify3("developer@hallmark.dev", "artifact.txt")...)
	})
	t.Run("wrong signing key", func(t *testing.T) {
		repo := copyRepo(t, filepath.Join(d.dir, "tuf", "repository"))
		// A repository of the same content with its own keys: its
		// timestamp is well formed but signed by a key root.json does not
		// name for the timestamp role.
		other := filepath.Join(t.TempDir(), "repo")
		mustRun(nil, hallmark, "tuf", "init", "--repo", other, "--keys", filepath.Join(t.TempDir(), "keys"),
			"--trusted-root", d.file("trusted_root.json"))
		ts, _ := os.ReadFile(filepath.Join(other, "timestamp.json"))
		os.WriteFile(filepath.Join(repo, "timestamp.json"), ts, 0o644)
		srv := httptest.NewServer(http.FileServer(http.Dir(repo)))
		defer srv.Close()
		_, err := tufClient(t, srv.URL, rootJSON, t.TempDir(), "trusted_root.json")
		if err == nil || !strings.Contains(err.Error(), "timestamp") {
			t.Fatalf("sigstore-go's TUF client accepted a timestamp signed by the wrong key: %v", err)
		}
		env := clientEnv("wrongkey")
		mustFailRun(env, cosign3, "initialize", "--mirror", srv.URL, "--root", rootFile)
		// A root from another repository is refused as an update too.
		otherRoot, _ := os.ReadFile(filepath.Join(other, "1.root.json"))
		os.WriteFile(filepath.Join(repo, "2.root.json"), otherRoot, 0o644)
		if _, err := tufClient(t, srv.URL, rootJSON, t.TempDir(), "trusted_root.json"); err == nil {
			t.Fatal("sigstore-go's TUF client accepted a root not signed by the current root's keys")
		}
	})
}

type legacyTarget struct {
	Name, Status string
	Data         []byte
}

// legacyTargets runs cosign v2's legacy TUF client (sigstore/sigstore
// pkg/tuf, a process-wide singleton) in a child process of the test
// binary, with its own TUF_ROOT, and returns the targets it selects for
// each usage.
func legacyTargets(t *testing.T, mirror string, rootJSON []byte) map[string][]legacyTarget {
	t.Helper()
	dir := t.TempDir()
	rootPath := filepath.Join(dir, "root.json")
	os.WriteFile(rootPath, rootJSON, 0o644)
	cmd := exec.Command(os.Args[0], "-test.run=^TestLegacyTUFClientChild$", "-test.count=1")
	cmd.Env = append(os.Environ(), "HALLMARK_LEGACY_TUF_MIRROR="+mirror, "HALLMARK_LEGACY_TUF_ROOT="+rootPath,
		"TUF_ROOT="+filepath.Join(dir, "tuf"), "HOME="+dir)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("legacy TUF client: %v\n%s", err, out)
	}
	i := bytes.Index(out, []byte("LEGACY:"))
	if i < 0 {
		t.Fatalf("legacy TUF client printed no result:\n%s", out)
	}
	line, _, _ := bytes.Cut(out[i+len("LEGACY:"):], []byte("\n"))
	res := map[string][]legacyTarget{}
	if err := json.Unmarshal(line, &res); err != nil {
		t.Fatal(err)
	}
	return res
}

// TestLegacyTUFClientChild is legacyTargets' child process.
func TestLegacyTUFClientChild(t *testing.T) {
	mirror := os.Getenv("HALLMARK_LEGACY_TUF_MIRROR")
	if mirror == "" {
		t.Skip("run by TestDevTUF")
	}
	rootJSON, err := os.ReadFile(os.Getenv("HALLMARK_LEGACY_TUF_ROOT"))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := legacytuf.Initialize(ctx, mirror, rootJSON); err != nil {
		t.Fatalf("legacy Initialize: %v", err)
	}
	c, err := legacytuf.NewFromEnv(ctx)
	if err != nil {
		t.Fatal(err)
	}
	res := map[string][]legacyTarget{}
	for _, u := range []legacytuf.UsageKind{legacytuf.Fulcio, legacytuf.Rekor, legacytuf.CTFE, legacytuf.TSA} {
		ts, err := c.GetTargetsByMeta(u, nil)
		if err != nil {
			t.Fatalf("GetTargetsByMeta(%v): %v", u, err)
		}
		for _, tf := range ts {
			res[u.String()] = append(res[u.String()], legacyTarget{Name: tf.Name, Status: tf.Status.String(), Data: tf.Target})
		}
		sort.Slice(res[u.String()], func(i, j int) bool { return res[u.String()][i].Name < res[u.String()][j].Name })
	}
	b, _ := json.Marshal(res)
	fmt.Printf("LEGACY:%s\n", b)
}

func pemCerts(t *testing.T, data []byte) []*x509.Certificate {
	t.Helper()
	var certs []*x509.Certificate
	for {
		var b *pem.Block
		b, data = pem.Decode(data)
		if b == nil {
			return certs
		}
		c, err := x509.ParseCertificate(b.Bytes)
		if err != nil {
			t.Fatal(err)
		}
		certs = append(certs, c)
	}
}

func legacyKeyIn(t *testing.T, data []byte, logs map[string]*root.TransparencyLog) bool {
	t.Helper()
	b, _ := pem.Decode(data)
	if b == nil {
		t.Fatalf("legacy key target is not PEM: %q", data)
	}
	for _, l := range logs {
		der, err := x509.MarshalPKIXPublicKey(l.PublicKey)
		if err == nil && bytes.Equal(der, b.Bytes) {
			return true
		}
	}
	return false
}

// copyRepo copies a repository directory, so a subtest can damage it.
func copyRepo(t *testing.T, src string) string {
	t.Helper()
	dst := filepath.Join(t.TempDir(), "repo")
	if out, err := exec.Command("cp", "-r", src, dst).CombinedOutput(); err != nil {
		t.Fatalf("cp: %v\n%s", err, out)
	}
	return dst
}

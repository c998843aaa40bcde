package interop

import (
	"archive/tar"
	"context"
	"debug/elf"
	"encoding/json"
	"errors"
	"io"
	"log"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/hallmark-dev/hallmark/deploy/images"
)

// TestImages builds the hallmark image for this machine's platform with
// deploy/images (what `make images` runs), pushes it to an in-process OCI
// registry, pulls it back and checks it: an OCI index for the platform, a
// non-root user, a static binary that runs, an SPDX SBOM beside it; and a
// second build gives the same digest (reproducible). A command missing from
// the tree is skipped, as hallmark-ca is until it lands.
func TestImages(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a binary")
	}
	reg := httptest.NewServer(registry.New(registry.Logger(log.New(io.Discard, "", 0))))
	defer reg.Close()
	host := strings.TrimPrefix(reg.URL, "http://")
	platform := runtime.GOOS + "/" + runtime.GOARCH
	opts := images.Options{
		Source: "..", Commands: []string{"hallmark", "not-a-command"}, Platforms: []string{platform},
		Repository: host + "/trust", Tag: "test", Insecure: true, SourceDateEpoch: time.Unix(1700000000, 0).UTC(),
		Logger: slog.New(slog.DiscardHandler),
	}
	ctx := context.Background()
	start := time.Now()
	res, err := images.Build(ctx, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("built and pushed in %s: %+v", time.Since(start).Round(time.Millisecond), res)
	if len(res) != 1 || res[0].Command != "hallmark" {
		t.Fatalf("want one image (hallmark), got %+v", res)
	}

	ref, err := name.ParseReference(host+"/trust/hallmark:test", name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	idx, err := remote.Index(ref)
	if err != nil {
		t.Fatal(err)
	}
	if d, _ := idx.Digest(); d != res[0].Digest {
		t.Fatalf("tag points at %s, build reported %s", d, res[0].Digest)
	}
	im, err := idx.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	if len(im.Manifests) != 1 || im.Manifests[0].Platform == nil || im.Manifests[0].Platform.OS+"/"+im.Manifests[0].Platform.Architecture != platform {
		t.Fatalf("index manifests: %+v", im.Manifests)
	}
	img, err := idx.Image(im.Manifests[0].Digest)
	if err != nil {
		t.Fatal(err)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	if cf.Config.User != "65532:65532" || len(cf.Config.Entrypoint) != 1 || cf.Config.Entrypoint[0] != "/usr/local/bin/hallmark" {
		t.Fatalf("config: user %q, entrypoint %q", cf.Config.User, cf.Config.Entrypoint)
	}

	// The binary: static (no interpreter, no shared libraries), and it runs.
	bin := filepath.Join(t.TempDir(), "hallmark")
	files := extract(t, img, map[string]string{"usr/local/bin/hallmark": bin})
	for _, want := range []string{"etc/passwd", "etc/group", "tmp/"} {
		if !files[want] {
			t.Errorf("image lacks %s", want)
		}
	}
	if files["bin/sh"] {
		t.Error("image has a shell")
	}
	ef, err := elf.Open(bin)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range ef.Progs {
		if p.Type == elf.PT_INTERP {
			t.Error("binary has a dynamic loader: not static")
		}
	}
	if libs, _ := ef.ImportedLibraries(); len(libs) > 0 {
		t.Errorf("binary needs shared libraries %v", libs)
	}
	ef.Close()
	os.Chmod(bin, 0o755)
	out, err := exec.Command(bin).CombinedOutput()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != 2 || !strings.Contains(string(out), "usage: hallmark") {
		t.Fatalf("running the image's binary: %v\n%s", err, out)
	}

	// The SBOM, where cosign looks for it.
	sref, err := name.ParseReference(res[0].SBOM, name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	simg, err := remote.Image(sref)
	if err != nil {
		t.Fatalf("SBOM %s: %v", res[0].SBOM, err)
	}
	layers, _ := simg.Layers()
	if len(layers) != 1 {
		t.Fatalf("SBOM image has %d layers", len(layers))
	}
	if mt, _ := layers[0].MediaType(); mt != images.SBOMMediaType {
		t.Fatalf("SBOM media type %s", mt)
	}
	rc, _ := layers[0].Uncompressed()
	var sbom struct {
		SPDXVersion string `json:"spdxVersion"`
		Packages    []struct {
			Name        string `json:"name"`
			VersionInfo string `json:"versionInfo"`
		} `json:"packages"`
	}
	if err := json.NewDecoder(rc).Decode(&sbom); err != nil {
		t.Fatal(err)
	}
	rc.Close()
	mods := map[string]string{}
	for _, p := range sbom.Packages {
		mods[p.Name] = p.VersionInfo
	}
	if sbom.SPDXVersion != "SPDX-2.3" || mods["github.com/transparency-dev/merkle"] == "" || mods["github.com/hallmark-dev/hallmark"] == "" {
		t.Fatalf("SBOM does not list the modules: %s, %d packages", sbom.SPDXVersion, len(sbom.Packages))
	}

	// Reproducible: the same source gives the same digest.
	again, err := images.Build(ctx, opts)
	if err != nil {
		t.Fatal(err)
	}
	if again[0].Digest != res[0].Digest {
		t.Fatalf("rebuilding gave %s, first build %s: not reproducible", again[0].Digest, res[0].Digest)
	}
}

// extract reads an image's layers, writes the files named in want to the
// given paths, and returns the set of every path in the image.
func extract(t *testing.T, img v1.Image, want map[string]string) map[string]bool {
	t.Helper()
	layers, err := img.Layers()
	if err != nil {
		t.Fatal(err)
	}
	all := map[string]bool{}
	for _, l := range layers {
		rc, err := l.Uncompressed()
		if err != nil {
			t.Fatal(err)
		}
		tr := tar.NewReader(rc)
		for {
			h, err := tr.Next()
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
			all[h.Name] = true
			if dst, ok := want[h.Name]; ok {
				f, _ := os.Create(dst)
				io.Copy(f, tr)
				f.Close()
			}
		}
		rc.Close()
	}
	return all
}

// TestImagesSignedWithHallmark is the release path end to end: build and
// push the hallmark image, sign it and attest its SBOM with cosign v2 and
// scripts/sign-images.sh against a Hallmark Rekor v1 log, then verify the
// signature and the attestation with cosign against the log's key.
func TestImagesSignedWithHallmark(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a binary")
	}
	cosign := clientBinary(t, "cosign", "v2.6.5")
	res := pushHallmarkImage(t, "signed")
	p := startLogServer(t, pgURLOrSQLite(t), v1Spec(""))
	l := p.Logs["rekor"]
	dir, env := cosignDir(t, cosign)
	pub, err := rekorPublicKeyPEM(l)
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(dir, "rekor.pub"), pub, 0o644)
	os.MkdirAll(filepath.Join(dir, "sbom"), 0o755)
	os.WriteFile(filepath.Join(dir, "sbom", "hallmark.spdx.json"), res[0].SBOMData, 0o644)
	os.WriteFile(filepath.Join(dir, "images.txt"), []byte(res[0].Ref+"\n"), 0o644)
	registryFlags := []string{"--allow-insecure-registry", "--allow-http-registry"}
	env = append(env, "SIGSTORE_REKOR_PUBLIC_KEY="+filepath.Join(dir, "rekor.pub"), "COSIGN="+cosign,
		"COSIGN_KEY="+filepath.Join(dir, "cosign.key"), "REKOR_URL="+l.URL, "COSIGN_FLAGS="+strings.Join(registryFlags, " "))
	script, _ := filepath.Abs("../scripts/sign-images.sh")
	if out, err := run(t, dir, env, script, "images.txt", "sbom"); err != nil {
		t.Fatalf("sign-images.sh: %v\n%s", err, out)
	}
	verify := append([]string{"verify", "--key", "cosign.pub", "--rekor-url", l.URL}, registryFlags...)
	if out, err := run(t, dir, env, cosign, append(verify, res[0].Ref)...); err != nil {
		t.Fatalf("cosign verify: %v\n%s", err, out)
	}
	verifyAtt := append([]string{"verify-attestation", "--type", "spdxjson", "--key", "cosign.pub", "--rekor-url", l.URL}, registryFlags...)
	out, err := run(t, dir, env, cosign, append(verifyAtt, res[0].Ref)...)
	if err != nil {
		t.Fatalf("cosign verify-attestation: %v\n%s", err, out)
	}
	// Both entries are in Hallmark's log: signature and attestation.
	cp, err := http.Get(l.URL + "/api/v1/log")
	if err != nil {
		t.Fatal(err)
	}
	var info struct {
		TreeSize int `json:"treeSize"`
	}
	json.NewDecoder(cp.Body).Decode(&info)
	cp.Body.Close()
	if info.TreeSize != 2 {
		t.Fatalf("the log holds %d entries, want 2 (signature and SBOM attestation)", info.TreeSize)
	}
	// A different key does not verify.
	other, _ := cosignDir(t, cosign)
	if out, err := run(t, dir, env, cosign, append(append([]string{"verify", "--key", filepath.Join(other, "cosign.pub"), "--rekor-url", l.URL}, registryFlags...), res[0].Ref)...); err == nil {
		t.Fatalf("cosign verify accepted another key:\n%s", out)
	}
}

// TestImagesSignedKeyless is the dogfooding release path without a key:
// build and push the hallmark image, then sign it and attest its SBOM with
// scripts/sign-images.sh in keyless mode (cosign v2, an identity token,
// hallmark-ca as Fulcio, Hallmark's Rekor v1 log) against `hallmark dev` on
// free ports, and verify both with cosign by certificate identity and
// issuer. Another identity does not verify.
func TestImagesSignedKeyless(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a binary")
	}
	cosign := clientBinary(t, "cosign", "v2.6.5")
	res := pushHallmarkImage(t, "keyless")
	d := startDev(t)
	dir := d.work
	rekorKey := filepath.Join(dir, "rekor.pub")
	resp, err := http.Get(d.state["rekor_v1_url"] + "/api/v1/log/publicKey")
	if err != nil {
		t.Fatal(err)
	}
	pub, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	os.WriteFile(rekorKey, pub, 0o644)
	os.MkdirAll(filepath.Join(dir, "sbom"), 0o755)
	os.WriteFile(filepath.Join(dir, "sbom", "hallmark.spdx.json"), res[0].SBOMData, 0o644)
	os.WriteFile(filepath.Join(dir, "images.txt"), []byte(res[0].Ref+"\n"), 0o644)
	registryFlags := []string{"--allow-insecure-registry", "--allow-http-registry"}
	env := []string{"HOME=" + dir, "TUF_ROOT=" + filepath.Join(dir, "tuf"), "COSIGN_PASSWORD=",
		"SIGSTORE_ROOT_FILE=" + d.file("ca/chain.pem"), "SIGSTORE_REKOR_PUBLIC_KEY=" + rekorKey,
		"SIGSTORE_CT_LOG_PUBLIC_KEY_FILE=" + d.file("keys/ct.pub")}
	sizeBefore := v1TreeSize(t, d.state["rekor_v1_url"])
	script, _ := filepath.Abs("../scripts/sign-images.sh")
	signEnv := append(env, "COSIGN="+cosign, "COSIGN_KEY=", "IDENTITY_TOKEN="+d.token(t), "FULCIO_URL="+d.state["ca_url"],
		"REKOR_URL="+d.state["rekor_v1_url"], "COSIGN_FLAGS="+strings.Join(registryFlags, " "))
	if out, err := run(t, dir, signEnv, script, "images.txt", "sbom"); err != nil {
		t.Fatalf("sign-images.sh keyless: %v\n%s", err, out)
	}
	if got := v1TreeSize(t, d.state["rekor_v1_url"]); got != sizeBefore+2 {
		t.Fatalf("the log grew from %d to %d entries, want 2 more (signature and SBOM attestation)", sizeBefore, got)
	}
	identity := func(san string) []string {
		return append([]string{"--certificate-identity", san, "--certificate-oidc-issuer", d.state["email_issuer_url"],
			"--rekor-url", d.state["rekor_v1_url"]}, registryFlags...)
	}
	if out, err := run(t, dir, env, cosign, append(append([]string{"verify"}, identity("developer@hallmark.dev")...), res[0].Ref)...); err != nil {
		t.Fatalf("cosign verify of the keyless image signature: %v\n%s", err, out)
	}
	out, err := run(t, dir, env, cosign, append(append([]string{"verify-attestation", "--type", "spdxjson"}, identity("developer@hallmark.dev")...), res[0].Ref)...)
	if err != nil {
		t.Fatalf("cosign verify-attestation of the keyless SBOM attestation: %v\n%s", err, out)
	}
	if out, err := run(t, dir, env, cosign, append(append([]string{"verify"}, identity("mallory@hallmark.dev")...), res[0].Ref)...); err == nil {
		t.Fatalf("cosign verify accepted another identity:\n%s", out)
	}
}

// v1TreeSize returns the tree size a Rekor v1 log reports.
func v1TreeSize(t *testing.T, url string) int {
	t.Helper()
	resp, err := http.Get(url + "/api/v1/log")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var info struct {
		TreeSize int `json:"treeSize"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&info); err != nil {
		t.Fatal(err)
	}
	return info.TreeSize
}

// pushHallmarkImage builds the hallmark image for this machine's platform
// and pushes it as trust:<tag> to an in-memory registry that lives as long
// as the test, and returns the build's results.
func pushHallmarkImage(t *testing.T, tag string) []images.Result {
	t.Helper()
	reg := httptest.NewServer(registry.New(registry.Logger(log.New(io.Discard, "", 0))))
	t.Cleanup(reg.Close)
	res, err := images.Build(context.Background(), images.Options{
		Source: "..", Commands: []string{"hallmark"}, Platforms: []string{runtime.GOOS + "/" + runtime.GOARCH},
		Repository: strings.TrimPrefix(reg.URL, "http://") + "/trust", Tag: tag, Insecure: true, SourceDateEpoch: time.Unix(0, 0).UTC(),
		Logger: slog.New(slog.DiscardHandler),
	})
	if err != nil {
		t.Fatal(err)
	}
	return res
}

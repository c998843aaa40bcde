package interop

import (
	"bytes"
	"encoding/json"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hallmark-dev/hallmark/trust/tufrepo"
)

// cachedRootVersion returns the highest version of the root.json files a
// TUF client cached under dir (0 if none).
func cachedRootVersion(t *testing.T, dir string) int {
	t.Helper()
	best := 0
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || d.Name() != "root.json" {
			return nil
		}
		var m struct {
			Signed struct {
				Version int `json:"version"`
			} `json:"signed"`
		}
		if b, err := os.ReadFile(p); err == nil && json.Unmarshal(b, &m) == nil && m.Signed.Version > best {
			best = m.Signed.Version
		}
		return nil
	})
	return best
}

// TestTUFThresholdCeremony takes the TUF repository of `hallmark dev`
// (one online key per role) through offline ceremonies with `hallmark tuf
// keygen|propose|sign|check|publish`: root v2 moves root to 2 of 3 offline
// keys and targets to 2 of 3; root v3 replaces a root key and raises the
// threshold to 3 of 3; root v4 replaces the targets keys. After each, a
// cosign v3 that initialised on root v1 verifies its keyless bundle with
// the trust root it refreshes from TUF, cosign v2 and v3 `initialize` from
// 1.root.json end at the newest root, and sigstore-go's TUF client (go-tuf's
// updater) follows from 1.root.json. A proposal short of a threshold is
// refused by check and publish, and a timestamp published already expired
// is refused by cosign and sigstore-go.
func TestTUFThresholdCeremony(t *testing.T) {
	cosign3 := clientBinary(t, "cosign", "v3.1.3")
	cosign2 := clientBinary(t, "cosign", "v2.6.5")
	hallmark := hallmarkBinary(t, "hallmark")
	d := startDev(t)
	mirror, rootFile := d.state["tuf_url"], d.state["tuf_root"]
	rootJSON, err := os.ReadFile(rootFile)
	if err != nil {
		t.Fatal(err)
	}
	issuer := d.state["email_issuer_url"]
	repoDir, keysDir := filepath.Join(d.dir, "tuf", "repository"), filepath.Join(d.dir, "tuf", "keys")
	repoArgs := []string{"--repo", repoDir, "--keys", keysDir}
	os.WriteFile(filepath.Join(d.work, "artifact.txt"), []byte("signed under TUF root v1\n"), 0o644)
	clientEnv := func(name string) []string {
		home := filepath.Join(d.work, name)
		os.MkdirAll(home, 0o700)
		return []string{"HOME=" + home, "TUF_ROOT=" + filepath.Join(home, "tuf")}
	}
	hm := func(args ...string) (string, error) { return run(t, d.work, nil, hallmark, args...) }
	mustRun := func(env []string, bin string, args ...string) string {
		t.Helper()
		out, err := run(t, d.work, env, bin, args...)
		if err != nil {
			t.Fatalf("%s %s: %v\n%s", filepath.Base(bin), strings.Join(args, " "), err, out)
		}
		return out
	}

	// A cosign v3 that trusts root v1 signs keylessly.
	v3 := clientEnv("v3")
	mustRun(v3, cosign3, "initialize", "--mirror", mirror, "--root", rootFile)
	mustRun(v3, cosign3, "sign-blob", "--yes", "--identity-token", d.token(t), "--bundle", "v1.sigstore.json", "artifact.txt")
	verify := func(n int) {
		t.Helper()
		// cosign v3 refreshes its TUF cache (root v1 → vN) and verifies.
		if out := mustRun(v3, cosign3, "verify-blob", "--bundle", "v1.sigstore.json", "--certificate-identity", "developer@hallmark.dev",
			"--certificate-oidc-issuer", issuer, "artifact.txt"); !strings.Contains(out, "Verified OK") {
			t.Fatalf("cosign v3 verify-blob under root v%d: %s", n, out)
		}
		if got := cachedRootVersion(t, filepath.Join(d.work, "v3", "tuf")); got != n {
			t.Fatalf("cosign v3's TUF cache holds root v%d, want v%d", got, n)
		}
		// Fresh clients from 1.root.json walk every root version.
		for _, c := range []struct{ name, bin string }{{"cosign v3", cosign3}, {"cosign v2", cosign2}} {
			env := clientEnv(strings.ReplaceAll(c.name, " ", "") + "-fresh-" + string(rune('0'+n)))
			mustRun(env, c.bin, "initialize", "--mirror", mirror, "--root", rootFile)
			if got := cachedRootVersion(t, env[0][len("HOME="):]); got != n {
				t.Fatalf("%s initialize from 1.root.json cached root v%d, want v%d", c.name, got, n)
			}
		}
		cache := t.TempDir()
		got, err := tufClient(t, mirror, rootJSON, cache, "trusted_root.json")
		if err != nil {
			t.Fatalf("sigstore-go's TUF client under root v%d: %v", n, err)
		}
		if want, _ := os.ReadFile(d.file("trusted_root.json")); !bytes.Equal(got, want) {
			t.Fatal("sigstore-go's TUF client got another trusted_root.json")
		}
		if got := cachedRootVersion(t, cache); got != n {
			t.Fatalf("sigstore-go's TUF client ended at root v%d, want v%d", got, n)
		}
	}
	verify(1)

	// Key holders make their keys, each on their own machine.
	keys := filepath.Join(d.work, "holders")
	os.MkdirAll(keys, 0o700)
	key := func(name string) string { return filepath.Join(keys, name) }
	for _, k := range []string{"root-a", "root-b", "root-c", "root-d", "targets-a", "targets-b", "targets-c", "targets-d"} {
		mustRun(nil, hallmark, "tuf", "keygen", "--out", key(k))
	}
	proposal := filepath.Join(d.work, "proposal.json")
	sign := func(names ...string) {
		t.Helper()
		for _, k := range names {
			// Each signer has only the proposal and their key: a copy of
			// the proposal in a directory of their own.
			own := filepath.Join(t.TempDir(), "proposal.json")
			b, _ := os.ReadFile(proposal)
			os.WriteFile(own, b, 0o644)
			mustRun(nil, hallmark, "tuf", "sign", "--key", key(k)+".pem", own)
			b, _ = os.ReadFile(own)
			os.WriteFile(proposal, b, 0o644)
		}
	}
	short := func(says string) {
		t.Helper()
		if out, err := hm("tuf", "check", proposal); err == nil || !strings.Contains(out, says) {
			t.Fatalf("tuf check of a proposal short of its threshold: %v\n%s", err, out)
		}
		before, _ := os.ReadFile(filepath.Join(repoDir, "timestamp.json"))
		out, err := hm(append([]string{"tuf", "publish"}, append(repoArgs, proposal)...)...)
		if err == nil || !strings.Contains(out, "refusing to publish") || !strings.Contains(out, says) {
			t.Fatalf("tuf publish of a proposal short of its threshold: %v\n%s", err, out)
		}
		if after, _ := os.ReadFile(filepath.Join(repoDir, "timestamp.json")); !bytes.Equal(before, after) {
			t.Fatal("a refused publish changed timestamp.json")
		}
	}
	publish := func(n int) {
		t.Helper()
		mustRun(nil, hallmark, "tuf", "check", proposal)
		out := mustRun(nil, hallmark, append([]string{"tuf", "publish"}, append(repoArgs, proposal)...)...)
		if !strings.Contains(out, "published root v"+string(rune('0'+n))) {
			t.Fatalf("tuf publish: %s", out)
		}
		verify(n)
	}

	// Root v2: root 2 of 3 offline, targets 2 of 3 offline. The online
	// root key signs for root v1's threshold when proposing.
	mustRun(nil, hallmark, append([]string{"tuf", "propose", "--out", proposal,
		"--root-key", key("root-a") + ".pub", "--root-key", key("root-b") + ".pub", "--root-key", key("root-c") + ".pub",
		"--targets-key", key("targets-a") + ".pub", "--targets-key", key("targets-b") + ".pub", "--targets-key", key("targets-c") + ".pub"}, repoArgs...)...)
	short("root v2 under root v2: 0 of the 2 signatures required")
	sign("root-a", "targets-a")
	short("root v2 under root v2: 1 of the 2 signatures required")
	sign("root-c", "targets-c")
	publish(2)
	// Online updates of offline targets are refused, saying what to do.
	if out, err := hm(append([]string{"tuf", "update", "--signing-config", d.file("signing_config.v2.json")}, repoArgs...)...); err == nil || !strings.Contains(out, "hallmark tuf propose") {
		t.Fatalf("an online update of offline targets: %v\n%s", err, out)
	}

	// Root v3: root-c replaced by root-d and the threshold raised to 3:
	// 2 of v2's keys and all 3 of v3's must sign.
	mustRun(nil, hallmark, append([]string{"tuf", "propose", "--out", proposal, "--root-threshold", "3",
		"--root-key", key("root-a") + ".pub", "--root-key", key("root-b") + ".pub", "--root-key", key("root-d") + ".pub"}, repoArgs...)...)
	sign("root-a", "root-d")
	short("root v3 under root v3: 2 of the 3 signatures required")
	sign("root-b")
	publish(3)

	// Root v4: the targets keys rotate to b, d (both needed); targets are
	// re-signed by the new keys in the same ceremony.
	mustRun(nil, hallmark, append([]string{"tuf", "propose", "--out", proposal,
		"--targets-key", key("targets-b") + ".pub", "--targets-key", key("targets-d") + ".pub"}, repoArgs...)...)
	sign("root-a", "root-b", "root-d", "targets-d")
	short("under root v4: 1 of the 2 signatures required")
	if out, err := hm("tuf", "sign", "--key", key("targets-a")+".pem", proposal); err == nil || !strings.Contains(out, "nothing signed") {
		t.Fatalf("a targets key root v4 drops signed: %v\n%s", err, out)
	}
	sign("targets-b")
	publish(4)

	// An expired timestamp: a copy of the repository whose online keys
	// re-sign everything with a clock 30 days slow.
	expDir, expKeys := copyRepo(t, repoDir), copyRepo(t, keysDir)
	r, err := tufrepo.Open(expDir, expKeys, time.Now().Add(-30*24*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.Refresh(true); err != nil {
		t.Fatal(err)
	}
	r.Close()
	srv := httptest.NewServer(http.FileServer(http.Dir(expDir)))
	defer srv.Close()
	_, err = tufClient(t, srv.URL, rootJSON, t.TempDir(), "trusted_root.json")
	if err == nil || !strings.Contains(err.Error(), "expired") {
		t.Fatalf("sigstore-go's TUF client with an expired timestamp: %v", err)
	}
	for _, c := range []struct{ name, bin string }{{"v3-expired", cosign3}, {"v2-expired", cosign2}} {
		env := clientEnv(c.name)
		out, err := run(t, d.work, env, c.bin, "initialize", "--mirror", srv.URL, "--root", rootFile)
		if err == nil || !strings.Contains(strings.ToLower(out), "expired") {
			t.Fatalf("cosign %s initialize with an expired timestamp: %v\n%s", c.name, err, out)
		}
	}
}

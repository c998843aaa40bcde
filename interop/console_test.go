package interop

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"fmt"

	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// The auditor console in a real browser (headless Chromium, installed by
// scripts/install-chromium.sh), on `hallmark dev` logs filled by cosign.
// The tests read what a person sees: the verdict box, the result counts.

// chromiumPath finds the browser: $HALLMARK_CHROMIUM, else one on PATH.
// Without one the tests skip, except under CI=true, where that fails.
func chromiumPath(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("HALLMARK_CHROMIUM"); p != "" {
		return p
	}
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "google-chrome-stable", "headless-shell"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("CI") == "true" {
		t.Fatal("no Chromium for the console's browser tests: run scripts/install-chromium.sh (make test does)")
	}
	t.Skip("no Chromium on PATH (scripts/install-chromium.sh installs Debian's); set HALLMARK_CHROMIUM to use another")
	return ""
}

// browser starts headless Chromium and returns a context driving one tab.
func browser(t *testing.T) context.Context {
	t.Helper()
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromiumPath(t)),
		chromedp.NoSandbox, // CI runs as root
		chromedp.DisableGPU,
		chromedp.WindowSize(1280, 1000),
		chromedp.UserDataDir(t.TempDir()),
	)
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelTab := chromedp.NewContext(actx, chromedp.WithLogf(t.Logf))
	ctx, cancelTimeout := context.WithTimeout(ctx, 5*time.Minute)
	t.Cleanup(func() { cancelTimeout(); cancelTab(); cancelAlloc() })
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("couldn't start %s: %v", chromiumPath(t), err)
	}
	return ctx
}

// artifactDir is where screenshots go: $HALLMARK_ARTIFACTS (CI uploads
// it), else the test's artifact directory (kept with go test -artifacts).
func artifactDir(t *testing.T) string {
	if d := os.Getenv("HALLMARK_ARTIFACTS"); d != "" {
		os.MkdirAll(d, 0o755)
		return d
	}
	return t.ArtifactDir()
}

// screenshot saves the whole page as name.png among the artifacts and,
// with HALLMARK_UPDATE_DOCS=1, the two docs/auditing.md shows as
// docs/images/name.png too.
func screenshot(t *testing.T, ctx context.Context, name string) {
	t.Helper()
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatalf("screenshot %s: %v", name, err)
	}
	p := filepath.Join(artifactDir(t), name+".png")
	if err := os.WriteFile(p, png, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot: %s", p)
	if os.Getenv("HALLMARK_UPDATE_DOCS") == "1" && (name == "console-entry" || name == "console-log") {
		os.WriteFile(filepath.Join("..", "docs", "images", name+".png"), png, 0o644)
	}
}

// verdictOf opens a console page and waits for the verdict box (by id) to
// settle, returning its state ("verified" or "failed") and text.
func verdictOf(t *testing.T, ctx context.Context, pageURL, id string) (state, text string) {
	t.Helper()
	sel := chromedp.CSS("#" + id + "[data-state]")
	err := chromedp.Do(ctx, chromedp.Navigate("about:blank"), chromedp.Navigate(pageURL), chromedp.WaitVisible(sel))
	var attr chromedp.AttributeResult
	if err == nil {
		attr, err = chromedp.Run(ctx, chromedp.AttributeValue(sel, "data-state"))
	}
	if err == nil {
		text, err = chromedp.Run(ctx, chromedp.Text(chromedp.CSS("#"+id)))
	}
	if err != nil {
		page, _ := chromedp.Run(ctx, chromedp.Text(chromedp.CSS("main")))
		t.Fatalf("%s: no verdict: %v\npage: %s", pageURL, err, page)
	}
	return attr.Value, text
}

// pageText opens a page and returns the text of the element sel once it
// is visible.
func pageText(ctx context.Context, pageURL, sel string) (string, error) {
	if err := chromedp.Do(ctx, chromedp.Navigate("about:blank"), chromedp.Navigate(pageURL), chromedp.WaitVisible(chromedp.CSS(sel))); err != nil {
		return "", err
	}
	return chromedp.Run(ctx, chromedp.Text(chromedp.CSS(sel)))
}

// searchCount runs a console search and returns the result count line
// and the first result's entry link.
func searchCount(t *testing.T, ctx context.Context, base, q string) (count, firstEntry string) {
	t.Helper()
	count, err := pageText(ctx, base+"#/search?q="+url.QueryEscape(q), "#result-count")
	var links []string
	if err == nil {
		links, err = chromedp.Run(ctx, chromedp.Evaluate[[]string](`Array.from(document.querySelectorAll("a.entry-link"), a => a.getAttribute("href"))`))
	}
	if err != nil {
		t.Fatalf("search %q: %v", q, err)
	}
	if len(links) > 0 {
		firstEntry = links[0]
	}
	return count, firstEntry
}

// tamperingProxy serves the log at target through an
// httputil.ReverseProxy that rewrites responses whose path ends with
// suffix.
func tamperingProxy(t *testing.T, target, suffix string, rewrite func([]byte) []byte) string {
	t.Helper()
	u, err := url.Parse(target)
	if err != nil {
		t.Fatal(err)
	}
	p := httputil.NewSingleHostReverseProxy(u)
	p.ModifyResponse = func(resp *http.Response) error {
		if !strings.HasSuffix(resp.Request.URL.Path, suffix) || resp.StatusCode != http.StatusOK {
			return nil
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			return err
		}
		body = rewrite(body)
		resp.Body = io.NopCloser(bytes.NewReader(body))
		resp.ContentLength = int64(len(body))
		resp.Header.Set("Content-Length", strconv.Itoa(len(body)))
		return nil
	}
	srv := httptest.NewServer(p)
	t.Cleanup(srv.Close)
	return srv.URL
}

// flipProofHash changes one byte of an inclusion proof's first hash.
func flipProofHash(t *testing.T) func([]byte) []byte {
	return func(body []byte) []byte {
		var p map[string]any
		if err := json.Unmarshal(body, &p); err != nil {
			t.Errorf("proxy: inclusion proof is not JSON: %v", err)
			return body
		}
		hashes, _ := p["hashes"].([]any)
		if len(hashes) == 0 {
			t.Errorf("proxy: the inclusion proof has no hash to tamper with")
			return body
		}
		h, _ := base64.StdEncoding.DecodeString(hashes[0].(string))
		h[0] ^= 1
		hashes[0] = base64.StdEncoding.EncodeToString(h)
		out, _ := json.Marshal(p)
		return out
	}
}

// changeCheckpointRoot replaces a checkpoint's root hash, keeping its
// signatures.
func changeCheckpointRoot(body []byte) []byte {
	lines := strings.SplitN(string(body), "\n", 4)
	if len(lines) < 4 {
		return body
	}
	fake := sha256.Sum256([]byte("another tree"))
	lines[2] = base64.StdEncoding.EncodeToString(fake[:])
	return []byte(strings.Join(lines, "\n"))
}

// TestConsole fills `hallmark dev` with cosign (keyless to Rekor v1 as an
// email and as a GitHub workflow identity, keyless to Rekor v2; the CA's
// precertificates to CT) and a raw tiles entry, then checks in Chromium
// that search finds cosign's entries, that an entry of every log kind and
// the checkpoint history show verified, and that a tampered inclusion
// proof and a tampered checkpoint, served by a proxy, show the failure
// and its reason.
func TestConsole(t *testing.T) {
	chromiumPath(t) // skip (or fail under CI) before the setup
	cosign := clientBinary(t, "cosign", "v3.1.3")
	d := startDev(t)
	env := []string{"HOME=" + d.work, "TUF_ROOT=" + filepath.Join(d.work, "tuf")}
	sign := func(file, content, signingConfig string, tokenArgs ...string) string {
		t.Helper()
		os.WriteFile(filepath.Join(d.work, file), []byte(content), 0o644)
		out, err := run(t, d.work, env, cosign, "sign-blob", "--yes", "--signing-config", d.file(signingConfig),
			"--trusted-root", d.file("trusted_root.json"), "--identity-token", d.token(t, tokenArgs...),
			"--bundle", file+".sigstore.json", file)
		if err != nil {
			t.Fatalf("cosign sign-blob %s: %v\n%s", file, err, out)
		}
		sum := sha256.Sum256([]byte(content))
		return hex.EncodeToString(sum[:])
	}
	firstHash := sign("one.txt", "first artifact\n", "signing_config.json")
	sign("two.txt", "second artifact\n", "signing_config.json")
	sign("ci.txt", "built by CI\n", "signing_config.json", "--issuer-type", "github-workflow", "--repository", "acme/widget", "--ref", "refs/heads/main")
	v2Hash := sign("v2.txt", "to Rekor v2\n", "signing_config.v2.json")
	logURL := d.state["log_url"]
	if _, err := appendEntry(context.Background(), logURL+"/tiles", []byte("a plain tiles entry")); err != nil {
		t.Fatal(err)
	}
	base := logURL + "/console/"
	ctx := browser(t) // its deadline runs from here
	if banner, _ := os.ReadFile(d.file("dev.log")); !strings.Contains(string(banner), "Auditor console   "+base) {
		t.Errorf("hallmark dev's banner does not name the console at %s:\n%s", base, banner)
	}

	t.Run("search", func(t *testing.T) {
		count, entry := searchCount(t, ctx, base, "sha256:"+firstHash)
		if !strings.HasPrefix(count, "1 entry found") || entry == "" {
			t.Fatalf("search by artifact hash: %q, first entry %q", count, entry)
		}
		if count, _ := searchCount(t, ctx, base, "developer@hallmark.dev"); !strings.HasPrefix(count, "3 entries found") {
			t.Fatalf("search by email: %q, want cosign's 2 Rekor v1 entries and its Rekor v2 entry", count)
		}
		if count, entry := searchCount(t, ctx, base, v2Hash); !strings.HasPrefix(count, "1 entry found") || entry != "#/entry/rekor-v2/0" {
			t.Fatalf("search by the Rekor v2 entry's artifact hash: %q, first entry %q", count, entry)
		}
		screenshot(t, ctx, "console-search")
		workflow := "https://github.com/acme/widget/.github/workflows/release.yml@refs/heads/main"
		if count, entry := searchCount(t, ctx, base, workflow); !strings.HasPrefix(count, "1 entry found") || entry != "#/entry/rekor-v1/2" {
			t.Errorf("search by workflow identity %s: %q, first entry %q", workflow, count, entry)
		}
		if count, _ := searchCount(t, ctx, base, "nobody@hallmark.dev"); !strings.HasPrefix(count, "0 entries found") {
			t.Fatalf("search for an unknown identity: %q", count)
		}
	})

	t.Run("entries verify", func(t *testing.T) {
		for _, page := range []string{"#/entry/rekor-v1/0", "#/entry/rekor-v1/2", "#/entry/rekor-v2/0", "#/entry/ct/0", "#/entry/tiles/0"} {
			state, text := verdictOf(t, ctx, base+page, "verdict")
			if state != "verified" || !strings.Contains(text, "Verified") {
				t.Errorf("%s: %s: %s", page, state, text)
			}
		}
		verdictOf(t, ctx, base+"#/entry/rekor-v1/1", "verdict")
		identity, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS("#identity")))
		if err != nil || !strings.Contains(identity, "developer@hallmark.dev") {
			t.Errorf("entry page identity: %q, %v", identity, err)
		}
		screenshot(t, ctx, "console-entry")
	})

	t.Run("history verifies", func(t *testing.T) {
		state, text := verdictOf(t, ctx, base+"#/log/rekor-v1", "history-verdict")
		if state != "verified" {
			t.Fatalf("checkpoint history: %s: %s", state, text)
		}
		screenshot(t, ctx, "console-log")
	})

	t.Run("identity page", func(t *testing.T) {
		count, err := pageText(ctx, base+"#/identity/developer@hallmark.dev", "#result-count")
		if err != nil || !strings.HasPrefix(count, "3 entries signed as developer@hallmark.dev") {
			t.Fatalf("identity page: %q, %v", count, err)
		}
	})

	t.Run("auditor's trust root", func(t *testing.T) {
		// hallmark dev's trusted_root.json names the Rekor and CT logs,
		// not the plain tiles log.
		own, err := os.ReadFile(d.file("trusted_root.json"))
		if err != nil {
			t.Fatal(err)
		}
		set := fmt.Sprintf(`localStorage.setItem("hallmark.console.trustedRoot", %q)`, own)
		if err := chromedp.Do(ctx, chromedp.Navigate(base)); err != nil {
			t.Fatal(err)
		}
		if _, err := chromedp.Run(ctx, chromedp.Evaluate[any](set)); err != nil {
			t.Fatal(err)
		}
		defer chromedp.Run(ctx, chromedp.Evaluate[any](`localStorage.clear()`))
		state, text := verdictOf(t, ctx, base+"#/entry/rekor-v1/1", "verdict")
		if state != "verified" {
			t.Errorf("rekor-v1 with the auditor's trust root: %s: %s", state, text)
		}
		banner, _ := chromedp.Run(ctx, chromedp.Text(chromedp.CSS("#trust-banner")))
		if !strings.Contains(banner, "your own trusted_root.json") {
			t.Errorf("trust banner: %q", banner)
		}
		state, text = verdictOf(t, ctx, base+"#/entry/tiles/0", "verdict")
		if state != "failed" || !strings.Contains(text, "no signature of the checkpoint is by a log key of the trust root") {
			t.Errorf("tiles log absent from the auditor's trust root: %s: %s", state, text)
		}
	})

	t.Run("tampered inclusion proof fails", func(t *testing.T) {
		proxy := tamperingProxy(t, logURL, "/proof/inclusion", flipProofHash(t))
		state, text := verdictOf(t, ctx, proxy+"/console/#/entry/rekor-v1/1", "verdict")
		if state != "failed" || !strings.Contains(text, "inclusion proof: the inclusion proof leads to root") {
			t.Fatalf("tampered proof: %s: %s", state, text)
		}
		screenshot(t, ctx, "console-tampered-proof")
	})

	t.Run("tampered checkpoint fails", func(t *testing.T) {
		proxy := tamperingProxy(t, logURL, "/checkpoint", changeCheckpointRoot)
		for _, page := range []string{"#/entry/rekor-v1/1", "#/entry/rekor-v2/0", "#/entry/ct/0"} {
			state, text := verdictOf(t, ctx, proxy+"/console/"+page, "verdict")
			if state != "failed" || !strings.Contains(text, "checkpoint: checkpoint signature invalid") {
				t.Errorf("%s with a tampered checkpoint: %s: %s", page, state, text)
			}
		}
		screenshot(t, ctx, "console-tampered-checkpoint")
	})
}

// TestConsoleInsecureContext opens the console by a host name that is not
// loopback (mapped to 127.0.0.1 inside Chromium): plain HTTP there is not a
// secure context, WebCrypto is missing, and the console says so instead of
// verifying.
func TestConsoleInsecureContext(t *testing.T) {
	chromium := chromiumPath(t)
	p := startLogServer(t, "", logSpec{Name: "main", Kind: "tiles", Path: "/main"})
	if _, err := appendEntry(context.Background(), p.BaseURL, []byte("an entry")); err != nil {
		t.Fatal(err)
	}
	u, _ := url.Parse(p.BaseURL)
	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(chromium), chromedp.NoSandbox, chromedp.DisableGPU,
		chromedp.UserDataDir(t.TempDir()), chromedp.Flag("host-resolver-rules", "MAP console.test 127.0.0.1"))
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelTab := chromedp.NewContext(actx)
	ctx, cancelTimeout := context.WithTimeout(ctx, 2*time.Minute)
	t.Cleanup(func() { cancelTimeout(); cancelTab(); cancelAlloc() })
	base := "http://console.test:" + u.Port() + "/console/"
	banner, err := pageText(ctx, base, "#crypto-banner")
	if err != nil || !strings.Contains(banner, "WebCrypto (crypto.subtle) is unavailable: this page is not a secure context") {
		t.Fatalf("insecure context banner: %q, %v", banner, err)
	}
	state, text := verdictOf(t, ctx, base+"#/entry/main/0", "verdict")
	if state != "failed" || !strings.Contains(text, "Serve the console over HTTPS") {
		t.Fatalf("entry in an insecure context: %s: %s", state, text)
	}
}

// TestConsoleMonitorAlerts runs `hallmark monitor` beside a hallmark-log:
// the monitor follows the log through a proxy that serves a checkpoint
// whose root was changed (its signature no longer verifies), raises an
// alert and keeps it in its state; the console, once console.monitor_url
// names the monitor's listener, shows that alert. Before, it says no
// monitor is configured; with the monitor stopped, that it is unreachable.
func TestConsoleMonitorAlerts(t *testing.T) {
	chromiumPath(t)
	p := startLogServer(t, "", logSpec{Name: "main", Kind: "tiles", Path: "/main", Extra: "    batch: {max_age: 10ms}\n"})
	for i := range 3 {
		if _, err := appendEntry(context.Background(), p.BaseURL, fmt.Appendf(nil, "entry %d", i)); err != nil {
			t.Fatal(err)
		}
	}
	ctx := browser(t)
	base := "http://" + p.addr + "/console/"
	if state, text := verdictOf(t, ctx, base+"#/alerts", "alerts-status"); state != "none" || !strings.Contains(text, "No monitor configured") {
		t.Fatalf("without a monitor: %s: %s", state, text)
	}

	// The monitor, first once (it alerts and exits 3), then as a service
	// with its listener: the alert was kept in its state file.
	dir := t.TempDir()
	der, err := x509.MarshalPKIXPublicKey(p.Logs["main"].Key.Public())
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(dir, "log.pub"), pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}), 0o644)
	forged := tamperingProxy(t, p.BaseURL, "/checkpoint", changeCheckpointRoot)
	cfgPath := filepath.Join(dir, "monitor.yaml")
	os.WriteFile(cfgPath, fmt.Appendf(nil, `poll_interval: 1h
state: {file: %q}
logs:
  - {name: main, kind: tiles, url: %q, origin: %q, public_key_file: log.pub}
`, filepath.Join(dir, "state.json"), forged, p.Logs["main"].Origin), 0o600)
	if out, code := runHallmark(t, "monitor", "--once", "--config", cfgPath); code != 3 || !strings.Contains(out, "invalid_checkpoint_signature") {
		t.Fatalf("monitor --once exited %d, want 3 with a signature alert:\n%s", code, out)
	}
	monAddr := freeAddr(t)
	mon := exec.Command(hallmarkBinary(t, "hallmark"), "monitor", "--config", cfgPath, "--metrics-addr", monAddr)
	monLog, _ := os.Create(filepath.Join(dir, "monitor.log"))
	mon.Stdout, mon.Stderr = monLog, monLog
	if err := mon.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { mon.Wait(); close(exited) }()
	stopMonitor := func() { mon.Process.Kill(); <-exited }
	t.Cleanup(stopMonitor)
	// Ready when its listener answers (the process binds it at start).
	for deadline := time.Now().Add(time.Minute); ; {
		resp, err := http.Get("http://" + monAddr + "/alerts")
		if err == nil {
			resp.Body.Close()
			break
		}
		if time.Now().After(deadline) {
			out, _ := os.ReadFile(filepath.Join(dir, "monitor.log"))
			t.Fatalf("the monitor's listener never answered: %v\n%s", err, out)
		}
		select {
		case <-exited:
			out, _ := os.ReadFile(filepath.Join(dir, "monitor.log"))
			t.Fatalf("hallmark monitor exited:\n%s", out)
		case <-time.After(50 * time.Millisecond):
		}
	}

	// hallmark-log restarted with console.monitor_url.
	f, err := os.OpenFile(p.config, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(f, "console: {monitor_url: %q}\n", "http://"+monAddr)
	f.Close()
	p.kill()
	p.start()
	state, text := verdictOf(t, ctx, base+"#/alerts", "alerts-status")
	if state != "alerts" || !strings.Contains(text, "The monitor at http://"+monAddr+" follows: main") {
		t.Fatalf("with the monitor: %s: %s", state, text)
	}
	table, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS("#alerts")))
	if err != nil || !strings.Contains(table, "invalid_checkpoint_signature") || !strings.Contains(table, "main") {
		t.Fatalf("alerts table: %q %v", table, err)
	}
	screenshot(t, ctx, "console-alerts")

	stopMonitor()
	if state, text := verdictOf(t, ctx, base+"#/alerts", "alerts-status"); state != "unreachable" || !strings.Contains(text, "Monitor unreachable") {
		t.Fatalf("with the monitor stopped: %s: %s", state, text)
	}
}

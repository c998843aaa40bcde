package interop

import (
	"bytes"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hallmark-dev/hallmark/tlog"
	"github.com/hallmark-dev/hallmark/tlog/rekorv2"
	"github.com/hallmark-dev/hallmark/trust/clientconfig"
)

// holdProxy forwards to a service that the test restarts. pause holds new
// requests and waits for those in flight to finish, so that the service
// can be stopped without cutting a request; resume lets them through to
// the restarted service. It counts what it forwarded and every answer of
// 500 or more, and every request it could not forward.
type holdProxy struct {
	mu       sync.Mutex
	cond     *sync.Cond
	paused   bool
	inflight int
	rp       *httputil.ReverseProxy
	tr       *http.Transport
	requests int
	failures []string
}

func newHoldProxy(t *testing.T, backend string) (*holdProxy, string) {
	t.Helper()
	p := &holdProxy{tr: &http.Transport{}}
	p.cond = sync.NewCond(&p.mu)
	target, _ := url.Parse("http://" + backend)
	p.rp = httputil.NewSingleHostReverseProxy(target)
	p.rp.Transport = p.tr
	p.rp.ErrorHandler = func(w http.ResponseWriter, r *http.Request, err error) {
		p.fail(fmt.Sprintf("%s %s: %v", r.Method, r.URL.Path, err))
		http.Error(w, err.Error(), http.StatusBadGateway)
	}
	p.rp.ModifyResponse = func(resp *http.Response) error {
		if resp.StatusCode >= 500 {
			p.fail(fmt.Sprintf("%s %s: %s", resp.Request.Method, resp.Request.URL.Path, resp.Status))
		}
		return nil
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: p}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	addr := ln.Addr().String()
	return p, addr
}

func (p *holdProxy) fail(s string) {
	p.mu.Lock()
	p.failures = append(p.failures, s)
	p.mu.Unlock()
}

func (p *holdProxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	p.mu.Lock()
	for p.paused {
		p.cond.Wait()
	}
	p.inflight++
	p.requests++
	p.mu.Unlock()
	defer func() {
		p.mu.Lock()
		p.inflight--
		p.cond.Broadcast()
		p.mu.Unlock()
	}()
	p.rp.ServeHTTP(w, r)
}

// restart stops new requests, waits for those in flight, runs restart and
// lets the held requests through to the restarted service.
func (p *holdProxy) restart(restart func()) {
	p.mu.Lock()
	p.paused = true
	for p.inflight > 0 {
		p.cond.Wait()
	}
	p.mu.Unlock()
	restart()
	p.tr.CloseIdleConnections()
	p.mu.Lock()
	p.paused = false
	p.cond.Broadcast()
	p.mu.Unlock()
}

func (p *holdProxy) counts() (int, []string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.requests, append([]string(nil), p.failures...)
}

// signLoop runs cosign sign-blob keyless, one signature after another,
// until stopped, and records each result.
type signLoop struct {
	mu      sync.Mutex
	cond    *sync.Cond
	results []signResult
	stop    chan struct{}
	done    chan struct{}
}

type signResult struct {
	name  string
	phase string
	err   error
	out   string
}

// wait returns once n more signatures have finished.
func (l *signLoop) wait(n int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	want := len(l.results) + n
	for len(l.results) < want {
		select {
		case <-l.done:
			return
		default:
		}
		l.cond.Wait()
	}
}

// TestRotationThroughTUF rotates the CA intermediate, the TSA certificate
// and a Rekor v2 log key (a new shard, then the old one frozen) while
// cosign v3.1.3, fed only by the TUF repository of `hallmark dev`
// (`cosign initialize --mirror --root`, no --trusted-root or
// --signing-config), signs keyless in a loop with the TSA. Each new trusted
// root and signing config is published with `hallmark tuf update`. The CA
// (with the TSA) and the log are our own processes on the dev deployment's
// files, each behind a proxy that holds requests while the process
// restarts. No signature may fail, no request through the proxies may get
// an error, and at the end every bundle verifies with cosign against the
// trusted root it refreshes from TUF.
func TestRotationThroughTUF(t *testing.T) {
	if testing.Short() {
		t.Skip("long")
	}
	cosign := clientBinary(t, "cosign", "v3.1.3")
	hallmark := hallmarkBinary(t, "hallmark")
	d := startDev(t)
	work := d.work
	repoArgs := []string{"--repo", filepath.Join(d.dir, "tuf", "repository"), "--keys", filepath.Join(d.dir, "tuf", "keys")}
	mustRun := func(bin string, args ...string) string {
		t.Helper()
		out, err := exec.Command(bin, args...).CombinedOutput()
		if err != nil {
			t.Fatalf("%s %s: %v\n%s", filepath.Base(bin), strings.Join(args, " "), err, out)
		}
		return string(out)
	}

	// hallmark-ca (with the TSA) on the dev deployment's keys, behind a proxy.
	ca := &caProc{t: t, addr: freeAddr(t), config: filepath.Join(work, "hallmark-ca.yaml")}
	caProxy, caProxyAddr := newHoldProxy(t, ca.addr)
	raw, _ := os.ReadFile(d.file("hallmark-ca.yaml"))
	raw = regexp.MustCompile(`(?m)^listen:.*$`).ReplaceAll(raw, []byte(`listen: {http: "`+ca.addr+`", grpc: "off"}`))
	os.WriteFile(ca.config, raw, 0o600)
	ca.start()
	t.Cleanup(ca.stop)

	// A Rekor v2 log of our own (SQLite), public URL on its proxy.
	lp := &logProc{t: t, dir: t.TempDir(), addr: freeAddr(t)}
	logProxy, logProxyAddr := newHoldProxy(t, lp.addr)
	lp.config = filepath.Join(lp.dir, "hallmark-log.yaml")
	keyPEM, _ := tlog.GenerateKey("ed25519")
	os.WriteFile(filepath.Join(lp.dir, "shard1.pem"), keyPEM, 0o600)
	key1, _ := tlog.ParsePrivateKey(keyPEM)
	os.WriteFile(lp.config, fmt.Appendf(nil, `listen: {http: %q, grpc: "off"}
database: {sqlite: %q}
logs:
  - name: shard1
    kind: rekor-v2
    url: http://%s/shard1
    key_file: shard1.pem
    batch: {max_age: 10ms}
`, lp.addr, filepath.Join(lp.dir, "log.db"), logProxyAddr), 0o600)
	lp.start()
	t.Cleanup(lp.kill)

	// The trusted root: the dev deployment's plus shard1; the signing
	// config: the dev one for Rekor v2, with the CA, the TSA and the log
	// behind the proxies. Published through TUF.
	trPath, scPath := filepath.Join(work, "trusted_root.json"), filepath.Join(work, "signing_config.json")
	keyID, _ := rekorv2.KeyHash("127.0.0.1", key1.Public())
	logTR, err := clientconfig.TrustedRoot(clientconfig.TrustedRootParams{Tlogs: []clientconfig.Log{
		{BaseURL: "http://" + logProxyAddr + "/shard1", PublicKey: key1.Public(), KeyID: keyID[:], Start: time.Now().Add(-time.Hour)}}})
	if err != nil {
		t.Fatal(err)
	}
	var devTR, ours map[string]any
	raw, _ = os.ReadFile(d.file("trusted_root.json"))
	if err := json.Unmarshal(raw, &devTR); err != nil {
		t.Fatal(err)
	}
	json.Unmarshal(logTR, &ours)
	devTR["tlogs"] = append(devTR["tlogs"].([]any), ours["tlogs"].([]any)...)
	raw, _ = json.MarshalIndent(devTR, "", "  ")
	os.WriteFile(trPath, raw, 0o644)
	devCA := strings.TrimPrefix(d.state["ca_url"], "http://")
	sc, _ := os.ReadFile(d.file("signing_config.v2.json"))
	sc = bytes.ReplaceAll(sc, []byte(d.state["rekor_v2_url"]), []byte("http://"+logProxyAddr+"/shard1"))
	sc = bytes.ReplaceAll(sc, []byte(devCA), []byte(caProxyAddr))
	if !bytes.Contains(sc, []byte(logProxyAddr)) || !bytes.Contains(sc, []byte("/api/v1/timestamp")) {
		t.Fatalf("signing config names no log behind the proxy or no TSA:\n%s", sc)
	}
	os.WriteFile(scPath, sc, 0o644)
	publish := func(what string) {
		t.Helper()
		out := mustRun(hallmark, append([]string{"tuf", "update", "--trusted-root", trPath, "--signing-config", scPath}, repoArgs...)...)
		t.Logf("published %s: %s", what, strings.TrimSpace(out))
	}
	publish("the trusted root and signing config with shard1 and the proxies")

	env := []string{"HOME=" + work, "TUF_ROOT=" + filepath.Join(work, "tuf")}
	if out, err := run(t, work, env, cosign, "initialize", "--mirror", d.state["tuf_url"], "--root", d.state["tuf_root"]); err != nil {
		t.Fatalf("cosign initialize: %v\n%s", err, out)
	}

	// The signing loop.
	l := &signLoop{stop: make(chan struct{}), done: make(chan struct{})}
	l.cond = sync.NewCond(&l.mu)
	var phaseMu sync.Mutex
	phase := "before any rotation"
	go func() {
		defer func() { l.mu.Lock(); close(l.done); l.cond.Broadcast(); l.mu.Unlock() }()
		for i := 0; ; i++ {
			select {
			case <-l.stop:
				return
			default:
			}
			phaseMu.Lock()
			ph := phase
			phaseMu.Unlock()
			name := fmt.Sprintf("b%03d", i)
			os.WriteFile(filepath.Join(work, name+".txt"), []byte(name+" signed "+ph+"\n"), 0o644)
			r := signResult{name: name, phase: ph}
			tok, err := exec.Command(hallmark, "dev", "token", "--dir", d.dir).Output()
			if err == nil {
				tokPath := filepath.Join(work, name+".token")
				os.WriteFile(tokPath, tok, 0o600)
				r.out, r.err = run(t, work, env, cosign, "sign-blob", "--yes", "--identity-token", tokPath,
					"--bundle", name+".sigstore.json", name+".txt")
			} else {
				r.err = fmt.Errorf("hallmark dev token: %w", err)
			}
			if r.err != nil {
				t.Logf("signature %s (%s) failed: %v", name, ph, r.err)
			}
			l.mu.Lock()
			l.results = append(l.results, r)
			l.cond.Broadcast()
			l.mu.Unlock()
		}
	}()
	stopped := false
	stopLoop := func() {
		if !stopped {
			stopped = true
			close(l.stop)
			<-l.done
		}
	}
	t.Cleanup(stopLoop)
	setPhase := func(s string) {
		phaseMu.Lock()
		phase = s
		phaseMu.Unlock()
	}
	l.wait(2)

	// 1. The CA intermediate, then 2. the TSA certificate: rotate (the
	// files and the trusted root), publish through TUF, restart behind
	// the proxy.
	for _, step := range []struct{ cmd, after string }{
		{"rotate-intermediate", "after the CA intermediate rotation"},
		{"rotate-tsa", "after the TSA rotation"},
	} {
		out := mustRun(hallmarkBinary(t, "hallmark-ca"), step.cmd, "-config", ca.config, "-dir", filepath.Join(d.dir, "ca"),
			"-password-file", filepath.Join(d.dir, "ca", "password"), "-trusted-root", trPath, "-overlap", "30m")
		t.Logf("hallmark-ca %s: %s", step.cmd, strings.TrimSpace(out))
		publish("the trusted root after " + step.cmd)
		caProxy.restart(func() { ca.stop(); ca.start() })
		setPhase(step.after)
		l.wait(2)
	}

	// 3. The log key: open shard2 (new key) first in the signing config,
	// roll the log, publish (a Rekor v2 shard needs its own host name,
	// its checkpoint origin: localhost stands in for log2.example.com);
	// once every signature that could have read
	// the old signing config is done, freeze shard1, publish, roll.
	out := mustRun(hallmark, "log", "rotate", "open", "--config", lp.config, "--log", "shard1", "--name", "shard2",
		"--url", "http://"+strings.Replace(logProxyAddr, "127.0.0.1", "localhost", 1)+"/shard2", "--key-out", "shard2.pem", "--trusted-root", trPath, "--signing-config", scPath)
	t.Logf("log rotate open: %s", strings.TrimSpace(out))
	logProxy.restart(func() { lp.kill(); lp.start() })
	publish("the trusted root and signing config with shard2")
	setPhase("after shard2 opened")
	l.wait(2)
	out = mustRun(hallmark, "log", "rotate", "freeze", "--config", lp.config, "--log", "shard1", "--trusted-root", trPath, "--signing-config", scPath)
	t.Logf("log rotate freeze: %s", strings.TrimSpace(out))
	publish("the trusted root and signing config with shard1 frozen")
	logProxy.restart(func() { lp.kill(); lp.start() })
	setPhase("after shard1 frozen")
	l.wait(2)
	stopLoop()

	// No signature failed, no request through the proxies failed.
	l.mu.Lock()
	results := append([]signResult(nil), l.results...)
	l.mu.Unlock()
	perPhase := map[string]int{}
	for _, r := range results {
		perPhase[r.phase]++
		if r.err != nil {
			t.Errorf("signature %s (%s) failed: %v\n%s", r.name, r.phase, r.err, r.out)
		}
	}
	for name, p := range map[string]*holdProxy{"hallmark-ca": caProxy, "hallmark-log": logProxy} {
		n, fails := p.counts()
		t.Logf("%s proxy: %d requests, %d failed", name, n, len(fails))
		for _, f := range fails {
			t.Errorf("%s proxy: %s", name, f)
		}
	}
	t.Logf("%d signatures: %v", len(results), perPhase)
	if t.Failed() {
		return
	}

	// Every bundle verifies against the trusted root cosign refreshes from
	// TUF; the bundles span both intermediates and both shards.
	issuers, logIDs := map[string]bool{}, map[string]bool{}
	for _, r := range results {
		out, err := run(t, work, env, cosign, "verify-blob", "--bundle", r.name+".sigstore.json",
			"--certificate-identity", "developer@hallmark.dev", "--certificate-oidc-issuer", d.state["email_issuer_url"], r.name+".txt")
		if err != nil || !strings.Contains(out, "Verified OK") {
			t.Errorf("cosign v3 verify-blob of %s (signed %s) with the trusted root from TUF: %v\n%s", r.name, r.phase, err, out)
		}
		var b struct {
			VerificationMaterial struct {
				Certificate struct{ RawBytes []byte } `json:"certificate"`
				TlogEntries []struct {
					LogID struct{ KeyID string } `json:"logId"`
				} `json:"tlogEntries"`
				TimestampVerificationData struct {
					RFC3161Timestamps []struct{ SignedTimestamp []byte } `json:"rfc3161Timestamps"`
				} `json:"timestampVerificationData"`
			} `json:"verificationMaterial"`
		}
		raw, _ := os.ReadFile(filepath.Join(work, r.name+".sigstore.json"))
		if err := json.Unmarshal(raw, &b); err != nil {
			t.Fatal(err)
		}
		if len(b.VerificationMaterial.TimestampVerificationData.RFC3161Timestamps) == 0 || len(b.VerificationMaterial.TlogEntries) == 0 {
			t.Errorf("bundle %s has no RFC 3161 timestamp or no tlog entry", r.name)
			continue
		}
		logIDs[b.VerificationMaterial.TlogEntries[0].LogID.KeyID] = true
		if leaf, err := x509.ParseCertificate(b.VerificationMaterial.Certificate.RawBytes); err == nil {
			issuers[string(leaf.AuthorityKeyId)] = true
		}
	}
	if len(logIDs) != 2 || len(issuers) != 2 {
		t.Errorf("bundles from %d logs and %d intermediates, want 2 and 2", len(logIDs), len(issuers))
	}

	// The last bundle came from the new intermediate, the new TSA
	// certificate and shard2 only: it verifies against the final trusted
	// root stripped of the old intermediate, the old TSA chain and shard1;
	// the first bundle does not.
	var final map[string]any
	raw, _ = os.ReadFile(trPath)
	if err := json.Unmarshal(raw, &final); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"certificateAuthorities", "timestampAuthorities"} {
		if l := final[k].([]any); len(l) != 2 {
			t.Fatalf("final trusted root has %d %s, want 2", len(l), k)
		} else {
			final[k] = l[1:]
		}
	}
	var tlogs []any
	for _, tl := range final["tlogs"].([]any) {
		if !strings.HasSuffix(tl.(map[string]any)["baseUrl"].(string), "/shard1") {
			tlogs = append(tlogs, tl)
		}
	}
	final["tlogs"] = tlogs
	raw, _ = json.Marshal(final)
	newOnly := filepath.Join(work, "trusted_root.new-only.json")
	os.WriteFile(newOnly, raw, 0o644)
	verifyNewOnly := func(name string) (string, error) {
		return run(t, work, env, cosign, "verify-blob", "--bundle", name+".sigstore.json", "--trusted-root", newOnly,
			"--certificate-identity", "developer@hallmark.dev", "--certificate-oidc-issuer", d.state["email_issuer_url"], name+".txt")
	}
	last := results[len(results)-1].name
	if out, err := verifyNewOnly(last); err != nil {
		t.Errorf("the last bundle (%s) does not verify with only the new intermediate, TSA chain and shard2: %v\n%s", last, err, out)
	}
	out, err = verifyNewOnly(results[0].name)
	mustFail(t, "the first bundle against a trusted root with only the new intermediate, TSA chain and shard2", out, err, "")
}

package interop

// `hallmark monitor` and `hallmark verify` against real hallmark-log
// processes: identity alerts on Rekor v1 and v2 logs, and a fork (two
// servers, two databases, one key and origin) behind one URL.

import (
	"bytes"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	protocommon "github.com/sigstore/protobuf-specs/gen/pb-go/common/v1"
	protorekor "github.com/sigstore/protobuf-specs/gen/pb-go/rekor/v1"
	rekortilespb "github.com/sigstore/rekor-tiles/v2/pkg/generated/protobuf"
	"github.com/sigstore/sigstore-go/pkg/sign"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/hallmark-dev/hallmark/audit"
	"github.com/hallmark-dev/hallmark/audit/audittest"
	"github.com/hallmark-dev/hallmark/internal/pgtest"
	"github.com/hallmark-dev/hallmark/tlog"
	"github.com/hallmark-dev/hallmark/tlog/rekorv2"
	"github.com/hallmark-dev/hallmark/trust/clientconfig"
)

func sha256Sum(b []byte) [32]byte { return sha256.Sum256(b) }

var (
	caOnce   sync.Once
	sharedCA *audittest.CA
	caErr    error
)

// fulcioCA is a Fulcio-like CA shared by the tests of a run.
func fulcioCA(t testing.TB) *audittest.CA {
	caOnce.Do(func() { sharedCA, caErr = audittest.NewCA() })
	if caErr != nil {
		t.Fatal(caErr)
	}
	return sharedCA
}

func issue(t testing.TB, subject, issuer string) *audittest.Leaf {
	l, err := fulcioCA(t).Issue(subject, issuer)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// postV2Signed logs a hashedrekord 0.0.2 entry signed with leaf's
// certificate over REST and returns its index.
func postV2Signed(t testing.TB, logURL string, leaf *audittest.Leaf, artifact []byte) uint64 {
	t.Helper()
	d := sha256.Sum256(artifact)
	sig, err := leaf.SignDigest(d[:])
	if err != nil {
		t.Fatal(err)
	}
	req := &rekorv2.CreateEntryRequest{Spec: &rekortilespb.CreateEntryRequest_HashedRekordRequestV002{
		HashedRekordRequestV002: &rekortilespb.HashedRekordRequestV002{Digest: d[:], Signature: &rekortilespb.Signature{
			Content: sig, Verifier: &rekortilespb.Verifier{
				Verifier:   &rekortilespb.Verifier_X509Certificate{X509Certificate: &protocommon.X509Certificate{RawBytes: leaf.DER}},
				KeyDetails: protocommon.PublicKeyDetails_PKIX_ECDSA_P256_SHA_256,
			}}}}}
	body, _ := protojson.Marshal(req)
	resp, err := http.Post(logURL+"/api/v2/log/entries", "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 201 {
		t.Fatalf("v2 create: %d %s", resp.StatusCode, b)
	}
	var tle protorekor.TransparencyLogEntry
	if err := (protojson.UnmarshalOptions{DiscardUnknown: true}).Unmarshal(b, &tle); err != nil {
		t.Fatal(err)
	}
	return uint64(tle.GetLogIndex())
}

// postV1 submits a Rekor v1 proposed entry and returns its index.
func postV1(t testing.TB, logURL string, entry any) uint64 {
	t.Helper()
	body, err := json.Marshal(entry)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.Post(strings.TrimSuffix(logURL, "/")+"/api/v1/log/entries", "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 201 {
		t.Fatalf("v1 create: %d %s", resp.StatusCode, b)
	}
	var m map[string]struct {
		LogIndex uint64 `json:"logIndex"`
	}
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	for _, e := range m {
		return e.LogIndex
	}
	t.Fatal("v1 create: empty answer")
	return 0
}

// v1CertEntry is a hashedrekord 0.0.1 proposed entry signed by a leaf
// certificate (PEM), as cosign sends for keyless signing.
func v1CertEntry(t testing.TB, leaf *audittest.Leaf, artifact []byte) any {
	d := sha256.Sum256(artifact)
	sig, err := leaf.SignDigest(d[:])
	if err != nil {
		t.Fatal(err)
	}
	certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: leaf.DER})
	return map[string]any{"apiVersion": "0.0.1", "kind": "hashedrekord", "spec": map[string]any{
		"data":      map[string]any{"hash": map[string]string{"algorithm": "sha256", "value": hex.EncodeToString(d[:])}},
		"signature": map[string]any{"content": base64.StdEncoding.EncodeToString(sig), "publicKey": map[string]string{"content": base64.StdEncoding.EncodeToString(certPEM)}},
	}}
}

// alertHook collects the monitor's webhook alerts.
type alertHook struct {
	srv    *httptest.Server
	mu     sync.Mutex
	alerts []audit.Alert
	at     []time.Time
}

func newAlertHook(t testing.TB) *alertHook {
	h := &alertHook{}
	h.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var a audit.Alert
		if err := json.NewDecoder(r.Body).Decode(&a); err != nil {
			t.Errorf("webhook: %v", err)
		}
		h.mu.Lock()
		h.alerts = append(h.alerts, a)
		h.at = append(h.at, time.Now())
		h.mu.Unlock()
	}))
	t.Cleanup(h.srv.Close)
	return h
}

func (h *alertHook) take() []audit.Alert {
	h.mu.Lock()
	defer h.mu.Unlock()
	a := h.alerts
	h.alerts, h.at = nil, nil
	return a
}

// summary lists alerts as "type log@index", sorted by arrival.
func summary(as []audit.Alert) string {
	var out []string
	for _, a := range as {
		s := a.Type + " " + a.Log
		if a.Index != nil {
			s += fmt.Sprintf("@%d", *a.Index)
		}
		out = append(out, s)
	}
	return strings.Join(out, ", ")
}

// writeTrustedRoot writes a trusted_root.json for the logs, as `hallmark
// dev` does: v2 log IDs are note key hashes, v1 log IDs SHA-256 of the key;
// the test CA is its certificate authority.
func writeTrustedRoot(t testing.TB, dir string, v2s []*servedLog, v1s []*servedLog, baseURL map[*servedLog]string) string {
	var tl []clientconfig.Log
	for _, l := range v2s {
		id, err := rekorv2.KeyHash(l.Origin, l.Key.Public())
		if err != nil {
			t.Fatal(err)
		}
		u := l.URL
		if baseURL[l] != "" {
			u = baseURL[l]
		}
		tl = append(tl, clientconfig.Log{BaseURL: u, PublicKey: l.Key.Public(), KeyID: id[:], Start: time.Now().Add(-time.Hour)})
	}
	for _, l := range v1s {
		tl = append(tl, clientconfig.Log{BaseURL: l.URL, PublicKey: l.Key.Public(), Start: time.Now().Add(-time.Hour)})
	}
	raw, err := clientconfig.TrustedRoot(clientconfig.TrustedRootParams{Tlogs: tl, CertificateAuthorities: []clientconfig.Authority{
		{URI: "https://ca.acme.example", Chain: []*x509.Certificate{fulcioCA(t).Cert}, Start: time.Now().Add(-time.Hour)}}})
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, "trusted_root.json")
	if err := os.WriteFile(p, raw, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// runHallmark runs the hallmark CLI and returns its output and exit code.
func runHallmark(t testing.TB, args ...string) (string, int) {
	t.Helper()
	cmd := exec.Command(hallmarkBinary(t, "hallmark"), args...)
	out, err := cmd.CombinedOutput()
	var exit *exec.ExitError
	if errors.As(err, &exit) {
		return string(out), exit.ExitCode()
	}
	if err != nil {
		t.Fatal(err)
	}
	return string(out), 0
}

// TestMonitorIdentityAlerts: entries signed by a watched identity, and by an
// identity outside the allow list, raise alerts in Rekor v1 and v2 logs;
// an allowed identity does not. `hallmark monitor --once` exits 3 when it
// alerted and 0 when all is well. State in a file (SQLite log) or in
// PostgreSQL (PostgreSQL log).
func TestMonitorIdentityAlerts(t *testing.T) {
	stores(t, func(t *testing.T, dbURL string) {
		p := startLogServer(t, dbURL,
			logSpec{Name: "v2", Kind: "rekor-v2", Path: "/v2", Extra: "    batch: {max_age: 10ms}\n"},
			v1Spec("/v1"))
		v2, v1 := p.Logs["v2"], p.Logs["rekor"]
		const ci = "https://ci.acme.example"
		watched := issue(t, "https://git.acme.example/acme/app/.ci/release.yml@refs/tags/v1", ci)
		allowed := issue(t, "dev@acme.example", ci)
		rogue := issue(t, "mallory@evil.example", "https://evil.example")

		want := map[string]bool{}
		for i := 0; i < 5; i++ {
			postV2Signed(t, v2.URL, allowed, fmt.Appendf(nil, "v2 allowed %d", i))
			postV1(t, v1.URL, v1CertEntry(t, allowed, fmt.Appendf(nil, "v1 allowed %d", i)))
		}
		want[fmt.Sprintf("watched_identity v2@%d", postV2Signed(t, v2.URL, watched, []byte("v2 release")))] = true
		want[fmt.Sprintf("unexpected_identity v2@%d", postV2Signed(t, v2.URL, rogue, []byte("v2 rogue")))] = true
		want[fmt.Sprintf("watched_identity v1@%d", postV1(t, v1.URL, v1CertEntry(t, watched, []byte("v1 release"))))] = true
		want[fmt.Sprintf("unexpected_identity v1@%d", postV1(t, v1.URL, v1CertEntry(t, rogue, []byte("v1 rogue"))))] = true
		// A key-signed v1 entry has no identity to judge.
		postV1(t, v1.URL, newV1Signer(t).hashedrekord(t, []byte("v1 keyed")))
		// A self-made certificate claiming the watched identity proves
		// nothing: no trusted CA issued it.
		forger, _ := audittest.NewCA()
		forged, _ := forger.Issue("https://git.acme.example/acme/app/.ci/release.yml@refs/tags/v2", ci)
		postV2Signed(t, v2.URL, forged, []byte("v2 forged"))
		postV1(t, v1.URL, v1CertEntry(t, forged, []byte("v1 forged")))

		dir := t.TempDir()
		hook := newAlertHook(t)
		state := fmt.Sprintf("file: %q", filepath.Join(dir, "state.json"))
		if dbURL != "" {
			state = fmt.Sprintf("database_url: %q", pgtest.URL(t))
		}
		cfg := fmt.Sprintf(`poll_interval: 1s
state: {%s}
trusted_root: %s
webhook: {url: %q}
identities:
  watch: [{subject: 'https://git\.acme\.example/acme/app/\.ci/release\.yml@refs/tags/.*'}]
  allow: [{issuer: 'https://ci\.acme\.example'}]
logs:
  - {name: v2, kind: rekor-v2, url: %q}
  - {name: v1, kind: rekor-v1, url: %q}
`, state, writeTrustedRoot(t, dir, []*servedLog{v2}, []*servedLog{v1}, nil), hook.srv.URL, v2.URL, v1.URL)
		cfgPath := filepath.Join(dir, "monitor.yaml")
		os.WriteFile(cfgPath, []byte(cfg), 0o600)

		out, code := runHallmark(t, "monitor", "--once", "--config", cfgPath)
		if code != 3 {
			t.Fatalf("monitor --once exited %d, want 3 (alerts):\n%s", code, out)
		}
		got := hook.take()
		if len(got) != len(want) {
			t.Fatalf("alerts: %s; want %v\n%s", summary(got), want, out)
		}
		for _, a := range got {
			if !want[summary([]audit.Alert{a})] {
				t.Errorf("unexpected alert %s", summary([]audit.Alert{a}))
			}
			if a.Type == audit.AlertWatchedIdentity && (a.Issuer != ci || len(a.Subjects) != 1 || !strings.HasPrefix(a.Subjects[0], "https://git.acme.example/")) {
				t.Errorf("watched alert lacks the identity: %+v", a)
			}
		}
		if !strings.Contains(out, "ALERT") {
			t.Errorf("no ALERT log line:\n%s", out)
		}

		// More allowed entries: the next run scans only them, and is quiet.
		for i := 0; i < 3; i++ {
			postV2Signed(t, v2.URL, allowed, fmt.Appendf(nil, "v2 allowed again %d", i))
			postV1(t, v1.URL, v1CertEntry(t, allowed, fmt.Appendf(nil, "v1 allowed again %d", i)))
		}
		out, code = runHallmark(t, "monitor", "--once", "--config", cfgPath)
		if code != 0 || len(hook.take()) != 0 {
			t.Fatalf("second run exited %d:\n%s", code, out)
		}
	})
}

// startForkedLog starts a hallmark-log process serving a rekor-v2 log at
// the root with the given key (so two processes can share a key), on its
// own database.
func startForkedLog(t testing.TB, dbURL string, keyPEM []byte) *logProc {
	t.Helper()
	dir := t.TempDir()
	addr := freeAddr(t)
	p := &logProc{t: t, dir: dir, addr: addr, grpc: freeAddr(t), Logs: map[string]*servedLog{}}
	db := fmt.Sprintf("sqlite: %q", filepath.Join(dir, "log.db"))
	if dbURL != "" {
		db = fmt.Sprintf("url: %q", dbURL)
	}
	os.WriteFile(filepath.Join(dir, "log.pem"), keyPEM, 0o600)
	cfg := fmt.Sprintf("listen: {http: %q, grpc: %q}\ndatabase: {%s}\nlogs:\n  - {name: v2, kind: rekor-v2, url: 'http://%s', key_file: log.pem, batch: {max_age: 10ms}}\n", addr, p.grpc, db, addr)
	p.config = filepath.Join(dir, "hallmark-log.yaml")
	os.WriteFile(p.config, []byte(cfg), 0o600)
	key, _ := tlog.ParsePrivateKey(keyPEM)
	p.BaseURL, p.Origin = "http://"+addr, "127.0.0.1"
	p.Logs["v2"] = &servedLog{logSpec: logSpec{Name: "v2", Kind: "rekor-v2"}, URL: p.BaseURL, Origin: p.Origin, Key: key}
	p.start()
	t.Cleanup(p.kill)
	return p
}

// switchProxy forwards to one backend, then another.
type switchProxy struct {
	srv     *httptest.Server
	backend atomic.Pointer[httputil.ReverseProxy]
}

func newSwitchProxy(t testing.TB, to string) *switchProxy {
	s := &switchProxy{}
	s.point(to)
	s.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { s.backend.Load().ServeHTTP(w, r) }))
	t.Cleanup(s.srv.Close)
	return s
}

func (s *switchProxy) point(to string) {
	u, _ := url.Parse(to)
	s.backend.Store(httputil.NewSingleHostReverseProxy(u))
}

// bundleFrom signs an artifact with sigstore-go against a Rekor v2 log and
// writes the bundle.
func bundleFrom(t testing.TB, logURL, path string, artifact []byte) {
	t.Helper()
	kp, err := sign.NewEphemeralKeypair(nil)
	if err != nil {
		t.Fatal(err)
	}
	pb, err := sign.Bundle(&sign.PlainData{Data: artifact}, kp, sign.BundleOptions{
		TransparencyLogs: []sign.Transparency{sign.NewRekor(&sign.RekorOptions{BaseURL: logURL, Version: 2})}})
	if err != nil {
		t.Fatal(err)
	}
	js, _ := protojson.Marshal(pb)
	if err := os.WriteFile(path, js, 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestMonitorDetectsFork: two hallmark-log processes on two databases, one
// key, one origin, different entries — a split view. A monitor that
// verified the first through a URL alerts within one poll when the URL
// serves the second; `hallmark verify` rejects a bundle from the fork (and
// accepts one from the real log).
func TestMonitorDetectsFork(t *testing.T) {
	stores(t, func(t *testing.T, dbURL string) {
		keyPEM, _ := tlog.GenerateKey("ed25519")
		dbA, dbB := dbURL, dbURL
		if dbURL != "" {
			dbA, dbB = pgtest.URL(t), pgtest.URL(t)
		}
		a, b := startForkedLog(t, dbA, keyPEM), startForkedLog(t, dbB, keyPEM)
		for i := 0; i < 10; i++ {
			postV2Signed(t, a.BaseURL, issue(t, "dev@acme.example", "https://ci.acme.example"), fmt.Appendf(nil, "real %d", i))
		}
		for i := 0; i < 25; i++ {
			postV2Signed(t, b.BaseURL, issue(t, "dev@acme.example", "https://ci.acme.example"), fmt.Appendf(nil, "fork %d", i))
		}
		dir := t.TempDir()
		artifact := []byte("release artifact")
		os.WriteFile(filepath.Join(dir, "artifact"), artifact, 0o644)
		bundleFrom(t, a.BaseURL, filepath.Join(dir, "real.bundle.json"), artifact)
		bundleFrom(t, b.BaseURL, filepath.Join(dir, "fork.bundle.json"), artifact)

		proxy := newSwitchProxy(t, a.BaseURL)
		la := a.Logs["v2"]
		tr := writeTrustedRoot(t, dir, []*servedLog{la}, nil, map[*servedLog]string{la: proxy.srv.URL})
		hook := newAlertHook(t)
		const poll = 300 * time.Millisecond
		cfgPath := filepath.Join(dir, "monitor.yaml")
		os.WriteFile(cfgPath, fmt.Appendf(nil, "poll_interval: %s\nstate: {file: state.json}\ntrusted_root: %s\nwebhook: {url: %q}\nlogs:\n  - {name: prod, kind: rekor-v2, url: %q}\n",
			poll, tr, hook.srv.URL, proxy.srv.URL), 0o600)

		// Both bundles verify on their own (offline)...
		verify := func(bundle string) (string, int) {
			return runHallmark(t, "verify", "--bundle", filepath.Join(dir, bundle), "--trusted-root", tr, filepath.Join(dir, "artifact"))
		}
		if out, code := runHallmark(t, "verify", "--offline", "--bundle", filepath.Join(dir, "fork.bundle.json"), "--trusted-root", tr, filepath.Join(dir, "artifact")); code != 0 {
			t.Fatalf("offline verify of the fork's bundle exited %d:\n%s", code, out)
		}
		// ...but online, the real log's bundle verifies and the fork's does not.
		if out, code := verify("real.bundle.json"); code != 0 || !strings.Contains(out, "VERIFIED") {
			t.Fatalf("verify of the real log's bundle exited %d:\n%s", code, out)
		}
		out, code := verify("fork.bundle.json")
		if code == 0 || !strings.Contains(out, "INCONSISTENT") {
			t.Fatalf("verify of the fork's bundle against the real log exited %d:\n%s", code, out)
		}
		t.Logf("hallmark verify on the fork's bundle:\n%s", out)

		// The monitor follows the real log through the proxy.
		mon := exec.Command(hallmarkBinary(t, "hallmark"), "monitor", "--config", cfgPath)
		mon.Dir = dir
		logf, _ := os.Create(filepath.Join(dir, "monitor.log"))
		mon.Stdout, mon.Stderr = logf, logf
		if err := mon.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { mon.Process.Kill(); mon.Wait(); logf.Close() })
		waitState(t, filepath.Join(dir, "state.json"), "prod", "127.0.0.1\n11\n", 11)

		proxy.point(b.BaseURL)
		switched := time.Now()
		var alerts []audit.Alert
		for time.Since(switched) < 10*poll && len(alerts) == 0 {
			time.Sleep(20 * time.Millisecond)
			alerts = hook.take()
		}
		took := time.Since(switched)
		if len(alerts) != 1 || alerts[0].Type != audit.AlertInconsistent {
			b, _ := os.ReadFile(filepath.Join(dir, "monitor.log"))
			t.Fatalf("after the switch: alerts %s\n%s", summary(alerts), b)
		}
		if !strings.HasPrefix(alerts[0].VerifiedCheckpoint, "127.0.0.1\n11\n") || !strings.HasPrefix(alerts[0].NewCheckpoint, "127.0.0.1\n26\n") {
			t.Fatalf("alert evidence: %+v", alerts[0])
		}
		if took > poll+time.Second {
			t.Fatalf("fork detected after %v, more than one poll interval (%v)", took, poll)
		}
		t.Logf("fork detected %v after the switch (poll interval %v)", took.Round(time.Millisecond), poll)

		// A one-shot run from the same state sees it too.
		mon.Process.Kill()
		if out, code := runHallmark(t, "monitor", "--once", "--config", cfgPath); code != 3 || !strings.Contains(out, audit.AlertInconsistent) {
			t.Fatalf("monitor --once on the fork exited %d:\n%s", code, out)
		}
		// And with the URL on the fork, the real log's bundle is the one
		// that does not verify.
		if out, code := verify("real.bundle.json"); code == 0 || !strings.Contains(out, "INCONSISTENT") {
			t.Fatalf("verify of the real bundle against the fork exited %d:\n%s", code, out)
		}
	})
}

// waitState waits until the monitor's state file holds a checkpoint of the
// log starting with prefix, and has scanned that many entries.
func waitState(t testing.TB, path, log, prefix string, scanned uint64) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		raw, err := os.ReadFile(path)
		if err == nil {
			var st map[string]audit.State
			if json.Unmarshal(raw, &st) == nil && strings.HasPrefix(st[log].Checkpoint, prefix) && st[log].Scanned >= scanned {
				return
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	raw, _ := os.ReadFile(path)
	t.Fatalf("state never reached %q:\n%s", prefix, raw)
}

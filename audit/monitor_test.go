package audit

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/mod/sumdb/note"

	"github.com/hallmark-dev/hallmark/audit/audittest"
	"github.com/hallmark-dev/hallmark/tlog/format"
	"github.com/hallmark-dev/hallmark/trust/clientconfig"
)

const testOrigin = "log.example/monitored"

// logServer serves a switchable handler: the test points the monitor's one
// URL at a log, then at its fork.
type logServer struct {
	srv     *httptest.Server
	handler atomic.Pointer[http.Handler]
}

func newLogServer(t testing.TB, h http.Handler) *logServer {
	s := &logServer{}
	s.serve(h)
	s.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { (*s.handler.Load()).ServeHTTP(w, r) }))
	t.Cleanup(s.srv.Close)
	return s
}

func (s *logServer) serve(h http.Handler) { s.handler.Store(&h) }

// webhook collects alerts.
type webhook struct {
	srv    *httptest.Server
	mu     sync.Mutex
	alerts []Alert
}

func newWebhook(t testing.TB) *webhook {
	w := &webhook{}
	w.srv = httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		var a Alert
		body, _ := io.ReadAll(r.Body)
		if err := json.Unmarshal(body, &a); err != nil {
			t.Errorf("webhook got %q: %v", body, err)
		}
		w.mu.Lock()
		w.alerts = append(w.alerts, a)
		w.mu.Unlock()
	}))
	t.Cleanup(w.srv.Close)
	return w
}

func (w *webhook) take() []Alert {
	w.mu.Lock()
	defer w.mu.Unlock()
	a := w.alerts
	w.alerts = nil
	return a
}

type logKey struct {
	signer note.Signer
	pub    ed25519.PublicKey
}

func newLogKey(t testing.TB) logKey {
	pub, key, _ := ed25519.GenerateKey(rand.Reader)
	s, err := format.NewNoteSigner(testOrigin, key)
	if err != nil {
		t.Fatal(err)
	}
	return logKey{signer: s, pub: pub}
}

func (k logKey) writePEM(t testing.TB, dir string) string {
	der, _ := x509.MarshalPKIXPublicKey(k.pub)
	p := filepath.Join(dir, "log.pub")
	if err := os.WriteFile(p, pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func fill(l *audittest.TilesLog, n int, tag string) {
	for i := 0; i < n; i++ {
		l.Append(fmt.Appendf(nil, "%s entry %d", tag, l.Size()))
	}
}

func newTestMonitor(t testing.TB, dir, url, pubFile, hook, extra string) *Monitor {
	cfg := fmt.Sprintf(`poll_interval: 1s
state: {file: %q}
webhook: {url: %q}
identities:
  watch: [{subject: 'release@acme\.example'}]
  allow: [{issuer: 'https://ci\.acme\.example'}]
logs:
  - name: test
    kind: tiles
    url: %s
    origin: %s
    public_key_file: %s
%s`, filepath.Join(dir, "state.json"), hook, url, testOrigin, pubFile, extra)
	c, err := ParseMonitorConfig([]byte(cfg))
	if err != nil {
		t.Fatal(err)
	}
	m, err := NewMonitor(context.Background(), c, slog.New(slog.NewTextHandler(io.Discard, nil)), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	return m
}

func alertTypes(as []Alert) []string {
	var out []string
	for _, a := range as {
		s := a.Type
		if a.Index != nil {
			s += fmt.Sprintf("@%d", *a.Index)
		}
		out = append(out, s)
	}
	return out
}

func TestMonitor(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	key := newLogKey(t)
	real := audittest.NewTilesLog(testOrigin, key.signer)
	ca := mustCA(t)
	signed := func(subject, issuer string) []byte {
		e, err := audittest.SignedEntry(mustIssue(t, ca, subject, issuer), []byte("artifact "+subject))
		if err != nil {
			t.Fatal(err)
		}
		return e
	}
	fill(real, 300, "real")
	real.Append(signed("release@acme.example", "https://ci.acme.example")) // 300: watched
	real.Append(signed("dev@acme.example", "https://ci.acme.example"))     // 301: allowed
	real.Append(signed("someone@evil.example", "https://evil.example"))    // 302: unexpected
	fill(real, 297, "real")
	srv := newLogServer(t, real)
	hook := newWebhook(t)
	m := newTestMonitor(t, dir, srv.srv.URL, key.writePEM(t, dir), hook.srv.URL, "")

	// First poll: trust on first use, scan everything, two identity alerts.
	if err := m.Poll(ctx); err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(alertTypes(hook.take()), " "); got != "watched_identity@300 unexpected_identity@302" &&
		got != "unexpected_identity@302 watched_identity@300" {
		t.Fatalf("alerts: %s", got)
	}
	st, _ := m.store.Load(ctx, "test")
	if st.Scanned != 600 || !strings.HasPrefix(st.Checkpoint, testOrigin+"\n600\n") {
		t.Fatalf("state after first poll: scanned %d, checkpoint %q", st.Scanned, st.Checkpoint)
	}
	cp600 := real.Checkpoint()

	// Growth: only the new entries are scanned.
	fill(real, 300, "real")
	if err := m.Poll(ctx); err != nil {
		t.Fatal(err)
	}
	if a := hook.take(); len(a) != 0 {
		t.Fatalf("alerts after honest growth: %v", alertTypes(a))
	}

	// A stale view (an older checkpoint, provably a prefix) is no alarm.
	srv.serve(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasSuffix(r.URL.Path, "/checkpoint") {
			w.Write(cp600)
			return
		}
		real.ServeHTTP(w, r)
	}))
	if err := m.Poll(ctx); err != nil {
		t.Fatal(err)
	}
	if a := hook.take(); len(a) != 0 {
		t.Fatalf("alerts for a stale view: %v", alertTypes(a))
	}

	// A restarted monitor resumes from its state: no rescan, no repeats.
	srv.serve(real)
	m2 := newTestMonitor(t, dir, srv.srv.URL, filepath.Join(dir, "log.pub"), hook.srv.URL, "")
	fill(real, 10, "real")
	if err := m2.Poll(ctx); err != nil {
		t.Fatal(err)
	}
	if a := hook.take(); len(a) != 0 {
		t.Fatalf("alerts after restart: %v", alertTypes(a))
	}
	if st, _ := m2.store.Load(ctx, "test"); st.Scanned != 910 {
		t.Fatalf("scanned %d after restart", st.Scanned)
	}

	// A fork: same key and origin, other entries, larger tree.
	fork := audittest.NewTilesLog(testOrigin, key.signer)
	fill(fork, 1000, "fork")
	srv.serve(fork)
	if err := m2.Poll(ctx); err != nil {
		t.Fatal(err)
	}
	a := hook.take()
	if len(a) != 1 || a[0].Type != AlertInconsistent || !strings.HasPrefix(a[0].VerifiedCheckpoint, testOrigin+"\n910\n") ||
		!strings.HasPrefix(a[0].NewCheckpoint, testOrigin+"\n1000\n") {
		t.Fatalf("fork alerts: %+v", a)
	}
	// Reported once, not at every poll; the state does not follow the fork.
	if err := m2.Poll(ctx); err != nil {
		t.Fatal(err)
	}
	if a := hook.take(); len(a) != 0 {
		t.Fatalf("repeated fork alert: %v", alertTypes(a))
	}
	if st, _ := m2.store.Load(ctx, "test"); !strings.HasPrefix(st.Checkpoint, testOrigin+"\n910\n") {
		t.Fatal("the state moved to the fork")
	}
	// A fork of the same size.
	fork2 := audittest.NewTilesLog(testOrigin, key.signer)
	fill(fork2, 910, "fork2")
	srv.serve(fork2)
	if err := m2.Poll(ctx); err != nil {
		t.Fatal(err)
	}
	if a := hook.take(); len(a) != 1 || a[0].Type != AlertInconsistent {
		t.Fatalf("same-size fork: %v", alertTypes(a))
	}

	// A checkpoint signed by another key.
	other := audittest.NewTilesLog(testOrigin, newLogKey(t).signer)
	fill(other, 1000, "other")
	srv.serve(other)
	if err := m2.Poll(ctx); err != nil {
		t.Fatal(err)
	}
	if a := hook.take(); len(a) != 1 || a[0].Type != AlertBadSignature || a[0].NewCheckpoint != string(other.Checkpoint()) {
		t.Fatalf("bad signature: %+v", a)
	}

	// Every alert was kept in the state store, the first monitor's too,
	// and GET /alerts serves them newest first.
	got := getAlerts(t, m2)
	if len(got.Logs) != 1 || got.Logs[0] != "test" {
		t.Fatalf("GET /alerts logs: %v", got.Logs)
	}
	types := alertTypes(got.Alerts)
	if len(types) != 5 || strings.Join(types[:3], " ") != "invalid_checkpoint_signature inconsistent_checkpoint inconsistent_checkpoint" ||
		got.Alerts[0].NewCheckpoint != string(other.Checkpoint()) || !strings.HasPrefix(got.Alerts[2].NewCheckpoint, testOrigin+"\n1000\n") {
		t.Fatalf("GET /alerts: %v", types)
	}
}

// TestMonitorEntriesMismatch: tiles from one tree, entry bundles from
// another. The checkpoint and proofs verify; the scan does not.
func TestMonitorEntriesMismatch(t *testing.T) {
	dir := t.TempDir()
	key := newLogKey(t)
	real := audittest.NewTilesLog(testOrigin, key.signer)
	fill(real, 700, "real")
	shadow := audittest.NewTilesLog(testOrigin, key.signer)
	fill(shadow, 256, "real")
	fill(shadow, 444, "shadow")
	srv := newLogServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.Contains(r.URL.Path, "/tile/entries/") {
			shadow.ServeHTTP(w, r)
			return
		}
		real.ServeHTTP(w, r)
	}))
	hook := newWebhook(t)
	m := newTestMonitor(t, dir, srv.srv.URL, key.writePEM(t, dir), hook.srv.URL, "    scan: true\n")
	m.saveEvery = 0 // try to save progress after every bundle
	if err := m.Poll(context.Background()); err != nil {
		t.Fatal(err)
	}
	if a := hook.take(); len(a) != 1 || a[0].Type != AlertEntriesMismatch {
		t.Fatalf("alerts: %v", alertTypes(a))
	}
	// Progress was saved while the entries matched the tree, not after.
	if st, _ := m.store.Load(context.Background(), "test"); st.Scanned != 256 || len(st.Range) != 1 {
		t.Fatalf("saved progress: scanned %d", st.Scanned)
	}
}

// TestMonitorStartLatest: a monitor told to start at the latest checkpoint
// reads the compact range from tiles and scans only what comes after.
func TestMonitorStartLatest(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	key := newLogKey(t)
	l := audittest.NewTilesLog(testOrigin, key.signer)
	ca := mustCA(t)
	e, _ := audittest.SignedEntry(mustIssue(t, ca, "release@acme.example", "https://ci.acme.example"), []byte("old"))
	l.Append(e)
	fill(l, 1000, "x")
	srv := newLogServer(t, l)
	hook := newWebhook(t)
	m := newTestMonitor(t, dir, srv.srv.URL, key.writePEM(t, dir), hook.srv.URL, "    start: latest\n")
	if err := m.Poll(ctx); err != nil {
		t.Fatal(err)
	}
	if a := hook.take(); len(a) != 0 {
		t.Fatalf("alerts for entries before the start: %v", alertTypes(a))
	}
	e, _ = audittest.SignedEntry(mustIssue(t, ca, "release@acme.example", "https://ci.acme.example"), []byte("new"))
	l.Append(e)
	if err := m.Poll(ctx); err != nil {
		t.Fatal(err)
	}
	if got := alertTypes(hook.take()); len(got) != 1 || got[0] != "watched_identity@1001" {
		t.Fatalf("alerts: %v", got)
	}
}

func TestMonitorConfigStrict(t *testing.T) {
	for _, bad := range []string{
		"state: {file: s.json}\nlogs: [{name: a, kind: tiles, url: 'http://x', public_key_file: k}]\nbogus: 1\n",
		"logs: [{name: a, kind: tiles, url: 'http://x', public_key_file: k}]\n",
		"state: {file: s.json}\nlogs: [{name: a, kind: sunlight, url: 'http://x', public_key_file: k}]\n",
		"state: {file: s.json}\nlogs: [{name: a, kind: tiles, url: 'http://x'}]\n",
		"state: {file: s.json}\nidentities: {watch: [{}]}\nlogs: [{name: a, kind: tiles, url: 'http://x', public_key_file: k}]\n",
		"state: {file: s.json}\nidentities: {watch: [{subject: '('}]}\nlogs: [{name: a, kind: tiles, url: 'http://x', public_key_file: k}]\n",
	} {
		if _, err := ParseMonitorConfig([]byte(bad)); err == nil {
			t.Errorf("accepted:\n%s", bad)
		}
	}
}

func TestPolicy(t *testing.T) {
	m, err := IdentityPolicy{
		Watch: []IdentityRule{{Subject: `release@acme\.example`}, {Issuer: `https://evil\..*`}},
		Allow: []IdentityRule{{Subject: `.*@acme\.example`, Issuer: `https://ci\.acme\.example`}},
	}.Compile()
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		id   Identity
		want string
	}{
		{Identity{Subjects: []string{"release@acme.example"}, Issuer: "https://ci.acme.example"}, "watched_identity"},
		{Identity{Subjects: []string{"dev@acme.example"}, Issuer: "https://ci.acme.example"}, ""},
		{Identity{Subjects: []string{"dev@acme.example"}, Issuer: "https://other.example"}, "unexpected_identity"},
		{Identity{Subjects: []string{"xdev@acme.example.org"}, Issuer: "https://ci.acme.example"}, "unexpected_identity"}, // whole-value match
		{Identity{Subjects: []string{"dev@acme.example"}, Issuer: "https://evil.example"}, "watched_identity unexpected_identity"},
		{Identity{Subjects: nil, Issuer: "https://ci.acme.example"}, "unexpected_identity"},
	} {
		var got []string
		for _, f := range m.Check(tc.id) {
			got = append(got, f.Type)
		}
		if strings.Join(got, " ") != tc.want {
			t.Errorf("%+v: got %v, want %q", tc.id, got, tc.want)
		}
	}
}

// TestMonitorWitnesses: a monitor that requires cosignatures accepts a
// cosigned checkpoint and refuses (as an error, not an alert) one without.
func TestMonitorWitnesses(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	key := newLogKey(t)
	l := audittest.NewTilesLog(testOrigin, key.signer)
	fill(l, 10, "x")
	newWitnessSigner := func(name string) (note.Signer, string) {
		pub, priv, _ := ed25519.GenerateKey(rand.Reader)
		s, err := format.NewCosignatureSigner(name, priv, nil)
		if err != nil {
			t.Fatal(err)
		}
		vkey, _ := format.WitnessKey(name, pub)
		return s, vkey
	}
	w1, w1Key := newWitnessSigner("w1.example")
	w2, _ := newWitnessSigner("w2.example")
	logV, _ := format.NewNoteVerifier(testOrigin, key.pub)
	var cosigner atomic.Pointer[note.Signer]
	cosigner.Store(&w1)
	srv := newLogServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasSuffix(r.URL.Path, "/cosigned-checkpoint") {
			n, err := note.Open(l.Checkpoint(), note.VerifierList(logV))
			if err != nil {
				t.Error(err)
			}
			signers := []note.Signer{}
			if s := cosigner.Load(); *s != nil {
				signers = append(signers, *s)
			}
			cp, _ := note.Sign(n, signers...)
			w.Write(cp)
			return
		}
		l.ServeHTTP(w, r)
	}))
	hook := newWebhook(t)
	m := newTestMonitor(t, dir, srv.srv.URL, key.writePEM(t, dir), hook.srv.URL, fmt.Sprintf("    witnesses: {vkeys: [%q]}\n", w1Key))
	if err := m.Poll(ctx); err != nil {
		t.Fatal(err)
	}
	fill(l, 5, "x")
	var none note.Signer
	for _, s := range []*note.Signer{&none, &w2} {
		cosigner.Store(s)
		if err := m.Poll(ctx); !errors.Is(err, ErrNotWitnessed) {
			t.Fatalf("cosigned by %v: %v", *s, err)
		}
	}
	cosigner.Store(&w1)
	if err := m.Poll(ctx); err != nil {
		t.Fatal(err)
	}
	if a := hook.take(); len(a) != 0 {
		t.Fatalf("alerts: %v", alertTypes(a))
	}
	if st, _ := m.store.Load(ctx, "test"); st.Scanned != 15 {
		t.Fatalf("scanned %d", st.Scanned)
	}
}

// TestMonitorTrustedCA: with certificate authorities in the trusted root,
// only certificates they issued raise identity alerts; a self-made
// certificate claiming a watched identity is counted, not alerted.
func TestMonitorTrustedCA(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	key := newLogKey(t)
	l := audittest.NewTilesLog(testOrigin, key.signer)
	srv := newLogServer(t, l)
	ca, forger := mustCA(t), mustCA(t)
	real, _ := audittest.SignedEntry(mustIssue(t, ca, "release@acme.example", "https://ci.acme.example"), []byte("real"))
	forged, _ := audittest.SignedEntry(mustIssue(t, forger, "release@acme.example", "https://ci.acme.example"), []byte("forged"))
	l.Append(forged, real)
	raw, err := clientconfig.TrustedRoot(clientconfig.TrustedRootParams{
		Tlogs:                  []clientconfig.Log{{BaseURL: srv.srv.URL, PublicKey: key.pub, Start: mustTime(t)}},
		CertificateAuthorities: []clientconfig.Authority{{URI: "https://ca.example", Chain: []*x509.Certificate{ca.Cert}, Start: mustTime(t)}},
	})
	if err != nil {
		t.Fatal(err)
	}
	trPath := filepath.Join(dir, "trusted_root.json")
	os.WriteFile(trPath, raw, 0o644)
	hook := newWebhook(t)
	cfg, err := ParseMonitorConfig(fmt.Appendf(nil, `state: {file: %q}
trusted_root: %q
webhook: {url: %q}
identities: {watch: [{subject: 'release@acme\.example'}]}
logs: [{name: test, kind: tiles, url: %q, origin: %q}]
`, filepath.Join(dir, "state.json"), trPath, hook.srv.URL, srv.srv.URL, testOrigin))
	if err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	m, err := NewMonitor(ctx, cfg, slog.New(slog.NewTextHandler(io.Discard, nil)), reg)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	if err := m.Poll(ctx); err != nil {
		t.Fatal(err)
	}
	if got := alertTypes(hook.take()); len(got) != 1 || got[0] != "watched_identity@1" {
		t.Fatalf("alerts: %v", got)
	}
	mfs, _ := reg.Gather()
	untrusted := 0.0
	for _, mf := range mfs {
		if mf.GetName() == "hallmark_monitor_untrusted_certificates_total" {
			untrusted = mf.GetMetric()[0].GetCounter().GetValue()
		}
	}
	if untrusted != 1 {
		t.Fatalf("untrusted certificates: %v", untrusted)
	}
}

package audit

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/hallmark-dev/hallmark/trust/clientconfig"
	"github.com/hallmark-dev/hallmark/trust/tufrepo"
)

// TestMonitorTUF: the monitor checks a TUF repository as a client does
// and warns once when a role's metadata comes within warn_before of its
// expiry, stays quiet once it is re-signed, and alerts when clients would
// refuse the repository (an expired timestamp).
func TestMonitorTUF(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	t0 := time.Now().UTC().Truncate(time.Second)
	const day = 24 * time.Hour
	logKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tr, err := clientconfig.TrustedRoot(clientconfig.TrustedRootParams{
		Tlogs: []clientconfig.Log{{BaseURL: "https://rekor.example.com", PublicKey: logKey.Public(), Start: t0}}})
	if err != nil {
		t.Fatal(err)
	}
	repoDir, keysDir := filepath.Join(dir, "repo"), filepath.Join(dir, "keys")
	r, err := tufrepo.Init(repoDir, keysDir, tufrepo.Content{TrustedRoot: tr}, tufrepo.DefaultExpiries(), t0)
	if err != nil {
		t.Fatal(err)
	}
	r.Close()
	srv := httptest.NewServer(http.FileServer(http.Dir(repoDir)))
	defer srv.Close()
	hook := newWebhook(t)
	cfg := fmt.Sprintf(`state: {file: %q}
webhook: {url: %q}
tuf:
  - name: corp
    url: %s
    root_file: %s
    warn_before: 72h
`, filepath.Join(dir, "state.json"), hook.srv.URL, srv.URL, filepath.Join(repoDir, "1.root.json"))
	c, err := ParseMonitorConfig([]byte(cfg))
	if err != nil {
		t.Fatal(err)
	}
	m, err := NewMonitor(ctx, c, slog.New(slog.NewTextHandler(io.Discard, nil)), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	poll := func(at time.Duration) []Alert {
		t.Helper()
		m.now = func() time.Time { return t0.Add(at) }
		if err := m.Poll(ctx); err != nil {
			t.Fatalf("Poll at +%v: %v", at, err)
		}
		return hook.take()
	}

	if as := poll(time.Hour); len(as) != 0 {
		t.Fatalf("alerts for a fresh repository: %v", alertTypes(as))
	}
	if got := testutil.ToFloat64(m.metrics.tufExpiry.WithLabelValues("corp", "timestamp")); got != float64(t0.Add(7*day).Unix()) {
		t.Fatalf("timestamp expiry gauge %v, want %v", got, t0.Add(7*day).Unix())
	}
	as := poll(5 * day) // the timestamp has 2 days left
	if len(as) != 1 || as[0].Type != AlertTUFExpiring || as[0].TUFRole != "timestamp" || as[0].Log != "corp" ||
		as[0].Expires == nil || !as[0].Expires.Equal(t0.Add(7*day)) || !strings.Contains(as[0].Message, "timestamp metadata v1 expires") {
		t.Fatalf("at +5d: %+v", as)
	}
	if as := poll(5*day + time.Hour); len(as) != 0 {
		t.Fatalf("the same expiry alerted twice: %v", alertTypes(as))
	}
	// `hallmark tuf refresh` re-signs it: quiet again.
	r, err = tufrepo.Open(repoDir, keysDir, t0.Add(5*day))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.Refresh(false); err != nil {
		t.Fatal(err)
	}
	r.Close()
	if as := poll(5*day + 2*time.Hour); len(as) != 0 {
		t.Fatalf("alerts after the refresh: %v", alertTypes(as))
	}
	// No refresh for 8 days: the timestamp expired, clients refuse it.
	as = poll(13 * day)
	if len(as) != 1 || as[0].Type != AlertTUFRefused || !strings.Contains(as[0].Message, "expired") {
		t.Fatalf("at +13d: %+v", as)
	}
	// GET /alerts lists both.
	rec := httptest.NewRecorder()
	m.AlertsHandler().ServeHTTP(rec, httptest.NewRequest("GET", "/alerts", nil))
	var resp AlertsResponse
	if err := json.Unmarshal(rec.Body.Bytes(), &resp); err != nil {
		t.Fatal(err)
	}
	var types []string
	for _, a := range resp.Alerts {
		types = append(types, a.Type+"/"+a.TUFRole)
	}
	slices.Sort(types)
	if !slices.Equal(types, []string{AlertTUFExpiring + "/timestamp", AlertTUFRefused + "/"}) {
		t.Fatalf("GET /alerts: %v", types)
	}
}

func TestMonitorTUFConfig(t *testing.T) {
	for _, tc := range []struct{ cfg, want string }{
		{"tuf: [{url: 'https://tuf.example.com', root_file: r.json}]", "name is required"},
		{"tuf: [{name: a, url: 'tuf.example.com', root_file: r.json}]", "absolute http(s) URL"},
		{"tuf: [{name: a, url: 'https://tuf.example.com'}]", "root_file is required"},
		{"tuf: [{name: a, url: 'https://tuf.example.com', root_file: r.json, warn_before: -1h}]", "warn_before"},
		{"tuf: [{name: a, url: 'https://t.example', root_file: r.json}, {name: a, url: 'https://t.example', root_file: r.json}]", "not unique"},
		{"tuf: [{name: a, url: 'https://t.example', root_file: r.json, expiry: 1h}]", "expiry"},
	} {
		_, err := ParseMonitorConfig([]byte("state: {file: s.json}\n" + tc.cfg))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want %q", tc.cfg, err, tc.want)
		}
	}
	c, err := ParseMonitorConfig([]byte("state: {file: s.json}\ntuf: [{name: a, url: 'https://t.example', root_file: r.json}]"))
	if err != nil || c.TUF[0].WarnBefore != 72*time.Hour {
		t.Fatalf("defaults: %+v, %v", c, err)
	}
}

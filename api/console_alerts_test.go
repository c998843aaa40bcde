package api

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/hallmark-dev/hallmark/audit"
	"github.com/hallmark-dev/hallmark/tlog"
)

// TestConsoleAlerts: the console relays the alerts of the monitor named by
// console.monitor_url, and says when none is configured or it cannot be
// read (unreachable, an error, an answer over the cap, not JSON).
func TestConsoleAlerts(t *testing.T) {
	_, plain := newTestService(t, "")
	var got consoleAlerts
	getJSON(t, plain.URL+ConsolePath+"api/alerts", 200, &got)
	if got.Configured || got.Error != "" || len(got.Alerts) != 0 {
		t.Fatalf("without a monitor: %+v", got)
	}

	idx := uint64(7)
	answer := audit.AlertsResponse{Logs: []string{"main"}, Alerts: []audit.Alert{
		{Type: audit.AlertInconsistent, Log: "main", Time: time.Date(2026, 12, 7, 1, 0, 0, 0, time.UTC), Message: "fork", NewCheckpoint: "o\n2\n"},
		{Type: audit.AlertWatchedIdentity, Log: "main", Time: time.Date(2026, 12, 7, 0, 0, 0, 0, time.UTC), Index: &idx, Subjects: []string{"alice@corp.example"}},
	}}
	var serve http.HandlerFunc
	monitor := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { serve(w, r) }))
	defer monitor.Close()
	_, srv := newTestService(t, fmt.Sprintf("console: {monitor_url: %q}\n", monitor.URL+"/"))
	read := func() consoleAlerts {
		t.Helper()
		code, h, body := get(t, srv.URL+ConsolePath+"api/alerts")
		if code != 200 || !strings.Contains(h.Get("Content-Security-Policy"), "connect-src 'self'") {
			t.Fatalf("GET api/alerts: %d %v", code, h)
		}
		var out consoleAlerts
		if err := json.Unmarshal(body, &out); err != nil {
			t.Fatal(err)
		}
		return out
	}

	serve = func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/alerts" {
			http.NotFound(w, r)
			return
		}
		json.NewEncoder(w).Encode(answer)
	}
	got = read()
	if !got.Configured || got.Error != "" || got.MonitorURL != monitor.URL+"/" || len(got.Logs) != 1 || len(got.Alerts) != 2 ||
		got.Alerts[0].Type != audit.AlertInconsistent || *got.Alerts[1].Index != 7 {
		t.Fatalf("from the monitor: %+v", got)
	}

	for name, c := range map[string]struct {
		serve http.HandlerFunc
		want  string
	}{
		"error": {func(w http.ResponseWriter, r *http.Request) { http.Error(w, "boom", 500) }, "HTTP 500"},
		"redirect": {func(w http.ResponseWriter, r *http.Request) {
			http.Redirect(w, r, "http://192.0.2.1/", http.StatusFound)
		}, "HTTP 302"},
		"not JSON": {func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("<html>")) }, "not its alerts JSON"},
		"too large": {func(w http.ResponseWriter, r *http.Request) {
			w.Write([]byte(`{"alerts":[{"message":"`))
			w.Write([]byte(strings.Repeat("x", consoleMonitorMaxBytes)))
		}, "over 4194304 bytes"},
	} {
		serve = c.serve
		if got := read(); !got.Configured || !strings.Contains(got.Error, c.want) || len(got.Alerts) != 0 {
			t.Errorf("%s: %+v, want error %q", name, got, c.want)
		}
	}
	monitor.Close()
	if got := read(); !strings.Contains(got.Error, "couldn't reach the monitor") {
		t.Errorf("monitor down: %+v", got)
	}
}

func TestConsoleConfig(t *testing.T) {
	for _, c := range []struct{ console, want string }{
		{`{monitor_url: "http://127.0.0.1:9464"}`, ""},
		{`{monitor_url: "127.0.0.1:9464"}`, "console.monitor_url"},
		{`{monitor_url: "ftp://m.example"}`, "console.monitor_url"},
		{`{monitorURL: "http://127.0.0.1:9464"}`, "monitorURL"}, // strict: unknown keys are errors
	} {
		_, err := tlog.ParseServiceConfig([]byte(`
database: {sqlite: /nonexistent}
logs:
  - {name: main, kind: tiles, url: "https://log.example.com/main", key_file: k.pem}
console: ` + c.console + "\n"))
		if c.want == "" && err != nil || c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)) {
			t.Errorf("console: %s: %v, want %q", c.console, err, c.want)
		}
	}
}

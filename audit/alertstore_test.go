package audit

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hallmark-dev/hallmark/internal/pgtest"
)

// testAlertStore adds more alerts than a store keeps: it keeps the newest
// MaxStoredAlerts, returns them newest first, and a reopened store has them.
func testAlertStore(t *testing.T, open func() interface {
	AlertStore
	StateStore
}) {
	ctx := context.Background()
	s := open()
	if as, err := s.RecentAlerts(ctx); err != nil || len(as) != 0 {
		t.Fatalf("empty store: %v %v", as, err)
	}
	t0 := time.Date(2026, 12, 7, 0, 0, 0, 0, time.UTC)
	n := MaxStoredAlerts + 5
	for i := range n {
		idx := uint64(i)
		a := Alert{Type: AlertWatchedIdentity, Log: "a", Time: t0.Add(time.Duration(i) * time.Second), Message: fmt.Sprint("alert ", i), Index: &idx}
		if err := s.AddAlert(ctx, a); err != nil {
			t.Fatal(err)
		}
	}
	s.Close()
	s = open()
	defer s.Close()
	as, err := s.RecentAlerts(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(as) != MaxStoredAlerts {
		t.Fatalf("kept %d alerts, want %d", len(as), MaxStoredAlerts)
	}
	for i, a := range as {
		want := n - 1 - i
		if a.Message != fmt.Sprint("alert ", want) || a.Index == nil || *a.Index != uint64(want) || !a.Time.Equal(t0.Add(time.Duration(want)*time.Second)) {
			t.Fatalf("alert %d: %+v, want alert %d", i, a, want)
		}
	}
}

func TestFileAlertStore(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.json")
	testAlertStore(t, func() interface {
		AlertStore
		StateStore
	} {
		s, err := OpenFileStateStore(path)
		if err != nil {
			t.Fatal(err)
		}
		return s
	})
}

func TestPGAlertStore(t *testing.T) {
	url := pgtest.URL(t)
	testAlertStore(t, func() interface {
		AlertStore
		StateStore
	} {
		s, err := OpenPGStateStore(context.Background(), url)
		if err != nil {
			t.Fatal(err)
		}
		return s
	})
}

// getAlerts reads the monitor's GET /alerts.
func getAlerts(t *testing.T, m *Monitor) AlertsResponse {
	t.Helper()
	w := httptest.NewRecorder()
	m.AlertsHandler().ServeHTTP(w, httptest.NewRequest("GET", "/alerts", nil))
	if w.Code != 200 || !strings.HasPrefix(w.Header().Get("Content-Type"), "application/json") {
		t.Fatalf("GET /alerts: %d %s", w.Code, w.Body)
	}
	var out AlertsResponse
	if err := json.Unmarshal(w.Body.Bytes(), &out); err != nil {
		t.Fatal(err)
	}
	return out
}

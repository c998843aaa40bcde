package audit

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"slices"
)

// MaxStoredAlerts is how many of its most recent alerts a monitor keeps
// (and serves on GET /alerts); older ones are dropped as new ones come.
const MaxStoredAlerts = 200

// AlertStore keeps a monitor's most recent alerts, beside its states.
//
// AddAlert appends one; when it returns nil the alert is durable and the
// store holds at most MaxStoredAlerts, the newest. RecentAlerts returns
// them newest first. Calls may be concurrent.
type AlertStore interface {
	AddAlert(ctx context.Context, a Alert) error
	RecentAlerts(ctx context.Context) ([]Alert, error)
}

var (
	_ AlertStore = (*FileStateStore)(nil)
	_ AlertStore = (*PGStateStore)(nil)
)

// The file store keeps alerts in a second file beside its states,
// <state file>.alerts.json (a JSON array, oldest first), rewritten
// atomically like the states: the states file keeps its format.

func (s *FileStateStore) alertsPath() string { return s.path + ".alerts.json" }

func (s *FileStateStore) loadAlerts() ([]Alert, error) {
	raw, err := os.ReadFile(s.alertsPath())
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("couldn't read monitor alerts: %w", err)
	}
	var as []Alert
	if err := json.Unmarshal(raw, &as); err != nil {
		return nil, fmt.Errorf("monitor alerts %s are corrupt: %w", s.alertsPath(), err)
	}
	return as, nil
}

func (s *FileStateStore) AddAlert(_ context.Context, a Alert) error {
	s.alertsMu.Lock()
	defer s.alertsMu.Unlock()
	as, err := s.loadAlerts()
	if err != nil {
		return err
	}
	as = append(as, a)
	if n := len(as) - MaxStoredAlerts; n > 0 {
		as = as[n:]
	}
	raw, err := json.MarshalIndent(as, "", "  ")
	if err != nil {
		return err
	}
	return writeFileAtomic(s.alertsPath(), append(raw, '\n'))
}

func (s *FileStateStore) RecentAlerts(context.Context) ([]Alert, error) {
	s.alertsMu.Lock()
	defer s.alertsMu.Unlock()
	as, err := s.loadAlerts()
	if err != nil {
		return nil, err
	}
	slices.Reverse(as)
	return as, nil
}

func (s *PGStateStore) AddAlert(ctx context.Context, a Alert) error {
	raw, err := json.Marshal(a)
	if err != nil {
		return err
	}
	// One statement: the insert and the trim commit together.
	_, err = s.pool.Exec(ctx, `WITH added AS (
			INSERT INTO hallmark_monitor_alerts (log, alert, raised_at) VALUES ($1, $2, $3) RETURNING id)
		DELETE FROM hallmark_monitor_alerts WHERE id <= (SELECT id FROM added) - $4`, a.Log, raw, a.Time, MaxStoredAlerts)
	if err != nil {
		return fmt.Errorf("couldn't save alert of %s: %w", a.Log, err)
	}
	return nil
}

func (s *PGStateStore) RecentAlerts(ctx context.Context) ([]Alert, error) {
	rows, err := s.pool.Query(ctx, `SELECT alert FROM hallmark_monitor_alerts ORDER BY id DESC LIMIT $1`, MaxStoredAlerts)
	if err != nil {
		return nil, fmt.Errorf("couldn't read alerts: %w", err)
	}
	defer rows.Close()
	var as []Alert
	for rows.Next() {
		var raw []byte
		if err := rows.Scan(&raw); err != nil {
			return nil, fmt.Errorf("couldn't read alerts: %w", err)
		}
		var a Alert
		if err := json.Unmarshal(raw, &a); err != nil {
			return nil, fmt.Errorf("a stored alert is corrupt: %w", err)
		}
		as = append(as, a)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("couldn't read alerts: %w", err)
	}
	return as, nil
}

// AlertsResponse is the JSON of GET /alerts on the monitor's metrics
// listener: the logs it follows and its most recent alerts, newest first.
type AlertsResponse struct {
	Logs   []string `json:"logs"`
	Alerts []Alert  `json:"alerts"`
}

// AlertsHandler serves GET /alerts.
func (m *Monitor) AlertsHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		as, err := m.alerts.RecentAlerts(r.Context())
		if err != nil {
			m.logger.ErrorContext(r.Context(), "couldn't read alerts", "err", err)
			http.Error(w, "couldn't read the stored alerts", http.StatusInternalServerError)
			return
		}
		resp := AlertsResponse{Logs: []string{}, Alerts: as}
		if resp.Alerts == nil {
			resp.Alerts = []Alert{}
		}
		for _, f := range m.logs {
			resp.Logs = append(resp.Logs, f.cfg.Name)
		}
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-store")
		json.NewEncoder(w).Encode(resp) //nolint:errcheck
	})
}

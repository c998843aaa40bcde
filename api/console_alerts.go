package api

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/hallmark-dev/hallmark/audit"
)

// The console shows the alerts of a `hallmark monitor` running beside the
// log (console.monitor_url): hallmark-log fetches the monitor's GET /alerts
// itself, under a timeout and a size cap, so the page still talks to its
// own origin only (its CSP stays connect-src 'self').

const (
	// consoleMonitorTimeout bounds one fetch of the monitor's alerts.
	consoleMonitorTimeout = 5 * time.Second
	// consoleMonitorMaxBytes caps the monitor's answer.
	consoleMonitorMaxBytes = 4 << 20
)

// consoleAlerts is the answer of GET /console/api/alerts. Configured is
// false without console.monitor_url; Error says why the monitor could not
// be read (then Alerts is empty: unknown, not "no alerts").
type consoleAlerts struct {
	Configured bool          `json:"configured"`
	MonitorURL string        `json:"monitor_url,omitempty"`
	Error      string        `json:"error,omitempty"`
	Logs       []string      `json:"logs"`
	Alerts     []audit.Alert `json:"alerts"`
}

// monitorAlerts fetches and decodes base/alerts.
func monitorAlerts(ctx context.Context, hc *http.Client, base string) (*audit.AlertsResponse, error) {
	ctx, cancel := context.WithTimeout(ctx, consoleMonitorTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimSuffix(base, "/")+"/alerts", nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "application/json")
	resp, err := hc.Do(req)
	if err != nil {
		return nil, fmt.Errorf("couldn't reach the monitor: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("the monitor answered HTTP %d", resp.StatusCode)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, consoleMonitorMaxBytes+1))
	if err != nil {
		return nil, fmt.Errorf("couldn't read the monitor's answer: %w", err)
	}
	if len(body) > consoleMonitorMaxBytes {
		return nil, fmt.Errorf("the monitor's answer is over %d bytes", consoleMonitorMaxBytes)
	}
	var out audit.AlertsResponse
	if err := json.Unmarshal(body, &out); err != nil {
		return nil, fmt.Errorf("the monitor's answer is not its alerts JSON: %w", err)
	}
	return &out, nil
}

func (c *console) serveAlerts(w http.ResponseWriter, r *http.Request) {
	resp := consoleAlerts{Logs: []string{}, Alerts: []audit.Alert{}}
	if c.monitorURL != "" {
		resp.Configured, resp.MonitorURL = true, c.monitorURL
		got, err := monitorAlerts(r.Context(), c.monitorHTTP, c.monitorURL)
		if err != nil {
			c.monitorErrors.Inc()
			resp.Error = err.Error()
		} else {
			if got.Logs != nil {
				resp.Logs = got.Logs
			}
			if got.Alerts != nil {
				resp.Alerts = got.Alerts
			}
		}
	}
	writeJSON(w, http.StatusOK, resp)
}

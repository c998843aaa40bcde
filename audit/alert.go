package audit

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"sync/atomic"
	"time"
)

// Alert types.
const (
	// AlertInconsistent: a new checkpoint is not consistent with the last
	// verified one (a fork, or history rewritten). Carries both checkpoints.
	AlertInconsistent = "inconsistent_checkpoint"
	// AlertBadSignature: the log served a checkpoint its key did not sign.
	AlertBadSignature = "invalid_checkpoint_signature"
	// AlertEntriesMismatch: the entry bundles served do not hash to the
	// verified checkpoint (the log shows monitors other entries than its
	// tree commits to).
	AlertEntriesMismatch = "entries_mismatch"
	// AlertWatchedIdentity: an entry is signed by a watched identity.
	AlertWatchedIdentity = "watched_identity"
	// AlertUnexpectedIdentity: an entry is signed by an identity outside
	// the allow list.
	AlertUnexpectedIdentity = "unexpected_identity"
)

// Alert is one finding, as logged and as POSTed to the webhook (JSON).
type Alert struct {
	Type    string    `json:"type"`
	Log     string    `json:"log"`
	Origin  string    `json:"origin,omitempty"`
	Time    time.Time `json:"time"`
	Message string    `json:"message"`

	// For checkpoint alerts: the last verified checkpoint and the one that
	// contradicts it (the evidence).
	VerifiedCheckpoint string `json:"verified_checkpoint,omitempty"`
	NewCheckpoint      string `json:"new_checkpoint,omitempty"`

	// For identity alerts.
	Index    *uint64       `json:"index,omitempty"`
	Subjects []string      `json:"subjects,omitempty"`
	Issuer   string        `json:"issuer,omitempty"`
	Rule     *IdentityRule `json:"rule,omitempty"`

	// For TUF alerts (Log is then the repository's name): the role whose
	// metadata expires, and when.
	TUFRole string     `json:"tuf_role,omitempty"`
	Expires *time.Time `json:"expires,omitempty"`
}

// Alerter delivers alerts: a log line at ERROR level, and a JSON POST to a
// webhook if one is configured. Delivery failures are logged and counted;
// they never stop monitoring.
type Alerter struct {
	logger     *slog.Logger
	webhook    string
	header     http.Header
	http       *http.Client
	count      atomic.Int64
	onAlert    func(Alert) // metrics
	onWebhookE func()
	record     func(context.Context, Alert) // keeps it in the alert store
}

// NewAlerter returns an alerter; webhook may be empty. header is sent with
// each webhook request (e.g. Authorization).
func NewAlerter(logger *slog.Logger, webhook string, header http.Header) *Alerter {
	if logger == nil {
		logger = slog.Default()
	}
	return &Alerter{logger: logger, webhook: webhook, header: header, http: &http.Client{Timeout: 10 * time.Second}}
}

// Count returns how many alerts were raised.
func (a *Alerter) Count() int64 { return a.count.Load() }

// Raise delivers an alert.
func (a *Alerter) Raise(ctx context.Context, al Alert) {
	if al.Time.IsZero() {
		al.Time = time.Now().UTC()
	}
	a.count.Add(1)
	if a.onAlert != nil {
		a.onAlert(al)
	}
	attrs := []any{"type", al.Type, "log", al.Log, "msg", al.Message}
	if al.Index != nil {
		attrs = append(attrs, "index", *al.Index, "subjects", al.Subjects, "issuer", al.Issuer)
	}
	if al.TUFRole != "" {
		attrs = append(attrs, "tuf_role", al.TUFRole)
	}
	if al.NewCheckpoint != "" {
		attrs = append(attrs, "verified_checkpoint", al.VerifiedCheckpoint, "new_checkpoint", al.NewCheckpoint)
	}
	a.logger.ErrorContext(ctx, "ALERT", attrs...)
	if a.record != nil {
		a.record(ctx, al)
	}
	if a.webhook == "" {
		return
	}
	if err := a.post(ctx, al); err != nil {
		if a.onWebhookE != nil {
			a.onWebhookE()
		}
		a.logger.ErrorContext(ctx, "couldn't deliver alert to webhook", "type", al.Type, "log", al.Log, "err", err)
	}
}

// post delivers one alert, retrying twice on failure.
func (a *Alerter) post(ctx context.Context, al Alert) error {
	body, err := json.Marshal(al)
	if err != nil {
		return err
	}
	var last error
	for attempt := 0; attempt < 3; attempt++ {
		if attempt > 0 {
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(time.Duration(attempt) * time.Second):
			}
		}
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, a.webhook, bytes.NewReader(body))
		if err != nil {
			return err
		}
		for k, v := range a.header {
			req.Header[k] = v
		}
		req.Header.Set("Content-Type", "application/json")
		resp, err := a.http.Do(req)
		if err != nil {
			last = err
			continue
		}
		resp.Body.Close()
		if resp.StatusCode/100 == 2 {
			return nil
		}
		last = fmt.Errorf("webhook answered HTTP %d", resp.StatusCode)
	}
	return last
}

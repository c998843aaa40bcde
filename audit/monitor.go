package audit

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/hallmark-dev/hallmark/tlog/format"
)

// Monitor follows logs: each poll verifies a log's latest checkpoint, proves
// it consistent with the last verified one, scans the new entries and
// raises alerts. What it verified is saved in a StateStore, so a restarted
// monitor carries on where it stopped.
type Monitor struct {
	cfg       *MonitorConfig
	logs      []*followedLog
	store     StateStore
	alerts    AlertStore // the same store: its recent alerts, for GET /alerts
	matcher   *Matcher
	alerter   *Alerter
	metrics   *monitorMetrics
	logger    *slog.Logger
	progress  time.Duration // interval of catch-up progress lines
	saveEvery time.Duration // interval of scan progress saves
	// cas, if set, must have issued a certificate for it to raise an
	// identity alert (the trusted root's certificate authorities).
	cas *TrustedRoot
	tuf []*followedTUF   // TUF repositories checked at each poll
	now func() time.Time // the clock of TUF expiry checks
}

type followedLog struct {
	cfg MonitoredLogConfig
	log *Log
	mu  sync.Mutex // one poll of a log at a time
	// lastAlert dedupes checkpoint alerts: the same evidence is reported
	// once per process, not at every poll.
	lastAlert string
}

// NewMonitor opens the state store and prepares every log. reg (optional)
// receives the monitor's metrics.
func NewMonitor(ctx context.Context, cfg *MonitorConfig, logger *slog.Logger, reg prometheus.Registerer) (*Monitor, error) {
	if logger == nil {
		logger = slog.Default()
	}
	matcher, err := cfg.Identities.Compile()
	if err != nil {
		return nil, err
	}
	var tr *TrustedRoot
	if cfg.TrustedRoot != "" {
		if tr, err = LoadTrustedRoot(cfg.Path(cfg.TrustedRoot)); err != nil {
			return nil, err
		}
	}
	m := &Monitor{cfg: cfg, matcher: matcher, logger: logger, metrics: newMonitorMetrics(reg),
		progress: 5 * time.Second, saveEvery: 30 * time.Second, now: time.Now}
	if tr != nil && len(tr.CAs) > 0 {
		m.cas = tr
	}
	fetchers := cfg.Scan.Fetchers
	if fetchers <= 0 {
		fetchers = 16
	}
	hc := NewHTTPClient(fetchers)
	for i := range cfg.Logs {
		lc := cfg.Logs[i]
		key, err := cfg.logKey(&lc, tr)
		if err != nil {
			return nil, fmt.Errorf("log %s: %w", lc.Name, err)
		}
		origin := lc.Origin
		if origin == "" {
			origin = DefaultOrigin(lc.Kind, lc.URL)
		}
		l, err := NewLog(lc.Kind, lc.URL, origin, key, hc)
		if err != nil {
			return nil, fmt.Errorf("log %s: %w", lc.Name, err)
		}
		l.KeyName = lc.KeyName
		if w := lc.Witnesses; w != nil {
			for _, k := range w.VKeys {
				v, _ := format.ParseWitnessKey(k) // checked by ParseMonitorConfig
				l.Witnesses = append(l.Witnesses, v)
			}
			l.Quorum, l.CheckpointPath = w.Quorum, w.CheckpointPath
		}
		m.logs = append(m.logs, &followedLog{cfg: lc, log: l})
	}
	if err := m.addTUF(cfg); err != nil {
		return nil, err
	}
	var header http.Header
	if f := cfg.Webhook.AuthorizationFile; f != "" {
		b, err := os.ReadFile(cfg.Path(f))
		if err != nil {
			return nil, fmt.Errorf("couldn't read webhook.authorization_file: %w", err)
		}
		header = http.Header{"Authorization": {strings.TrimSpace(string(b))}}
	}
	m.alerter = NewAlerter(logger, cfg.Webhook.URL, header)
	m.alerter.onAlert = func(a Alert) { m.metrics.alerts.WithLabelValues(a.Log, a.Type).Inc() }
	m.alerter.onWebhookE = func() { m.metrics.webhookErrors.Inc() }
	m.alerter.record = func(ctx context.Context, a Alert) {
		// Kept for GET /alerts; a failure loses the alert there only (it
		// is logged, and the webhook still gets it).
		if err := m.alerts.AddAlert(ctx, a); err != nil {
			m.metrics.alertStoreErrors.Inc()
			logger.ErrorContext(ctx, "couldn't store alert", "type", a.Type, "log", a.Log, "err", err)
		}
	}
	if cfg.State.File != "" {
		fs, err := OpenFileStateStore(cfg.Path(cfg.State.File))
		if err != nil {
			return nil, err
		}
		m.store, m.alerts = fs, fs
	} else {
		u, err := cfg.databaseURL()
		if err != nil {
			return nil, err
		}
		pg, err := OpenPGStateStore(ctx, u)
		if err != nil {
			return nil, err
		}
		m.store, m.alerts = pg, pg
	}
	return m, nil
}

// Close closes the state store.
func (m *Monitor) Close() error { return m.store.Close() }

// Alerts returns how many alerts this monitor raised.
func (m *Monitor) Alerts() int64 { return m.alerter.Count() }

// Run polls every log now and then every poll interval, until ctx ends.
// Poll failures are logged and counted; they do not stop the monitor.
func (m *Monitor) Run(ctx context.Context) error {
	t := time.NewTicker(m.cfg.PollInterval)
	defer t.Stop()
	for {
		if err := m.Poll(ctx); err != nil && ctx.Err() == nil {
			m.logger.Warn("poll failed", "err", err)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// Poll polls every log and TUF repository once, concurrently, and returns
// the errors of the polls that could not complete (alerts are not errors).
func (m *Monitor) Poll(ctx context.Context) error {
	errs := make([]error, len(m.logs)+len(m.tuf))
	var wg sync.WaitGroup
	for i, f := range m.tuf {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := m.pollTUF(ctx, f); err != nil {
				m.metrics.pollErrors.WithLabelValues(f.cfg.Name).Inc()
				errs[len(m.logs)+i] = fmt.Errorf("tuf %s: %w", f.cfg.Name, err)
			} else {
				m.metrics.lastSuccess.WithLabelValues(f.cfg.Name).SetToCurrentTime()
			}
		}()
	}
	for i, f := range m.logs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := m.pollLog(ctx, f); err != nil {
				m.metrics.pollErrors.WithLabelValues(f.cfg.Name).Inc()
				errs[i] = fmt.Errorf("log %s: %w", f.cfg.Name, err)
			} else {
				m.metrics.lastSuccess.WithLabelValues(f.cfg.Name).SetToCurrentTime()
			}
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

// checkpointAlert raises a checkpoint alert unless the same evidence was
// already reported.
func (m *Monitor) checkpointAlert(ctx context.Context, f *followedLog, typ, msg string, verified, served []byte) {
	key := fmt.Sprintf("%s %x %x", typ, sha256.Sum256(verified), sha256.Sum256(served))
	if f.lastAlert == key {
		return
	}
	f.lastAlert = key
	m.alerter.Raise(ctx, Alert{Type: typ, Log: f.cfg.Name, Origin: f.log.Origin, Message: msg,
		VerifiedCheckpoint: string(verified), NewCheckpoint: string(served)})
}

func (m *Monitor) pollLog(ctx context.Context, f *followedLog) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	name := f.cfg.Name
	st, err := m.store.Load(ctx, name)
	if err != nil {
		return err
	}
	if st != nil && f.log.Origin == "" {
		f.log.Origin = st.Origin // pinned on first contact
	}
	cp, err := f.log.FetchCheckpoint(ctx)
	var bad *BadCheckpointError
	if errors.As(err, &bad) {
		var verified []byte
		if st != nil {
			verified = []byte(st.Checkpoint)
		}
		m.checkpointAlert(ctx, f, AlertBadSignature, err.Error(), verified, bad.Checkpoint)
		return nil
	}
	if err != nil {
		return err
	}

	if st == nil {
		// First contact: trust on first use. From now on every checkpoint
		// must be consistent with this one.
		st = &State{Origin: cp.Origin, Checkpoint: string(cp.Note)}
		if f.cfg.Start == "latest" && f.cfg.scanEnabled() {
			if st.Range, err = f.log.RangeNodes(ctx, cp); err != nil {
				if errors.Is(err, ErrInconsistent) {
					m.checkpointAlert(ctx, f, AlertEntriesMismatch, err.Error(), nil, cp.Note)
					return nil
				}
				return err
			}
			st.Scanned = cp.Size
		}
		m.logger.Info("first contact with log: trusting its checkpoint", "log", name, "origin", cp.Origin, "size", cp.Size, "scan_from", st.Scanned)
		if err := m.store.Save(ctx, name, st); err != nil {
			return err
		}
	} else {
		old, err := f.log.VerifyCheckpoint([]byte(st.Checkpoint))
		if err != nil {
			return fmt.Errorf("the stored checkpoint does not verify with the configured key (was the key changed?): %w", err)
		}
		err = f.log.CheckConsistency(ctx, old, cp)
		if errors.Is(err, ErrInconsistent) {
			m.checkpointAlert(ctx, f, AlertInconsistent,
				fmt.Sprintf("checkpoint of size %d is not consistent with the verified checkpoint of size %d: %v", cp.Size, old.Size, err),
				old.Note, cp.Note)
			return nil
		}
		if err != nil {
			if cp.Size < old.Size {
				m.logger.Warn("log served a smaller checkpoint and could not prove it a prefix of the verified one",
					"log", name, "served_size", cp.Size, "verified_size", old.Size, "err", err)
			}
			return err
		}
		if cp.Size <= old.Size {
			// A stale view (proven a prefix) or no news. A same-size note
			// may carry new cosignatures: keep the verified one.
			m.metrics.treeSize.WithLabelValues(name).Set(float64(old.Size))
			return nil
		}
		st.Checkpoint = string(cp.Note)
		if err := m.store.Save(ctx, name, st); err != nil {
			return err
		}
		m.logger.Info("new checkpoint is consistent", "log", name, "size", cp.Size, "previous_size", old.Size)
	}
	m.metrics.treeSize.WithLabelValues(name).Set(float64(cp.Size))

	if !f.cfg.scanEnabled() || st.Scanned >= cp.Size {
		return nil
	}
	return m.scan(ctx, f, st, cp)
}

// scan reads the entries [st.Scanned, cp.Size), saving progress as it goes.
func (m *Monitor) scan(ctx context.Context, f *followedLog, st *State, cp *Checkpoint) error {
	name := f.cfg.Name
	start, from, prev := time.Now(), st.Scanned, st.Scanned
	lastLine, lastSave := start, start
	long := false
	rng, err := f.log.Scan(ctx, st.Scanned, st.Range, cp, ScanOptions{
		Fetchers: m.cfg.Scan.Fetchers,
		Parsers:  m.cfg.Scan.Parsers,
		Visit:    m.visitor(ctx, f),
		Progress: func(size uint64, rng [][]byte) {
			m.metrics.entries.WithLabelValues(name).Add(float64(size - prev))
			m.metrics.scanned.WithLabelValues(name).Set(float64(size))
			prev = size
			now := time.Now()
			if now.Sub(lastSave) >= m.saveEvery {
				lastSave = now
				m.saveProgress(ctx, f, st, cp, size, rng)
			}
			if now.Sub(lastLine) >= m.progress {
				long = true
				lastLine = now
				rate := float64(size-from) / now.Sub(start).Seconds()
				eta := time.Duration(float64(cp.Size-size)/rate) * time.Second
				m.logger.Info("catching up", "log", name, "scanned", size, "size", cp.Size,
					"entries_per_second", int(rate), "eta", eta.Round(time.Second).String())
			}
		},
	})
	if errors.Is(err, ErrInconsistent) {
		m.checkpointAlert(ctx, f, AlertEntriesMismatch, err.Error(), nil, cp.Note)
		return nil
	}
	if err != nil {
		return err // the last saved progress stands
	}
	st.Scanned, st.Range = cp.Size, rng
	if err := m.store.Save(ctx, name, st); err != nil {
		return err
	}
	if long {
		el := time.Since(start)
		m.logger.Info("caught up", "log", name, "entries", cp.Size-from, "seconds", el.Seconds(),
			"entries_per_second", int(float64(cp.Size-from)/el.Seconds()))
	}
	return nil
}

// saveProgress saves a scan's progress, once proven: the compact range of
// the entries read so far must be a prefix of cp's tree. Progress that
// does not verify is not saved (the scan's final check raises the alert),
// so a restart never resumes from entries the tree does not commit to.
func (m *Monitor) saveProgress(ctx context.Context, f *followedLog, st *State, cp *Checkpoint, size uint64, rng [][]byte) {
	r, err := rangeFactory.NewRange(0, size, rng)
	if err != nil {
		return
	}
	root, err := r.GetRootHash(nil)
	if err != nil {
		return
	}
	if err := f.log.CheckConsistency(ctx, &Checkpoint{Size: size, Root: root}, cp); err != nil {
		m.logger.Warn("not saving scan progress that does not verify", "log", f.cfg.Name, "scanned", size, "err", err)
		return
	}
	saved := *st
	saved.Scanned, saved.Range = size, append([][]byte(nil), rng...)
	if err := m.store.Save(ctx, f.cfg.Name, &saved); err != nil {
		m.logger.Warn("couldn't save scan progress", "log", f.cfg.Name, "err", err)
		return
	}
	*st = saved
}

// visitor returns the identity check of each scanned entry, or nil if
// there are no identity rules.
func (m *Monitor) visitor(ctx context.Context, f *followedLog) func(uint64, []byte) {
	if m.matcher.Empty() {
		return nil
	}
	certificates := m.metrics.certificates.WithLabelValues(f.cfg.Name)
	unparsable := m.metrics.unparsable.WithLabelValues(f.cfg.Name)
	untrusted := m.metrics.untrusted.WithLabelValues(f.cfg.Name)
	identities := EntryIdentities
	if f.log.Kind == KindCT {
		identities = ctEntryIdentities
	}
	return func(index uint64, entry []byte) {
		ids, err := identities(entry)
		if err != nil {
			unparsable.Inc()
			m.logger.Warn("couldn't read the certificates of an entry", "log", f.cfg.Name, "index", index, "err", err)
			return
		}
		certificates.Add(float64(len(ids)))
		for _, id := range ids {
			findings := m.matcher.Check(id)
			if len(findings) > 0 && m.cas != nil {
				// Only now, for the rare certificate that raises an alert,
				// is it parsed whole and its chain checked: a certificate
				// no trusted CA issued proves nothing about the identity.
				der, err := id.Certificate()
				if err == nil {
					err = m.cas.VerifyCertificate(der)
				}
				if err != nil {
					untrusted.Inc()
					m.logger.Info("ignoring a certificate no trusted CA issued", "log", f.cfg.Name, "index", index,
						"subjects", id.Subjects, "issuer", id.Issuer, "err", err)
					continue
				}
			}
			for _, fd := range findings {
				msg := fmt.Sprintf("entry %d is signed by %s (issuer %s)", index, strings.Join(id.Subjects, ", "), id.Issuer)
				if fd.Type == AlertUnexpectedIdentity {
					msg += ", which no allow rule matches"
				}
				m.alerter.Raise(ctx, Alert{Type: fd.Type, Log: f.cfg.Name, Origin: f.log.Origin, Message: msg,
					Index: &index, Subjects: id.Subjects, Issuer: id.Issuer, Rule: fd.Rule})
			}
		}
	}
}

type monitorMetrics struct {
	treeSize, scanned, lastSuccess                *prometheus.GaugeVec
	entries, certificates, unparsable, pollErrors *prometheus.CounterVec
	untrusted                                     *prometheus.CounterVec
	alerts                                        *prometheus.CounterVec
	webhookErrors                                 prometheus.Counter
	alertStoreErrors                              prometheus.Counter
	tufExpiry                                     *prometheus.GaugeVec
}

func newMonitorMetrics(reg prometheus.Registerer) *monitorMetrics {
	gauge := func(name, help string) *prometheus.GaugeVec {
		return prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "hallmark_monitor_" + name, Help: help}, []string{"log"})
	}
	counter := func(name, help string, labels ...string) *prometheus.CounterVec {
		return prometheus.NewCounterVec(prometheus.CounterOpts{Name: "hallmark_monitor_" + name, Help: help}, append([]string{"log"}, labels...))
	}
	m := &monitorMetrics{
		treeSize:      gauge("verified_tree_size", "Size of the latest verified, consistent checkpoint."),
		scanned:       gauge("scanned_entries", "Entries scanned so far (the index the scan has reached)."),
		lastSuccess:   gauge("last_success_timestamp_seconds", "Time of the last poll that completed."),
		entries:       counter("entries_scanned_total", "Entries read and checked."),
		certificates:  counter("certificates_checked_total", "Certificates checked against the identity rules."),
		unparsable:    counter("unparsable_total", "Entries or certificates whose identity could not be read."),
		untrusted:     counter("untrusted_certificates_total", "Certificates matching identity rules but issued by no trusted CA (not alerted)."),
		pollErrors:    counter("poll_errors_total", "Polls that could not complete (network, server errors)."),
		alerts:        counter("alerts_total", "Alerts raised, by type.", "type"),
		webhookErrors: prometheus.NewCounter(prometheus.CounterOpts{Name: "hallmark_monitor_webhook_errors_total", Help: "Alerts the webhook did not accept."}),
		alertStoreErrors: prometheus.NewCounter(prometheus.CounterOpts{Name: "hallmark_monitor_alert_store_errors_total",
			Help: "Alerts that could not be kept in the state store for GET /alerts."}),
		tufExpiry: newTUFExpiryGauge(),
	}
	if reg != nil {
		reg.MustRegister(m.treeSize, m.scanned, m.lastSuccess, m.entries, m.certificates, m.unparsable, m.untrusted, m.pollErrors, m.alerts, m.webhookErrors, m.alertStoreErrors, m.tufExpiry)
	}
	return m
}

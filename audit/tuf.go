package audit

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/theupdateframework/go-tuf/v2/metadata"
	"github.com/theupdateframework/go-tuf/v2/metadata/config"
	"github.com/theupdateframework/go-tuf/v2/metadata/updater"
)

// TUF alert types.
const (
	// AlertTUFExpiring: a role's metadata expires within warn_before.
	// Raised once per role and expiry (a re-signed role that is again
	// close to expiry raises it again).
	AlertTUFExpiring = "tuf_metadata_expiring"
	// AlertTUFRefused: a TUF client refuses the repository: metadata
	// expired, signed by too few of the keys its root names, versions
	// rolled back, hashes that do not match. Clients cannot update.
	AlertTUFRefused = "tuf_repository_refused"
)

// TUFRepoConfig is a TUF repository whose metadata the monitor checks,
// as a client does, at every poll.
type TUFRepoConfig struct {
	// Name identifies the repository in alerts and metrics.
	Name string `yaml:"name"`
	// URL is the repository's mirror URL, as clients pass it to `cosign
	// initialize --mirror`.
	URL string `yaml:"url"`
	// RootFile is the root metadata the monitor trusts to start with
	// (1.root.json, or any later root obtained out of band); it follows
	// every root rotation from there, as clients do.
	RootFile string `yaml:"root_file"`
	// WarnBefore raises tuf_metadata_expiring when a role's metadata
	// expires within it. Default 72h (the margin a daily `hallmark tuf
	// refresh` leaves with the default 7-day timestamp is 3.5 days).
	WarnBefore time.Duration `yaml:"warn_before"`
}

func (c *TUFRepoConfig) validate(i int) error {
	if c.Name == "" {
		return fmt.Errorf("tuf[%d]: name is required", i)
	}
	if u, err := url.Parse(c.URL); err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
		return fmt.Errorf("tuf[%d] (%s): url %q must be an absolute http(s) URL", i, c.Name, c.URL)
	}
	if c.RootFile == "" {
		return fmt.Errorf("tuf[%d] (%s): root_file is required (the repository's 1.root.json)", i, c.Name)
	}
	if c.WarnBefore == 0 {
		c.WarnBefore = 72 * time.Hour
	}
	if c.WarnBefore < 0 {
		return fmt.Errorf("tuf[%d] (%s): warn_before must be positive", i, c.Name)
	}
	return nil
}

// followedTUF is a repository the monitor checks.
type followedTUF struct {
	cfg  TUFRepoConfig
	root []byte
	// raised dedupes alerts: role → the evidence last reported.
	raised map[string]string
}

func (m *Monitor) addTUF(cfg *MonitorConfig) error {
	for _, c := range cfg.TUF {
		root, err := os.ReadFile(cfg.Path(c.RootFile))
		if err != nil {
			return fmt.Errorf("tuf %s: root_file: %w", c.Name, err)
		}
		if _, err := metadata.Root().FromBytes(root); err != nil {
			return fmt.Errorf("tuf %s: root_file %s: %w", c.Name, c.RootFile, err)
		}
		m.tuf = append(m.tuf, &followedTUF{cfg: c, root: root, raised: map[string]string{}})
	}
	return nil
}

// pollTUF updates from the repository as a client does (go-tuf's
// updater, the client of sigstore-go and cosign, with no cache: from the
// configured root every time) and checks each role's expiry. A refusal
// by the client is an alert; a repository that cannot be reached is an
// error.
func (m *Monitor) pollTUF(ctx context.Context, f *followedTUF) error {
	cfg, err := config.New(f.cfg.URL, f.root)
	if err != nil {
		return err
	}
	cfg.DisableLocalCache = true
	up, err := updater.New(cfg)
	if err != nil {
		return err
	}
	now := m.now()
	up.UnsafeSetRefTime(now) // the monitor's clock (a test's, or time.Now)
	if err := up.Refresh(); err != nil {
		if errors.Is(err, &metadata.ErrRepository{}) {
			m.tufAlert(ctx, f, "", AlertTUFRefused, err.Error(), fmt.Sprintf("TUF clients refuse the repository: %v", err), nil)
			return nil
		}
		return fmt.Errorf("couldn't update from %s: %w", f.cfg.URL, err)
	}
	delete(f.raised, "")
	tm := up.GetTrustedMetadataSet()
	expiries := map[string]time.Time{
		metadata.ROOT: tm.Root.Signed.Expires, metadata.TARGETS: tm.Targets[metadata.TARGETS].Signed.Expires,
		metadata.SNAPSHOT: tm.Snapshot.Signed.Expires, metadata.TIMESTAMP: tm.Timestamp.Signed.Expires,
	}
	versions := map[string]int64{
		metadata.ROOT: tm.Root.Signed.Version, metadata.TARGETS: tm.Targets[metadata.TARGETS].Signed.Version,
		metadata.SNAPSHOT: tm.Snapshot.Signed.Version, metadata.TIMESTAMP: tm.Timestamp.Signed.Version,
	}
	for _, role := range []string{metadata.ROOT, metadata.TARGETS, metadata.SNAPSHOT, metadata.TIMESTAMP} {
		exp := expiries[role]
		m.metrics.tufExpiry.WithLabelValues(f.cfg.Name, role).Set(float64(exp.Unix()))
		if left := exp.Sub(now); left < f.cfg.WarnBefore {
			msg := fmt.Sprintf("%s metadata v%d expires at %s, in %s (warn_before %s): clients will refuse the repository then",
				role, versions[role], exp.UTC().Format(time.RFC3339), left.Round(time.Minute), f.cfg.WarnBefore)
			m.tufAlert(ctx, f, role, AlertTUFExpiring, exp.String(), msg, &exp)
		}
	}
	return nil
}

// tufAlert raises an alert unless the same evidence was reported for the
// role already.
func (m *Monitor) tufAlert(ctx context.Context, f *followedTUF, role, typ, evidence, msg string, expires *time.Time) {
	key := typ + " " + evidence
	if f.raised[role] == key {
		return
	}
	f.raised[role] = key
	m.alerter.Raise(ctx, Alert{Type: typ, Log: f.cfg.Name, Message: msg, TUFRole: role, Expires: expires})
}

func newTUFExpiryGauge() *prometheus.GaugeVec {
	return prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "hallmark_monitor_tuf_expiry_timestamp_seconds",
		Help: "When each role's metadata of a TUF repository expires, as a client last saw it (Unix time)."}, []string{"repository", "role"})
}

package audit

import (
	"crypto"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/hallmark-dev/hallmark/internal/yamlcfg"
	"github.com/hallmark-dev/hallmark/tlog/format"
)

// MonitorConfig is the configuration file of `hallmark monitor`. Unknown
// keys are errors. Relative paths are relative to the file's directory.
type MonitorConfig struct {
	// PollInterval is the time between polls of each log. Default 1m.
	PollInterval time.Duration `yaml:"poll_interval"`
	// State says where the last verified state of each log is kept.
	State StateConfig `yaml:"state"`
	// TrustedRoot is a Sigstore trusted_root.json: logs without a
	// public_key_file take their key from the entry whose baseUrl equals
	// their url.
	TrustedRoot string `yaml:"trusted_root"`
	// Webhook, if set, receives every alert as a JSON POST.
	Webhook WebhookConfig `yaml:"webhook"`
	// Scan tunes entry scanning.
	Scan ScanConfig `yaml:"scan"`
	// Identities raise alerts on the certificates of new entries.
	Identities IdentityPolicy `yaml:"identities"`
	// Logs are the logs to follow.
	Logs []MonitoredLogConfig `yaml:"logs"`
	// TUF are TUF repositories (`hallmark tuf`'s, or any other) to check
	// like a client at every poll: an alert when a role's metadata is
	// about to expire, or when clients would refuse the repository.
	TUF []TUFRepoConfig `yaml:"tuf"`

	dir string
}

// StateConfig selects the state store: a file, or PostgreSQL.
type StateConfig struct {
	// File is a JSON file, rewritten atomically after each poll.
	File string `yaml:"file"`
	// DatabaseURL is a PostgreSQL URL (table hallmark_monitor_state).
	// Prefer DatabaseURLFile for URLs with passwords.
	DatabaseURL string `yaml:"database_url"`
	// DatabaseURLFile names a file holding the PostgreSQL URL.
	DatabaseURLFile string `yaml:"database_url_file"`
}

// WebhookConfig is where alerts are POSTed.
type WebhookConfig struct {
	// URL receives a JSON Alert per alert.
	URL string `yaml:"url"`
	// AuthorizationFile, if set, names a file whose content is sent as the
	// Authorization header (e.g. "Bearer <token>").
	AuthorizationFile string `yaml:"authorization_file"`
}

// ScanConfig tunes the scan of new entries.
type ScanConfig struct {
	// Fetchers is how many entry bundles are fetched concurrently per log.
	// Default 16.
	Fetchers int `yaml:"fetchers"`
	// Parsers is how many bundles are parsed in parallel. Default: the
	// number of CPUs.
	Parsers int `yaml:"parsers"`
}

// MonitoredLogConfig is one log to follow.
type MonitoredLogConfig struct {
	// Name identifies the log in alerts, metrics and the state store.
	Name string `yaml:"name"`
	// Kind is "tiles" (any C2SP tlog-tiles log), "rekor-v2", "rekor-v1" or
	// "ct" (a C2SP static-ct-api log).
	Kind Kind `yaml:"kind"`
	// URL is the log's base URL (tiles under URL/tile/, Rekor v1's API
	// under URL/api/v1/).
	URL string `yaml:"url"`
	// Origin is the checkpoint origin. Defaults: rekor-v2: the URL's host
	// name; tiles and ct: the URL without scheme; rekor-v1: learnt from the
	// first checkpoint ("<host> - <tree ID>") and then pinned.
	Origin string `yaml:"origin"`
	// PublicKeyFile is the log's checkpoint key (PEM). Default: the key of
	// the trusted root's log with this URL.
	PublicKeyFile string `yaml:"public_key_file"`
	// KeyName overrides the checkpoint signer name (default: the origin,
	// or the host part of a Rekor v1 origin).
	KeyName string `yaml:"key_name"`
	// Start is where scanning begins the first time the log is seen:
	// "start" (entry 0, the default) or "latest" (only new entries).
	Start string `yaml:"start"`
	// Scan enables reading new entries from entry bundles (default true).
	// Hallmark serves tiles for its Rekor v1 logs too; set false for a
	// Rekor v1 log without tiles (consistency is still checked).
	Scan *bool `yaml:"scan"`
	// Witnesses, if set, makes the monitor accept only checkpoints
	// cosigned by a quorum of these witnesses (tiles and rekor-v2 logs).
	Witnesses *WitnessPolicyConfig `yaml:"witnesses"`
}

// WitnessPolicyConfig says which cosignatures a monitor requires.
type WitnessPolicyConfig struct {
	// VKeys are the witnesses' verifier keys (Ed25519, type 0x04 or 0x01),
	// as `hallmark witness vkey` prints them.
	VKeys []string `yaml:"vkeys"`
	// Quorum is how many of them must have cosigned. Default: all.
	Quorum int `yaml:"quorum"`
	// CheckpointPath is where the cosigned checkpoint is, under the log's
	// URL. Default "cosigned-checkpoint" (hallmark-log); logs that publish
	// their witnessed checkpoint as the checkpoint use "checkpoint".
	CheckpointPath string `yaml:"checkpoint_path"`
}

// LoadMonitorConfig reads and validates a monitor config strictly.
func LoadMonitorConfig(path string) (*MonitorConfig, error) {
	cfg, err := yamlcfg.Load(path, ParseMonitorConfig)
	if err != nil {
		return nil, err
	}
	cfg.dir = filepath.Dir(path)
	return cfg, nil
}

// ParseMonitorConfig decodes and validates a config; unknown keys are errors.
func ParseMonitorConfig(raw []byte) (*MonitorConfig, error) {
	var cfg MonitorConfig
	if err := yamlcfg.Decode(raw, &cfg, nil); err != nil {
		return nil, err
	}
	if cfg.PollInterval == 0 {
		cfg.PollInterval = time.Minute
	}
	if cfg.PollInterval < 0 {
		return nil, errors.New("poll_interval must be positive")
	}
	n := 0
	for _, s := range []string{cfg.State.File, cfg.State.DatabaseURL, cfg.State.DatabaseURLFile} {
		if s != "" {
			n++
		}
	}
	if n != 1 {
		return nil, errors.New("state: set exactly one of file, database_url or database_url_file")
	}
	if _, err := cfg.Identities.Compile(); err != nil {
		return nil, err
	}
	if len(cfg.Logs) == 0 && len(cfg.TUF) == 0 {
		return nil, errors.New("logs: at least one log (or tuf repository) is needed")
	}
	tufNames := map[string]bool{}
	for i := range cfg.TUF {
		if err := cfg.TUF[i].validate(i); err != nil {
			return nil, err
		}
		if tufNames[cfg.TUF[i].Name] {
			return nil, fmt.Errorf("tuf[%d]: name %q is not unique", i, cfg.TUF[i].Name)
		}
		tufNames[cfg.TUF[i].Name] = true
	}
	names := map[string]bool{}
	for i := range cfg.Logs {
		l := &cfg.Logs[i]
		if l.Name == "" || names[l.Name] {
			return nil, fmt.Errorf("logs[%d]: name must be non-empty and unique", i)
		}
		names[l.Name] = true
		switch l.Kind {
		case KindTiles, KindRekorV2, KindRekorV1, KindCT:
		default:
			return nil, fmt.Errorf("logs[%d] (%s): kind %q is not one of tiles, rekor-v2, rekor-v1, ct", i, l.Name, l.Kind)
		}
		if u, err := url.Parse(l.URL); err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
			return nil, fmt.Errorf("logs[%d] (%s): url %q must be an absolute http(s) URL", i, l.Name, l.URL)
		}
		if l.PublicKeyFile == "" && cfg.TrustedRoot == "" {
			return nil, fmt.Errorf("logs[%d] (%s): set public_key_file, or trusted_root at the top level", i, l.Name)
		}
		if w := l.Witnesses; w != nil {
			if l.Kind == KindRekorV1 {
				return nil, fmt.Errorf("logs[%d] (%s): Rekor v1 checkpoints carry no cosignatures", i, l.Name)
			}
			if w.Quorum == 0 {
				w.Quorum = len(w.VKeys)
			}
			if len(w.VKeys) == 0 || w.Quorum < 0 || w.Quorum > len(w.VKeys) {
				return nil, fmt.Errorf("logs[%d] (%s): witnesses: list vkeys, and a quorum between 1 and their number", i, l.Name)
			}
			for _, k := range w.VKeys {
				if _, err := format.ParseWitnessKey(k); err != nil {
					return nil, fmt.Errorf("logs[%d] (%s): witnesses: %w", i, l.Name, err)
				}
			}
			if w.CheckpointPath == "" {
				w.CheckpointPath = "cosigned-checkpoint"
			}
		}
		switch l.Start {
		case "":
			l.Start = "start"
		case "start", "latest":
		default:
			return nil, fmt.Errorf("logs[%d] (%s): start must be \"start\" or \"latest\"", i, l.Name)
		}
	}
	return &cfg, nil
}

// Path resolves p relative to the config file's directory.
func (c *MonitorConfig) Path(p string) string {
	if p == "" || filepath.IsAbs(p) || c.dir == "" {
		return p
	}
	return filepath.Join(c.dir, p)
}

// scanEnabled reports whether the log's entries are scanned.
func (l *MonitoredLogConfig) scanEnabled() bool { return l.Scan == nil || *l.Scan }

// logKey returns the checkpoint key of l from its key file or the
// trusted root.
func (c *MonitorConfig) logKey(l *MonitoredLogConfig, tr *TrustedRoot) (crypto.PublicKey, error) {
	if l.PublicKeyFile != "" {
		return LoadPublicKey(c.Path(l.PublicKeyFile))
	}
	tl, err := tr.ByURL(l.URL)
	if err != nil {
		return nil, err
	}
	return tl.Key, nil
}

// databaseURL returns the PostgreSQL URL of the state store, or "".
func (c *MonitorConfig) databaseURL() (string, error) {
	if c.State.DatabaseURLFile != "" {
		b, err := os.ReadFile(c.Path(c.State.DatabaseURLFile))
		if err != nil {
			return "", fmt.Errorf("couldn't read state.database_url_file: %w", err)
		}
		return strings.TrimSpace(string(b)), nil
	}
	return c.State.DatabaseURL, nil
}

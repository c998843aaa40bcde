package witness

import (
	"crypto/ed25519"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"

	"golang.org/x/mod/sumdb/note"

	"github.com/hallmark-dev/hallmark/internal/yamlcfg"
	"github.com/hallmark-dev/hallmark/tlog"
	"github.com/hallmark-dev/hallmark/tlog/format"
)

// ServerConfig is the configuration file of `hallmark witness`. Unknown
// keys are errors. Relative paths are relative to the file's directory.
//
//	listen: {http: 0.0.0.0:3030}
//	name: witness.example.com/site-b
//	key_file: witness.pem
//	state_file: witness-state.json
//	logs:
//	  - origin: log.example.com/v2
//	    vkeys: ["log.example.com/v2+1a2b3c4d+AQ..."]
type ServerConfig struct {
	// Listen holds the listen address, in the shape of the other
	// services' `listen:` (the witness has only an HTTP listener, which
	// also serves /metrics).
	Listen ListenConfig `yaml:"listen"`
	// Prefix is the URL path prefix of the API (the witness's submission
	// and monitoring prefix), e.g. "/witness". Default: none.
	Prefix string `yaml:"prefix"`
	// Name is the witness's name: the key name of its cosignature lines,
	// conventionally a schema-less URL such as witness.example.com/w1.
	Name string `yaml:"name"`
	// KeyFile is the witness's Ed25519 private key (PKCS#8 PEM, e.g. from
	// `hallmark keys generate --type ed25519`).
	KeyFile string `yaml:"key_file"`
	// StateFile holds the latest cosigned checkpoint of every log. It is
	// the witness's memory: losing it lets a log roll back once. Back it up.
	StateFile string `yaml:"state_file"`
	// Logs are the logs this witness cosigns.
	Logs []WitnessedLogConfig `yaml:"logs"`

	dir string
}

// ListenConfig holds the witness's listen address.
type ListenConfig struct {
	// HTTP serves the witness API and /metrics. Default 127.0.0.1:3030.
	HTTP string `yaml:"http"`
}

// configRenames are the keys the witness config changed: listen was a
// single address. Kebab-case spellings of the keys are recognised by
// yamlcfg without an entry.
var configRenames = yamlcfg.Renames{"listen": "listen.http"}

// WitnessedLogConfig is one log a witness cosigns.
type WitnessedLogConfig struct {
	// Origin is the first line of the log's checkpoints.
	Origin string `yaml:"origin"`
	// VKeys are the log's checkpoint keys as C2SP verifier keys: Ed25519
	// (type 0x01) or ECDSA (type 0x02). `hallmark witness vkey --key
	// log.pem --name ORIGIN` prints them. Several keys allow a rotation.
	VKeys []string `yaml:"vkeys"`
}

// LoadServerConfig reads and validates a witness configuration strictly.
func LoadServerConfig(path string) (*ServerConfig, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("couldn't read config: %w", err)
	}
	var cfg ServerConfig
	if err := yamlcfg.Decode(raw, &cfg, configRenames); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	cfg.dir = filepath.Dir(path)
	if cfg.Listen.HTTP == "" {
		cfg.Listen.HTTP = "127.0.0.1:3030"
	}
	if !format.ValidNoteName(cfg.Name) {
		return nil, fmt.Errorf("%s: name %q must be non-empty, without spaces or '+'", path, cfg.Name)
	}
	if cfg.KeyFile == "" || cfg.StateFile == "" {
		return nil, fmt.Errorf("%s: key_file and state_file are required", path)
	}
	if len(cfg.Logs) == 0 {
		return nil, fmt.Errorf("%s: logs: at least one log is needed", path)
	}
	if _, err := cfg.TrustedLogs(); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return &cfg, nil
}

// Path resolves p relative to the config file's directory.
func (c *ServerConfig) Path(p string) string {
	if p == "" || filepath.IsAbs(p) || c.dir == "" {
		return p
	}
	return filepath.Join(c.dir, p)
}

// TrustedLogs parses the configured logs' keys.
func (c *ServerConfig) TrustedLogs() ([]TrustedLog, error) {
	var out []TrustedLog
	for i, l := range c.Logs {
		if l.Origin == "" || len(l.VKeys) == 0 {
			return nil, fmt.Errorf("logs[%d]: origin and vkeys are required", i)
		}
		tl := TrustedLog{Origin: l.Origin}
		for _, s := range l.VKeys {
			v, err := format.ParseLogKey(s)
			if err != nil {
				return nil, fmt.Errorf("logs[%d] (%s): %w", i, l.Origin, err)
			}
			tl.Keys = append(tl.Keys, v)
		}
		out = append(out, tl)
	}
	return out, nil
}

// Signer loads the witness key and returns its cosignature signer.
func (c *ServerConfig) Signer() (note.Signer, ed25519.PublicKey, error) {
	key, err := tlog.LoadPrivateKey(c.Path(c.KeyFile))
	if err != nil {
		return nil, nil, err
	}
	k, ok := key.(ed25519.PrivateKey)
	if !ok {
		return nil, nil, errors.New("the witness key must be Ed25519")
	}
	s, err := format.NewCosignatureSigner(c.Name, k, nil)
	if err != nil {
		return nil, nil, err
	}
	return s, k.Public().(ed25519.PublicKey), nil
}

// NewCosignerFromConfig builds the Cosigner of a hallmark-log log from its
// witnesses configuration (tlog.LogConfig.Witnesses).
func NewCosignerFromConfig(logName string, cfg *tlog.WitnessesConfig, m *Metrics, logger *slog.Logger) (*Cosigner, error) {
	cc := CosignerConfig{Log: logName, Quorum: cfg.Quorum, Timeout: cfg.Timeout, Metrics: m, Logger: logger}
	for i, e := range cfg.Endpoints {
		key, err := format.ParseWitnessKey(e.VKey)
		if err != nil {
			return nil, fmt.Errorf("witnesses.endpoints[%d]: %w", i, err)
		}
		cc.Witnesses = append(cc.Witnesses, Endpoint{URL: e.URL, Key: key})
	}
	return NewCosigner(cc)
}

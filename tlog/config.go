package tlog

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/mldsa"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/hallmark-dev/hallmark/api/access"
	"github.com/hallmark-dev/hallmark/api/admission"
	"github.com/hallmark-dev/hallmark/internal/signer"
	"github.com/hallmark-dev/hallmark/internal/yamlcfg"
	"github.com/hallmark-dev/hallmark/tlog/format"
)

// ServiceConfig is hallmark-log's configuration file. Unknown keys are
// errors. Relative paths are relative to the file's directory.
type ServiceConfig struct {
	// Listen holds the service's listen addresses.
	Listen ListenConfig `yaml:"listen"`
	// Database selects the store: PostgreSQL (url or url_file) or the
	// embedded SQLite file (sqlite). Exactly one must be set.
	Database DatabaseConfig `yaml:"database"`
	// Limits on requests.
	Limits LimitsConfig `yaml:"limits"`
	// Quota holds the quota settings of the service and the default
	// limits of every log. See QuotaConfig and docs/access.md#quotas.
	Quota QuotaConfig `yaml:"quota"`
	// Logs served by this process, each with its own origin, key and URL.
	Logs []LogConfig `yaml:"logs"`
	// ReadOnly makes this process a read-only replica: it serves
	// checkpoints, tiles, entries and proofs of logs that already exist,
	// answers writes with 405 (gRPC FAILED_PRECONDITION) saying so, runs no
	// sequencer, applies no migrations and opens PostgreSQL sessions
	// read-only, so database.url may name a streaming standby. Its
	// checkpoint follows the database (refreshed every second), so it lags
	// the primary by the replication delay. Default false.
	ReadOnly bool `yaml:"read_only"`
	// Console configures the auditor console (/console/). Optional.
	Console ConsoleConfig `yaml:"console"`

	dir string // directory of the config file
}

// ConsoleConfig configures the auditor console.
type ConsoleConfig struct {
	// MonitorURL is the base URL of a `hallmark monitor` running beside
	// this log, whose metrics listener (--metrics-addr) serves GET /alerts:
	// the console shows its recent alerts, fetched by hallmark-log (the
	// browser talks to this origin only). An http or https URL. Default
	// "": the console says no monitor is configured.
	MonitorURL string `yaml:"monitor_url"`
}

// ListenConfig holds listen addresses. Both default to loopback.
type ListenConfig struct {
	// HTTP serves the REST APIs, tiles, /healthz and (unless Metrics is
	// set) /metrics. Default 127.0.0.1:3000.
	HTTP string `yaml:"http"`
	// GRPC serves the gRPC APIs. Default 127.0.0.1:3001; "off" disables it.
	GRPC string `yaml:"grpc"`
	// Metrics, if set, serves GET /metrics on its own listener (e.g. an
	// address only the monitoring network reaches) instead of on HTTP.
	// Default "": /metrics is on the HTTP listener.
	Metrics string `yaml:"metrics"`
	// TLS, if set, serves HTTP and gRPC over TLS (the metrics listener
	// stays plain), and with client_ca_file verifies TLS client
	// certificates for write rules of kind client_certificate
	// (docs/access.md).
	TLS *TLSConfig `yaml:"tls"`
}

// TLSConfig is the server certificate of the HTTP and gRPC listeners and,
// optionally, the CA of client certificates.
type TLSConfig struct {
	// CertFile is the PEM certificate chain of the server. Required.
	CertFile string `yaml:"cert_file"`
	// KeyFile is its PEM private key. Required.
	KeyFile string `yaml:"key_file"`
	// ClientCAFile is a PEM file of the CAs that issue client
	// certificates. With it, a client may present a certificate, which is
	// verified against these CAs (a connection with a bad one fails); a
	// client without one still connects (cosign sends none), and the
	// log's write policy decides. Default "": no client certificates.
	ClientCAFile string `yaml:"client_ca_file"`
}

// DatabaseConfig selects the store.
type DatabaseConfig struct {
	// URL is a PostgreSQL connection URL. Prefer URLFile or the
	// HALLMARK_DATABASE_URL environment variable for URLs with passwords.
	URL string `yaml:"url"`
	// URLFile names a file holding the PostgreSQL URL (e.g. a Kubernetes
	// Secret mount).
	URLFile string `yaml:"url_file"`
	// SQLite is the path of an embedded database file, created if absent.
	SQLite string `yaml:"sqlite"`
}

// LimitsConfig bounds requests.
type LimitsConfig struct {
	// MaxRequestBytes is the largest request body (or gRPC message)
	// accepted; larger requests get 413 (gRPC RESOURCE_EXHAUSTED). Entry
	// submissions to a Rekor log may be larger where the log's
	// limits.max_entry_bytes says so (REST only). Default 4 MiB.
	MaxRequestBytes int64 `yaml:"max_request_bytes"`
	// InflightBytes is the process's byte budget for request bodies in
	// flight, shared by HTTP and gRPC. An HTTP request reserves its
	// Content-Length (max_request_bytes when chunked) before its body is
	// read, and holds it until answered; a gRPC stream reserves
	// max_request_bytes until its message is decoded, then the decoded
	// size. Bodies over 64 KiB share at most three quarters of it, so
	// small requests are admitted while large ones fill the rest. An entry
	// larger than max_request_bytes (see logs[].limits.max_entry_bytes)
	// reserves EntryReserveFactor times its length. Must be at least twice
	// the largest reservation: max_request_bytes, or EntryReserveFactor ×
	// the largest max_entry_bytes above it. Default 64 MiB; metrics
	// hallmark_log_request_budget_in_use_bytes, _waits_total,
	// _refused_total.
	InflightBytes int64 `yaml:"inflight_bytes"`
	// InflightWait is how long an HTTP request waits for budget before it
	// gets 503 with Retry-After (its body unread). gRPC streams do not
	// wait: they get UNAVAILABLE at once. Default 1s.
	InflightWait time.Duration `yaml:"inflight_wait"`
	// BodyTimeout is how long a request body (or gRPC request message) may
	// take to arrive once admitted; a slower sender's request fails and
	// its budget is released. Default 30s; metric
	// hallmark_log_request_body_timeouts_total.
	BodyTimeout time.Duration `yaml:"body_timeout"`
	// MaxConnections caps the open connections of each listener (HTTP,
	// gRPC, metrics); beyond it new connections are closed at once.
	// Default 512; metrics hallmark_log_connections_open and
	// hallmark_log_connections_refused_total.
	MaxConnections int `yaml:"max_connections"`
	// GRPCMaxStreams caps the concurrent streams of one gRPC connection.
	// Default 100.
	GRPCMaxStreams uint32 `yaml:"grpc_max_streams"`
	// IdleTimeout closes HTTP keep-alive and gRPC connections that have no
	// request in flight for this long (a gRPC connection that only sent
	// its preface included). Default 60s.
	IdleTimeout time.Duration `yaml:"idle_timeout"`
	// GRPCMaxConnectionAge closes gRPC connections this old with GOAWAY;
	// RPCs in flight get 30 s more. Default 30m.
	GRPCMaxConnectionAge time.Duration `yaml:"grpc_max_connection_age"`
}

// EntryReserveFactor is how many times its Content-Length an entry
// submission larger than limits.max_request_bytes reserves from the
// in-flight budget: what decoding it holds at once. A Rekor v1 envelope
// is held at most twice (its text, then the payload decoded from it); a
// Rekor v2 JSON body is held with the payload's JSON string and the
// payload decoded from it while protojson decodes, 2.75 times (the
// BenchmarkLargeEntry* benchmarks of tlog/rekorv1 and tlog/rekorv2,
// docs/BENCHMARKS.md "Large attestations").
const EntryReserveFactor = 3

// LargestReservation is the most one request reserves from the in-flight
// budget: max_request_bytes, or an entry over it allowed by a log's
// max_entry_bytes, EntryReserveFactor times.
func (c *ServiceConfig) LargestReservation() int64 {
	n := c.Limits.MaxRequestBytes
	for i := range c.Logs {
		if m := c.Logs[i].MaxEntryRoute(c.Limits.MaxRequestBytes); m > c.Limits.MaxRequestBytes {
			n = max(n, EntryReserveFactor*m)
		}
	}
	return n
}

// Admission returns the limits for package admission, with defaults.
func (l LimitsConfig) Admission() admission.Limits {
	return admission.Limits{
		InflightBytes: l.InflightBytes, InflightWait: l.InflightWait, BodyTimeout: l.BodyTimeout,
		MaxConnections: l.MaxConnections, GRPCMaxStreams: l.GRPCMaxStreams, IdleTimeout: l.IdleTimeout,
		MaxConnectionAge: l.GRPCMaxConnectionAge,
	}.Defaults()
}

// LogConfig describes one log.
type LogConfig struct {
	// Name identifies the log in the database. Never change it.
	Name string `yaml:"name"`
	// Kind is the log's personality: "tiles" (plain C2SP tlog-tiles log
	// with a raw append endpoint), "rekor-v1", "rekor-v2" or "ct"
	// (Certificate Transparency, RFC 6962 + C2SP static-ct-api).
	Kind string `yaml:"kind"`
	// URL is the log's public base URL. Its path is the prefix under which
	// the log is served (e.g. https://log.example.com/main serves
	// /main/checkpoint). For rekor-v2 logs its host name is the origin.
	URL string `yaml:"url"`
	// Origin overrides the checkpoint origin. Defaults: tiles: URL without
	// scheme; rekor-v2: URL host name; rekor-v1: "<hostname> - <tree_id>".
	Origin string `yaml:"origin"`
	// KeyFile is a PEM private key (PKCS#8, or SEC 1 "EC PRIVATE KEY"):
	// Ed25519, ECDSA P-256 or ML-DSA-44 (PKCS#8 seed form, RFC 9881). Rekor
	// v1 and ct logs need ECDSA P-256; ML-DSA-44 is for rekor-v2 and tiles
	// logs only (see CheckKey). It is shorthand for
	// signer: {type: file, file: {key_file: ...}}; set key_file or signer.
	KeyFile string `yaml:"key_file"`
	// Signer is the log's key wherever it lives, in the section
	// hallmark-ca uses for its CA and TSA keys (signer.Config): type file
	// (file.key_file, plaintext PEM, or encrypted PKCS#8 with
	// file.password_file or password_env), pkcs11 (an HSM: pkcs11.module,
	// token_label, key_label, pin_file or pin_env, max_sessions) or kms
	// (kms.key, e.g. awskms:///alias/rekor; kms.timeout). A key in a token
	// or a KMS never leaves it. Types per kind as for key_file: PKCS#11
	// keys may be ECDSA P-256 or Ed25519 (CKM_EDDSA), KMS keys ECDSA P-256
	// (AWS, Google Cloud, Azure) or Ed25519 (Vault transit); ML-DSA-44 is
	// file only. Relative paths are relative to the config file.
	Signer *signer.Config `yaml:"signer"`
	// Batch bounds batches and the queue.
	Batch BatchConfig `yaml:"batch"`
	// CacheBytes bounds the in-process tile cache. Default 64 MiB.
	CacheBytes int `yaml:"cache_bytes"`
	// Quota overrides the service's quota.per_address, quota.total and
	// quota.per_identity for this log, each limit on its own (a limit
	// set here replaces the default). See LogQuotaConfig.
	Quota LogQuotaConfig `yaml:"quota"`
	// Rekor holds options of the rekor-v1 and rekor-v2 personalities.
	Rekor RekorConfig `yaml:"rekor"`
	// Limits bounds what this log accepts (rekor-v1 and rekor-v2 logs).
	Limits LogLimitsConfig `yaml:"limits"`
	// CT holds options of the ct personality.
	CT CTConfig `yaml:"ct"`
	// Witnesses, if set, are asked to cosign each new checkpoint (C2SP
	// tlog-witness); the newest checkpoint cosigned by the quorum is served
	// at <prefix>/cosigned-checkpoint. Not for rekor-v1 logs: Rekor v1
	// clients reject checkpoints with foreign signatures.
	Witnesses *WitnessesConfig `yaml:"witnesses"`
	// ReadOnly freezes this log: it is still served (checkpoints, tiles,
	// entries, proofs) but refuses writes, like the service-wide read_only
	// does for every log. Use it for a shard that was rotated out: its
	// entries keep verifying. The log must exist. Default false.
	ReadOnly bool `yaml:"read_only"`
	// Write is the log's write policy: who may add entries (open, signing
	// certificates of given roots and identities, listed keys, callers
	// with an OIDC token or a TLS client certificate). Without it the log
	// is open to anyone, and hallmark-log warns at every start. See
	// docs/access.md.
	Write *access.Config `yaml:"write"`
}

// CTConfig holds options of "ct" logs (RFC 6962 submissions, C2SP
// static-ct-api reads). A ct log's key_file must be ECDSA P-256, and its
// origin is its URL without scheme (the static-ct-api submission prefix);
// docs/ct.md has the details.
type CTConfig struct {
	// RootsFile is a PEM file of the accepted roots: chains submitted to
	// add-chain and add-pre-chain must verify to one of them. For a
	// Hallmark CA, its chain file (the root is taken from it). Required.
	RootsFile string `yaml:"roots_file"`
}

// WitnessesConfig lists the witnesses of a log (see docs/auditing.md).
type WitnessesConfig struct {
	// Quorum is how many witnesses must cosign a checkpoint before it is
	// served as the cosigned checkpoint. Default 1.
	Quorum int `yaml:"quorum"`
	// Timeout bounds each request to a witness. Default 10s.
	Timeout time.Duration `yaml:"timeout"`
	// Endpoints are the witnesses.
	Endpoints []WitnessEndpoint `yaml:"endpoints"`
}

// WitnessEndpoint is one witness.
type WitnessEndpoint struct {
	// URL is the witness's submission prefix: checkpoints are POSTed to
	// URL/add-checkpoint.
	URL string `yaml:"url"`
	// VKey is the witness's public key as a C2SP verifier key,
	// <name>+<key ID>+<base64 key>, with an Ed25519 key of type 0x04
	// (cosignature/v1) or 0x01. `hallmark witness vkey` prints it.
	VKey string `yaml:"vkey"`
}

// BatchConfig bounds batches; zero values take the engine defaults.
type BatchConfig struct {
	// MaxSize is the most entries one batch commits. Default 1024.
	MaxSize int `yaml:"max_size"`
	// MaxAge is the longest an entry waits for its batch to start
	// committing. Default 50ms.
	MaxAge time.Duration `yaml:"max_age"`
	// MaxPending is the most entries queued; more get 503 + Retry-After.
	// Default 16384.
	MaxPending int `yaml:"max_pending"`
}

// RekorConfig holds personality options for Rekor-compatible logs.
type RekorConfig struct {
	// TreeID is the Rekor v1 tree ID (decimal, non-zero). Required for
	// rekor-v1; keep an adopted log's ID.
	TreeID int64 `yaml:"tree_id"`
	// Hostname is the Rekor v1 checkpoint signer name and origin prefix.
	// Default: the URL's host name.
	Hostname string `yaml:"hostname"`
	// AllowedKinds restricts the entry kinds accepted (rekor-v1:
	// hashedrekord, dsse, intoto). Empty means all.
	AllowedKinds []string `yaml:"allowed_kinds"`
	// AllowedAlgorithms restricts the key and artifact-hash pairs accepted
	// in hashedrekord entries, with Rekor's algorithm names (e.g.
	// ecdsa-sha2-256-nistp256, ed25519, rsa-sign-pkcs1-2048-sha256).
	// Empty means Rekor's defaults.
	AllowedAlgorithms []string `yaml:"allowed_algorithms"`
	// InactiveShards (rekor-v1) names the frozen rekor-v1 logs whose
	// entries this log serves too, oldest first, as Rekor serves its
	// inactive trees: /api/v1/log lists them under inactiveShards, and
	// entries carry Rekor's virtual log index (the sizes of the shards
	// before theirs plus their own index). Each must be a rekor-v1 log of
	// this file with read_only: true and its own tree_id; one with the same
	// URL is served only through this log. `hallmark log rotate rekor-v1`
	// maintains this list.
	InactiveShards []string `yaml:"inactive_shards"`
	// MaxEnvelopeSignatures (rekor-v1) bounds the signatures of one DSSE
	// envelope in dsse and intoto entries; more get 400. Default 8.
	MaxEnvelopeSignatures int `yaml:"max_envelope_signatures"`
	// MaxEnvelopeVerifiers (rekor-v1) bounds the keys of one dsse entry
	// (its verifiers) or intoto 0.0.2 entry (one per signature). Default 8.
	MaxEnvelopeVerifiers int `yaml:"max_envelope_verifiers"`
	// MaxSignatureChecks (rekor-v1) bounds signatures × keys of one entry,
	// the most signature verifications it may cost. Default 16.
	MaxSignatureChecks int `yaml:"max_signature_checks"`
}

// LoadServiceConfig reads and validates a config file strictly.
func LoadServiceConfig(path string) (*ServiceConfig, error) {
	cfg, err := yamlcfg.Load(path, ParseServiceConfig)
	if err != nil {
		return nil, err
	}
	cfg.dir = filepath.Dir(path)
	return cfg, nil
}

// ParseServiceConfig decodes and validates a config; unknown keys are errors.
func ParseServiceConfig(raw []byte) (*ServiceConfig, error) {
	var cfg ServiceConfig
	if err := yamlcfg.Decode(raw, &cfg, nil); err != nil {
		return nil, err
	}
	if cfg.Listen.HTTP == "" {
		cfg.Listen.HTTP = "127.0.0.1:3000"
	}
	if cfg.Listen.GRPC == "" {
		cfg.Listen.GRPC = "127.0.0.1:3001"
	}
	if cfg.Limits.MaxRequestBytes == 0 {
		cfg.Limits.MaxRequestBytes = 4 << 20
	}
	if err := cfg.Limits.Admission().Validate(cfg.Limits.MaxRequestBytes); err != nil {
		return nil, fmt.Errorf("limits: %w", err)
	}
	n := 0
	for _, s := range []string{cfg.Database.URL, cfg.Database.URLFile, cfg.Database.SQLite} {
		if s != "" {
			n++
		}
	}
	if n != 1 && os.Getenv("HALLMARK_DATABASE_URL") == "" {
		return nil, errors.New("database: set exactly one of url, url_file or sqlite (or HALLMARK_DATABASE_URL)")
	}
	if len(cfg.Logs) == 0 {
		return nil, errors.New("logs: at least one log is needed")
	}
	if err := cfg.Quota.Validate(); err != nil {
		return nil, err
	}
	if t := cfg.Listen.TLS; t != nil && (t.CertFile == "" || t.KeyFile == "") {
		return nil, errors.New("listen.tls: cert_file and key_file are required")
	}
	if u := cfg.Console.MonitorURL; u != "" {
		pu, err := url.Parse(u)
		if err != nil || (pu.Scheme != "http" && pu.Scheme != "https") || pu.Host == "" {
			return nil, fmt.Errorf("console.monitor_url: want an http or https URL, got %q", u)
		}
	}
	names, prefixes := map[string]bool{}, map[string]bool{}
	for i := range cfg.Logs {
		l := &cfg.Logs[i]
		if err := l.validate(); err != nil {
			return nil, fmt.Errorf("logs[%d] (%s): %w", i, l.Name, err)
		}
		if names[l.Name] {
			return nil, fmt.Errorf("logs[%d]: duplicate name %q", i, l.Name)
		}
		names[l.Name] = true
	}
	if err := cfg.validateShards(); err != nil {
		return nil, err
	}
	if n := cfg.LargestReservation(); n > cfg.Limits.MaxRequestBytes {
		if err := cfg.Limits.Admission().Validate(n); err != nil {
			return nil, fmt.Errorf("limits: an entry of the largest logs[].limits.max_entry_bytes reserves %d times its size while it is decoded: %w", EntryReserveFactor, err)
		}
	}
	for i := range cfg.Logs {
		l := &cfg.Logs[i]
		if cfg.ServedThrough(l.Name) != nil {
			continue // shares its active shard's prefix
		}
		if p := l.Prefix(); prefixes[p] {
			return nil, fmt.Errorf("logs[%d]: URL prefix %q is used by another log", i, p)
		} else {
			prefixes[p] = true
		}
	}
	return &cfg, nil
}

// validateShards checks every rekor.inactive_shards list.
func (c *ServiceConfig) validateShards() error {
	byName := map[string]*LogConfig{}
	for i := range c.Logs {
		byName[c.Logs[i].Name] = &c.Logs[i]
	}
	owner := map[string]string{}
	for _, l := range c.Logs {
		if len(l.Rekor.InactiveShards) == 0 {
			continue
		}
		if l.Kind != "rekor-v1" {
			return fmt.Errorf("log %s: rekor.inactive_shards is for rekor-v1 logs", l.Name)
		}
		trees := map[int64]bool{l.Rekor.TreeID: true}
		for _, name := range l.Rekor.InactiveShards {
			in := byName[name]
			switch {
			case in == nil:
				return fmt.Errorf("log %s: inactive shard %q is not a log of this file", l.Name, name)
			case in.Kind != "rekor-v1" || !in.ReadOnly || len(in.Rekor.InactiveShards) > 0:
				return fmt.Errorf("log %s: inactive shard %s must be a rekor-v1 log with read_only: true and no inactive_shards of its own", l.Name, name)
			case trees[in.Rekor.TreeID]:
				return fmt.Errorf("log %s: inactive shard %s reuses tree_id %d", l.Name, name, in.Rekor.TreeID)
			case owner[name] != "":
				return fmt.Errorf("log %s: %s is an inactive shard of %s already", l.Name, name, owner[name])
			}
			trees[in.Rekor.TreeID] = true
			owner[name] = l.Name
		}
	}
	return nil
}

// ServedThrough returns the active rekor-v1 log that lists the named log
// as an inactive shard at the same URL prefix (it is then served only
// through that log), or nil.
func (c *ServiceConfig) ServedThrough(name string) *LogConfig {
	var self *LogConfig
	for i := range c.Logs {
		if c.Logs[i].Name == name {
			self = &c.Logs[i]
		}
	}
	if self == nil {
		return nil
	}
	for i := range c.Logs {
		a := &c.Logs[i]
		if slices.Contains(a.Rekor.InactiveShards, name) && a.Prefix() == self.Prefix() {
			return a
		}
	}
	return nil
}

func (l *LogConfig) validate() error {
	// The name is a key in every table (text): it must be text both
	// stores hold, so no control characters (PostgreSQL refuses NUL).
	if l.Name == "" || strings.ContainsAny(l.Name, " /") || !utf8.ValidString(l.Name) ||
		strings.ContainsFunc(l.Name, unicode.IsControl) {
		return fmt.Errorf("name %q must be non-empty UTF-8 without spaces, slashes or control characters", l.Name)
	}
	switch l.Kind {
	case "tiles", "rekor-v1", "rekor-v2", "ct":
	default:
		return fmt.Errorf("kind %q is not one of tiles, rekor-v1, rekor-v2, ct", l.Kind)
	}
	u, err := url.Parse(l.URL)
	if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
		return fmt.Errorf("url %q must be an absolute http(s) URL", l.URL)
	}
	switch {
	case l.KeyFile == "" && l.Signer == nil:
		return errors.New("a key is required: set key_file or a signer section")
	case l.KeyFile != "" && l.Signer != nil:
		return errors.New("set key_file or signer, not both (key_file is shorthand for a signer of type file)")
	case l.Signer != nil:
		if err := l.Signer.Validate("signer", signer.Options{PlainFile: parsePlainKey}); err != nil {
			return err
		}
	}
	if err := l.Quota.validate(); err != nil {
		return err
	}
	if l.Kind == "ct" && l.CT.RootsFile == "" {
		return errors.New("ct.roots_file is required for ct logs")
	}
	if l.Kind == "rekor-v1" && l.Rekor.TreeID <= 0 {
		return errors.New("rekor.tree_id must be a positive integer for rekor-v1 logs")
	}
	if err := l.validateLimits(); err != nil {
		return err
	}
	if l.Write != nil {
		if err := l.Write.Validate(l.Kind); err != nil {
			return err
		}
	}
	if w := l.Witnesses; w != nil {
		if l.Kind == "rekor-v1" {
			return errors.New("witnesses: Rekor v1 logs cannot be witnessed (v1 clients reject checkpoints with extra signatures)")
		}
		if len(w.Endpoints) == 0 || w.Quorum < 0 || w.Quorum > len(w.Endpoints) {
			return errors.New("witnesses: list at least one endpoint, and a quorum between 1 and their number")
		}
		for i, e := range w.Endpoints {
			if u, err := url.Parse(e.URL); err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") || e.VKey == "" {
				return fmt.Errorf("witnesses.endpoints[%d]: needs an absolute http(s) url and a vkey", i)
			}
		}
	}
	return nil
}

// Prefix returns the URL path prefix of the log, without a trailing slash
// ("" for a log at the root).
func (l *LogConfig) Prefix() string {
	u, _ := url.Parse(l.URL)
	return strings.TrimSuffix(u.Path, "/")
}

// Hostname returns the host name of the log's URL.
func (l *LogConfig) Hostname() string {
	u, _ := url.Parse(l.URL)
	return u.Hostname()
}

// CheckpointOrigin returns the origin line of the log's checkpoints.
func (l *LogConfig) CheckpointOrigin() string {
	if l.Origin != "" {
		return l.Origin
	}
	switch l.Kind {
	case "rekor-v2":
		return l.Hostname()
	case "rekor-v1":
		return fmt.Sprintf("%s - %d", l.RekorHostname(), l.Rekor.TreeID)
	}
	u, _ := url.Parse(l.URL)
	return u.Host + strings.TrimSuffix(u.Path, "/")
}

// RekorHostname is the Rekor v1 signer name.
func (l *LogConfig) RekorHostname() string {
	if l.Rekor.Hostname != "" {
		return l.Rekor.Hostname
	}
	return l.Hostname()
}

// Path resolves p relative to the config file's directory.
func (c *ServiceConfig) Path(p string) string {
	if p == "" || filepath.IsAbs(p) || c.dir == "" {
		return p
	}
	return filepath.Join(c.dir, p)
}

// DatabaseURL returns the PostgreSQL URL, or "" for SQLite.
func (c *ServiceConfig) DatabaseURL() (string, error) {
	switch {
	case c.Database.URL != "":
		return c.Database.URL, nil
	case c.Database.URLFile != "":
		b, err := os.ReadFile(c.Path(c.Database.URLFile))
		if err != nil {
			return "", fmt.Errorf("couldn't read database url_file: %w", err)
		}
		return strings.TrimSpace(string(b)), nil
	case c.Database.SQLite != "":
		return "", nil
	}
	return os.Getenv("HALLMARK_DATABASE_URL"), nil
}

// SignerConfig returns the log's signer section, with key_file expanded
// into a section of type file.
func (l *LogConfig) SignerConfig() signer.Config {
	if l.Signer != nil {
		return *l.Signer
	}
	return signer.Config{Type: "file", File: signer.FileConfig{KeyFile: l.KeyFile}}
}

// OpenKey opens the key of one of the service's logs wherever it lives (a
// file, a PKCS#11 token, a KMS), and checks that the log's kind can sign
// with it. The caller closes it. Startup errors name the log and the key:
// a wrong PIN, a missing key label, a key type the kind cannot use.
func (c *ServiceConfig) OpenKey(l *LogConfig) (signer.Signer, error) {
	sc := l.SignerConfig()
	k, err := sc.Open(signer.Options{PlainFile: parsePlainKey, Path: c.Path})
	if err != nil {
		return nil, fmt.Errorf("log %s: %s: %w", l.Name, sc.Describe(), err)
	}
	if err := l.CheckKey(k.Public()); err != nil {
		k.Close()
		return nil, fmt.Errorf("%w (the %s)", err, sc.Describe())
	}
	return k, nil
}

// parsePlainKey is ParsePrivateKey for package signer: the file of a
// signer of type file without a password.
func parsePlainKey(raw []byte) (crypto.Signer, error) { return ParsePrivateKey(raw) }

// LoadPrivateKey reads a PEM private key: PKCS#8 or SEC 1 EC.
func LoadPrivateKey(path string) (crypto.Signer, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("couldn't read key: %w", err)
	}
	return ParsePrivateKey(raw)
}

// ParsePrivateKey parses a PEM private key: PKCS#8 (Ed25519, ECDSA P-256 or
// ML-DSA-44 in the seed form of RFC 9881, as Go's crypto/x509 writes it) or
// SEC 1 EC.
func ParsePrivateKey(raw []byte) (crypto.Signer, error) {
	key, err := format.ParsePrivateKeyPEM(raw)
	if err != nil {
		return nil, fmt.Errorf("key file: %w", err)
	}
	switch k := key.(type) {
	case ed25519.PrivateKey:
		return k, nil
	case *ecdsa.PrivateKey:
		if k.Curve != elliptic.P256() {
			return nil, errors.New("ECDSA log keys must use P-256")
		}
		return k, nil
	case *mldsa.PrivateKey:
		if p := k.PublicKey().Parameters(); p != mldsa.MLDSA44() {
			return nil, fmt.Errorf("ML-DSA log keys must be ML-DSA-44, not %s", p)
		}
		return k, nil
	}
	return nil, fmt.Errorf("unsupported key type %T (want Ed25519, ECDSA P-256 or ML-DSA-44)", key)
}

// ErrKeyTypeForKind is returned by [LogConfig.CheckKey] for a key that the
// log's kind cannot use.
var ErrKeyTypeForKind = errors.New("key type not supported for this log kind")

// CheckKey says whether the log's kind can sign with a key of pub's type.
// Every kind takes ECDSA P-256; Ed25519 is for rekor-v2 and tiles logs;
// ML-DSA-44 checkpoints (C2SP tlog-cosignature) are for rekor-v2 and tiles
// logs too: Rekor v1 clients verify SETs and checkpoints with ECDSA only,
// and static-ct-api and RFC 6962 define ECDSA P-256 (and RSA) signatures
// only. Keys of other types (RSA, other curves: an HSM or a KMS may hold
// them) are refused for every kind.
func (l *LogConfig) CheckKey(pub crypto.PublicKey) error {
	p256 := false
	if k, ok := pub.(*ecdsa.PublicKey); ok && k.Curve == elliptic.P256() {
		p256 = true
	}
	switch l.Kind {
	case "rekor-v1":
		if !p256 {
			return fmt.Errorf("log %s: %w: rekor-v1 logs sign SETs and checkpoints with ECDSA P-256 (Rekor v1 clients accept nothing else); the key is %s", l.Name, ErrKeyTypeForKind, KeyTypeName(pub))
		}
	case "ct":
		if !p256 {
			return fmt.Errorf("log %s: %w: ct logs sign SCTs and checkpoints with ECDSA P-256 (RFC 6962, static-ct-api); the key is %s", l.Name, ErrKeyTypeForKind, KeyTypeName(pub))
		}
	default:
		if _, ok := pub.(*mldsa.PublicKey); ok && !format.IsMLDSA44(pub) {
			return fmt.Errorf("log %s: %w: ML-DSA checkpoint keys must be ML-DSA-44", l.Name, ErrKeyTypeForKind)
		}
		_, ed := pub.(ed25519.PublicKey)
		_, ml := pub.(*mldsa.PublicKey)
		if !p256 && !ed && !ml {
			return fmt.Errorf("log %s: %w: %s logs sign checkpoints with Ed25519, ECDSA P-256 or ML-DSA-44; the key is %s", l.Name, ErrKeyTypeForKind, l.Kind, KeyTypeName(pub))
		}
	}
	return nil
}

// KeyTypeName names a log key's type as `hallmark keys generate --type`
// does.
func KeyTypeName(pub crypto.PublicKey) string {
	switch k := pub.(type) {
	case ed25519.PublicKey:
		return "ed25519"
	case *ecdsa.PublicKey:
		return "ecdsa-" + strings.ToLower(strings.ReplaceAll(k.Curve.Params().Name, "-", ""))
	case *mldsa.PublicKey:
		return strings.ToLower(k.Parameters().String())
	case *rsa.PublicKey:
		return fmt.Sprintf("rsa-%d", k.N.BitLen())
	}
	return fmt.Sprintf("%T", pub)
}

// KeyTypes are the log key types [GenerateKey] makes.
const KeyTypes = "ed25519, ecdsa-p256 or ml-dsa-44"

// GenerateKey creates a key ("ed25519", "ecdsa-p256" or "ml-dsa-44") as
// PKCS#8 PEM. ML-DSA-44 keys are written in the seed form (RFC 9881).
func GenerateKey(alg string) ([]byte, error) {
	var key any
	var err error
	switch alg {
	case "ed25519":
		_, key, err = ed25519.GenerateKey(rand.Reader)
	case "ecdsa-p256":
		key, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	case "ml-dsa-44":
		key, err = mldsa.GenerateKey(mldsa.MLDSA44())
	default:
		return nil, fmt.Errorf("unknown key type %q (want %s)", alg, KeyTypes)
	}
	if err != nil {
		return nil, err
	}
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), nil
}

package ca

import (
	"crypto/x509"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/hallmark-dev/hallmark/api/admission"
	"github.com/hallmark-dev/hallmark/internal/quota"
	"github.com/hallmark-dev/hallmark/internal/signer"
	"github.com/hallmark-dev/hallmark/internal/yamlcfg"
	"github.com/hallmark-dev/hallmark/oidc"
)

// Config is hallmark-ca's configuration file. It is decoded strictly: an
// unknown key is an error. Secrets (key passwords, HSM PINs) are never
// written in it; it names the files or environment variables that hold
// them. docs/ca.md has a complete example.
type Config struct {
	// Listen holds the listen addresses: listen.http, listen.grpc and
	// listen.metrics, the same shape as hallmark-log's. The TSA, when
	// configured, is served on listen.http.
	Listen ListenConfig `yaml:"listen"`

	// MaxRequestBytes bounds a request body (REST) or message (gRPC).
	// Larger requests get 413 (REST) or ResourceExhausted (gRPC).
	// Default 4 MiB, as Fulcio.
	MaxRequestBytes int64 `yaml:"max_request_bytes"`

	// MaxInFlight bounds concurrent certificate requests. Beyond it a
	// request is refused at once, before its body is read, with 503 and
	// Retry-After (gRPC Unavailable), which clients retry with backoff,
	// instead of queueing behind the others. Default 256.
	MaxInFlight int `yaml:"max_in_flight"`

	// CertificateValidity is the lifetime of issued certificates.
	// Default 10m, as Fulcio; clients expect short-lived certificates.
	CertificateValidity time.Duration `yaml:"certificate_validity"`

	// Signer is the CA key and its certificate chain.
	Signer SignerConfig `yaml:"signer"`

	// TSA, if set, makes hallmark-ca an RFC 3161 timestamp authority at
	// POST /api/v1/timestamp. See TSAConfig and docs/tsa.md.
	TSA *TSAConfig `yaml:"tsa"`

	// Issuers are the trusted OIDC issuers, their identity types and
	// policies. See oidc.IssuerConfig.
	Issuers []oidc.IssuerConfig `yaml:"issuers"`

	// CITemplates are named claim templates for issuers of type
	// ci-provider (and overrides of the built-in ones). See
	// oidc.CITemplate.
	CITemplates map[string]oidc.CITemplate `yaml:"ci_templates"`

	// JWKSRefreshInterval is the minimum time between two key set fetches
	// from one issuer triggered by unknown key IDs. Default 30s.
	JWKSRefreshInterval time.Duration `yaml:"jwks_refresh_interval"`

	// CT is the Certificate Transparency log whose SCTs certificates
	// carry. See CTConfig and docs/ct.md.
	CT CTConfig `yaml:"ct"`

	// Quota limits how many certificates a caller may request: per
	// identity, per client address and in total, with per-issuer
	// overrides. See QuotaConfig and docs/access.md#quotas.
	Quota QuotaConfig `yaml:"quota"`

	// InflightBytes is the process's byte budget for request bodies in
	// flight, shared by REST, the TSA and gRPC. A REST request reserves
	// its Content-Length (its route's limit when chunked: max_request_bytes,
	// 8 KiB for the TSA) before its body is read and holds it until
	// answered; a gRPC stream reserves max_request_bytes until its message
	// is decoded. Bodies over 64 KiB share at most three quarters of it.
	// Must be at least twice max_request_bytes. Default 32 MiB; metrics
	// hallmark_ca_request_budget_in_use_bytes, _waits_total,
	// _refused_total.
	InflightBytes int64 `yaml:"inflight_bytes"`

	// InflightWait is how long a REST request waits for budget before it
	// gets 503 with Retry-After (its body unread); gRPC streams get
	// UNAVAILABLE at once. Default 1s.
	InflightWait time.Duration `yaml:"inflight_wait"`

	// BodyTimeout is how long a request body (or gRPC message) may take
	// to arrive once admitted; a slower sender's request fails and its
	// budget is released. Default 30s; metric
	// hallmark_ca_request_body_timeouts_total.
	BodyTimeout time.Duration `yaml:"body_timeout"`

	// MaxConnections caps the open connections of each listener (REST,
	// gRPC, metrics); beyond it new connections are closed at once.
	// Default 512; metrics hallmark_ca_connections_open and
	// hallmark_ca_connections_refused_total.
	MaxConnections int `yaml:"max_connections"`

	// GRPCMaxStreams caps the concurrent streams of one gRPC connection.
	// Default 100.
	GRPCMaxStreams uint32 `yaml:"grpc_max_streams"`

	// IdleTimeout closes REST keep-alive and gRPC connections that have no
	// request in flight for this long (a gRPC connection that only sent
	// its preface included). Default 60s.
	IdleTimeout time.Duration `yaml:"idle_timeout"`

	// GRPCMaxConnectionAge closes gRPC connections this old with GOAWAY;
	// RPCs in flight get 30 s more. Default 30m.
	GRPCMaxConnectionAge time.Duration `yaml:"grpc_max_connection_age"`
}

// QuotaConfig is hallmark-ca's quota: block. Limits are token buckets
// (quota.Limit: rate, per, burst) on certificate requests (Fulcio v1 and
// v2, REST and gRPC); a request over a limit gets 429 with Retry-After
// (gRPC RESOURCE_EXHAUSTED with a RetryInfo) and a Fulcio-shaped error
// body. The per-address and total limits are checked before the request
// body is read; the per-identity limits right after the token is
// verified, before the key, the CSR, signing and the CT submission.
// Every limit is unlimited by default.
type QuotaConfig struct {
	quota.Config `yaml:",inline"`
	// Issuers overrides the limits for the identities of one configured
	// issuer, keyed by its url: exactly as in issuers: (wildcards
	// included).
	Issuers map[string]IssuerQuota `yaml:"issuers"`
}

// IssuerQuota holds the limits of one issuer's tokens.
type IssuerQuota struct {
	// PerIdentity replaces quota.per_identity for this issuer's
	// identities.
	PerIdentity quota.Limit `yaml:"per_identity"`
	// Total limits the certificate requests of all this issuer's
	// identities together (beside quota.total). Default unlimited.
	Total quota.Limit `yaml:"total"`
}

func (q *QuotaConfig) validate(issuers []oidc.IssuerConfig) error {
	if err := q.Config.Validate(); err != nil {
		return fmt.Errorf("config: %w", err)
	}
	check := func(name string, l quota.Limit) error {
		if err := l.Validate(); err != nil {
			return fmt.Errorf("config: quota.%s: %w", name, err)
		}
		return nil
	}
	for url, iq := range q.Issuers {
		if !slices.ContainsFunc(issuers, func(is oidc.IssuerConfig) bool { return is.URL == url }) {
			return fmt.Errorf("config: quota.issuers: %q is not the url of a configured issuer", url)
		}
		if err := errors.Join(check("issuers."+url+".per_identity", iq.PerIdentity), check("issuers."+url+".total", iq.Total)); err != nil {
			return err
		}
	}
	return nil
}

// PerReplica returns the limits one process enforces: every limit
// divided by replicas, and per-issuer per_identity limits falling back to
// quota.per_identity.
func (q QuotaConfig) PerReplica() QuotaConfig {
	n := max(1, q.Replicas)
	out := QuotaConfig{Config: q.Config.PerReplica()}
	out.Issuers = make(map[string]IssuerQuota, len(q.Issuers))
	for url, iq := range q.Issuers {
		out.Issuers[url] = IssuerQuota{PerIdentity: iq.PerIdentity.Or(q.PerIdentity).PerReplica(n), Total: iq.Total.PerReplica(n)}
	}
	return out
}

// ListenConfig holds hallmark-ca's listen addresses.
type ListenConfig struct {
	// HTTP is where the REST API (Fulcio v1 and v2), the TSA, /healthz
	// and (unless Metrics is set) /metrics listen. Default 127.0.0.1:5555.
	// Terminate TLS in front.
	HTTP string `yaml:"http"`

	// GRPC is where the gRPC service dev.sigstore.fulcio.v2.CA and the
	// gRPC health service listen. Default 127.0.0.1:5554; "off" disables it.
	GRPC string `yaml:"grpc"`

	// Metrics, if set, serves GET /metrics on its own listener (e.g. an
	// address only the monitoring network reaches) instead of on
	// listen.http. Default "": /metrics is on listen.http.
	Metrics string `yaml:"metrics"`
}

// configRenames are the keys hallmark-ca's config moved when it took the
// common style; kebab-case spellings of the other keys are recognised by
// yamlcfg without an entry.
var configRenames = yamlcfg.Renames{
	"http-addr":    "listen.http",
	"grpc-addr":    "listen.grpc",
	"metrics-addr": "listen.metrics",
}

// DefaultInflightBytes is hallmark-ca's default in-flight byte budget:
// certificate and timestamp requests are a few KiB.
const DefaultInflightBytes = 32 << 20

// Admission returns the admission limits, with defaults.
func (c *Config) Admission() admission.Limits {
	l := admission.Limits{
		InflightBytes: c.InflightBytes, InflightWait: c.InflightWait, BodyTimeout: c.BodyTimeout,
		MaxConnections: c.MaxConnections, GRPCMaxStreams: c.GRPCMaxStreams, IdleTimeout: c.IdleTimeout,
		MaxConnectionAge: c.GRPCMaxConnectionAge,
	}
	if l.InflightBytes == 0 {
		l.InflightBytes = DefaultInflightBytes
	}
	return l.Defaults()
}

// CTConfig names the CT log hallmark-ca submits to. Without a URL no
// SCT is obtained: certificates carry none and verifiers then need
// --insecure-ignore-sct (a warning is logged at startup).
type CTConfig struct {
	// URL is the log's RFC 6962 submission prefix, e.g.
	// https://ct.example.com/2026 (hallmark-log's ct log URL): the CA
	// POSTs to <url>/ct/v1/add-pre-chain (or add-chain when detached).
	URL string `yaml:"url"`
	// PublicKeyFile is the log's public key, PEM ("PUBLIC KEY", ECDSA
	// P-256). Every SCT is verified against it before it is used.
	// Required with url.
	PublicKeyFile string `yaml:"public_key_file"`
	// Required makes CT failures fail issuance with a clear error (HTTP
	// 500 / gRPC Internal naming the CT log). Default true; set false only
	// to keep issuing certificates without SCT while the log is down.
	Required *bool `yaml:"required"`
	// Detached returns the SCT beside the certificate (add-chain of the
	// final certificate) instead of embedding it (add-pre-chain of a
	// precertificate). cosign v3 and sigstore-go verify only embedded
	// SCTs: keep the default, false, unless a client needs detached ones.
	Detached bool `yaml:"detached"`
	// Timeout bounds one submission. Default 30s, as Fulcio.
	Timeout time.Duration `yaml:"timeout"`
}

// IsRequired reports whether CT failures fail issuance (the default).
func (c CTConfig) IsRequired() bool { return c.Required == nil || *c.Required }

// SignerConfig selects the CA key.
type SignerConfig struct {
	// Type is "file" (an encrypted PKCS#8 PEM key), "pkcs11" (an HSM) or
	// "kms" (a cloud KMS key: AWS, Google Cloud, Azure Key Vault or
	// HashiCorp Vault transit).
	Type string `yaml:"type"`

	// ChainFile is the PEM certificate chain of the CA key: the issuing
	// certificate (whose public key is the CA key) first, the root last.
	ChainFile string `yaml:"chain_file"`

	// File configures type file: an "ENCRYPTED PRIVATE KEY" PEM file
	// (PKCS#8, PBES2), as written by `hallmark-ca init`, and exactly one of
	// password_file and password_env. See signer.FileConfig.
	File FileSignerConfig `yaml:"file"`

	// PKCS11 configures type pkcs11. See signer.PKCS11Config.
	PKCS11 PKCS11Config `yaml:"pkcs11"`

	// KMS configures type kms. See signer.KMSConfig.
	KMS KMSConfig `yaml:"kms"`
}

// key is the section without its chain: what package signer opens.
func (sc *SignerConfig) key() *signer.Config {
	return &signer.Config{Type: sc.Type, File: sc.File, PKCS11: sc.PKCS11, KMS: sc.KMS}
}

// LoadConfig reads and validates a config file, filling defaults.
func LoadConfig(path string) (*Config, error) {
	return yamlcfg.Load(path, ParseConfig)
}

// ParseConfig decodes a config strictly, fills defaults and validates it.
func ParseConfig(data []byte) (*Config, error) {
	var c Config
	if err := yamlcfg.Decode(data, &c, configRenames); err != nil {
		return nil, err
	}
	if c.Listen.HTTP == "" {
		c.Listen.HTTP = "127.0.0.1:5555"
	}
	if c.Listen.GRPC == "" {
		c.Listen.GRPC = "127.0.0.1:5554"
	}
	if c.MaxRequestBytes == 0 {
		c.MaxRequestBytes = 4 << 20
	}
	if c.MaxInFlight == 0 {
		c.MaxInFlight = 256
	}
	if c.MaxInFlight < 1 {
		return nil, errors.New("config: max_in_flight must be positive")
	}
	if c.CertificateValidity == 0 {
		c.CertificateValidity = DefaultValidity
	}
	if c.MaxRequestBytes < 4<<10 {
		return nil, errors.New("config: max_request_bytes must be at least 4096")
	}
	if err := c.Admission().Validate(c.MaxRequestBytes); err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	if c.CertificateValidity < time.Minute || c.CertificateValidity > 24*time.Hour {
		return nil, errors.New("config: certificate_validity must be between 1m and 24h")
	}
	if len(c.Issuers) == 0 {
		return nil, errors.New("config: at least one issuer is required")
	}
	if c.CT.URL != "" {
		if !strings.HasPrefix(c.CT.URL, "https://") && !strings.HasPrefix(c.CT.URL, "http://") {
			return nil, fmt.Errorf("config: ct.url %q must be an http(s) URL", c.CT.URL)
		}
		if c.CT.PublicKeyFile == "" {
			return nil, errors.New("config: ct.public_key_file is required with ct.url: SCTs are verified before use")
		}
	} else if c.CT.PublicKeyFile != "" || c.CT.Detached || c.CT.Required != nil {
		return nil, errors.New("config: ct options need ct.url")
	}
	if err := c.Quota.validate(c.Issuers); err != nil {
		return nil, err
	}
	if err := c.Signer.validate("signer"); err != nil {
		return nil, err
	}
	if c.TSA != nil {
		if err := c.TSA.validate(); err != nil {
			return nil, err
		}
	}
	return &c, nil
}

// VerifierOptions returns the oidc options the config implies.
func (c *Config) VerifierOptions() oidc.Options {
	return oidc.Options{CITemplates: c.CITemplates, KeyRefreshInterval: c.JWKSRefreshInterval}
}

// OpenSigner opens the configured CA key and reads its chain.
func (c *Config) OpenSigner() (Signer, []*x509.Certificate, error) {
	return c.Signer.Open()
}

package ca

import (
	"bytes"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/hallmark-dev/hallmark/oidc"
)

// Config is hallmark-ca's configuration file. It is decoded strictly: an
// unknown key is an error. Secrets (key passwords, HSM PINs) are never
// written in it; it names the files or environment variables that hold
// them. docs/ca.md has a complete example.
type Config struct {
	// HTTPAddr is where the REST API (Fulcio v1 and v2), /healthz and
	// /metrics listen. Default 127.0.0.1:5555. Terminate TLS in front.
	HTTPAddr string `yaml:"http-addr"`

	// GRPCAddr is where the gRPC service dev.sigstore.fulcio.v2.CA and the
	// gRPC health service listen. Default 127.0.0.1:5554; "off" disables it.
	GRPCAddr string `yaml:"grpc-addr"`

	// MaxRequestBytes bounds a request body (REST) or message (gRPC).
	// Larger requests get 413 (REST) or ResourceExhausted (gRPC).
	// Default 4 MiB, as Fulcio.
	MaxRequestBytes int64 `yaml:"max-request-bytes"`

	// MaxInFlight bounds concurrent certificate requests. Beyond it a
	// request is refused at once with 503 and Retry-After (gRPC
	// Unavailable), which clients retry with backoff, instead of queueing
	// behind the others. Default 256.
	MaxInFlight int `yaml:"max-in-flight"`

	// CertificateValidity is the lifetime of issued certificates.
	// Default 10m, as Fulcio; clients expect short-lived certificates.
	CertificateValidity time.Duration `yaml:"certificate-validity"`

	// Signer is the CA key and its certificate chain.
	Signer SignerConfig `yaml:"signer"`

	// Issuers are the trusted OIDC issuers, their identity types and
	// policies. See oidc.IssuerConfig.
	Issuers []oidc.IssuerConfig `yaml:"issuers"`

	// CITemplates are named claim templates for issuers of type
	// ci-provider (and overrides of the built-in ones). See
	// oidc.CITemplate.
	CITemplates map[string]oidc.CITemplate `yaml:"ci-templates"`

	// JWKSRefreshInterval is the minimum time between two key set fetches
	// from one issuer triggered by unknown key IDs. Default 30s.
	JWKSRefreshInterval time.Duration `yaml:"jwks-refresh-interval"`
}

// SignerConfig selects the CA key.
type SignerConfig struct {
	// Type is "file" (an encrypted PKCS#8 PEM key) or "pkcs11" (an HSM).
	// Cloud KMS is not supported yet.
	Type string `yaml:"type"`

	// ChainFile is the PEM certificate chain of the CA key: the issuing
	// certificate (whose public key is the CA key) first, the root last.
	ChainFile string `yaml:"chain-file"`

	// File configures type file.
	File FileSignerConfig `yaml:"file"`

	// PKCS11 configures type pkcs11.
	PKCS11 PKCS11Config `yaml:"pkcs11"`
}

// FileSignerConfig is an encrypted key file and where its password is.
type FileSignerConfig struct {
	// KeyFile is an "ENCRYPTED PRIVATE KEY" PEM file (PKCS#8, PBES2), as
	// written by `hallmark-ca init`.
	KeyFile string `yaml:"key-file"`
	// PasswordFile holds the password (a trailing newline is ignored).
	// PasswordEnv, if set instead, names an environment variable holding it.
	PasswordFile string `yaml:"password-file"`
	PasswordEnv  string `yaml:"password-env"`
}

// LoadConfig reads and validates a config file, filling defaults.
func LoadConfig(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading config: %w", err)
	}
	return ParseConfig(data)
}

// ParseConfig decodes a config strictly, fills defaults and validates it.
func ParseConfig(data []byte) (*Config, error) {
	var c Config
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&c); err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	if c.HTTPAddr == "" {
		c.HTTPAddr = "127.0.0.1:5555"
	}
	if c.GRPCAddr == "" {
		c.GRPCAddr = "127.0.0.1:5554"
	}
	if c.MaxRequestBytes == 0 {
		c.MaxRequestBytes = 4 << 20
	}
	if c.MaxInFlight == 0 {
		c.MaxInFlight = 256
	}
	if c.MaxInFlight < 1 {
		return nil, errors.New("config: max-in-flight must be positive")
	}
	if c.CertificateValidity == 0 {
		c.CertificateValidity = DefaultValidity
	}
	if c.MaxRequestBytes < 4<<10 {
		return nil, errors.New("config: max-request-bytes must be at least 4096")
	}
	if c.CertificateValidity < time.Minute || c.CertificateValidity > 24*time.Hour {
		return nil, errors.New("config: certificate-validity must be between 1m and 24h")
	}
	if len(c.Issuers) == 0 {
		return nil, errors.New("config: at least one issuer is required")
	}
	if c.Signer.ChainFile == "" {
		return nil, errors.New("config: signer.chain-file is required")
	}
	switch c.Signer.Type {
	case "file":
		if c.Signer.File.KeyFile == "" {
			return nil, errors.New("config: signer.file.key-file is required")
		}
		if (c.Signer.File.PasswordFile == "") == (c.Signer.File.PasswordEnv == "") {
			return nil, errors.New("config: exactly one of signer.file.password-file and password-env is required")
		}
	case "pkcs11":
		if (c.Signer.PKCS11.PINFile == "") == (c.Signer.PKCS11.PINEnv == "") {
			return nil, errors.New("config: exactly one of signer.pkcs11.pin-file and pin-env is required")
		}
	case "kms":
		return nil, errors.New("config: signer type kms is not supported yet; use file or pkcs11")
	default:
		return nil, fmt.Errorf("config: signer.type %q: want file or pkcs11", c.Signer.Type)
	}
	return &c, nil
}

// VerifierOptions returns the oidc options the config implies.
func (c *Config) VerifierOptions() oidc.Options {
	return oidc.Options{CITemplates: c.CITemplates, KeyRefreshInterval: c.JWKSRefreshInterval}
}

// OpenSigner opens the configured CA key and reads its chain.
func (c *Config) OpenSigner() (Signer, []*x509.Certificate, error) {
	chain, err := LoadChain(c.Signer.ChainFile)
	if err != nil {
		return nil, nil, err
	}
	var s Signer
	switch c.Signer.Type {
	case "file":
		pw, err := ReadSecret(c.Signer.File.PasswordFile, c.Signer.File.PasswordEnv)
		if err != nil {
			return nil, nil, fmt.Errorf("CA key password: %w", err)
		}
		s, err = LoadEncryptedKeyFile(c.Signer.File.KeyFile, pw)
		if err != nil {
			return nil, nil, err
		}
	case "pkcs11":
		pin, err := ReadSecret(c.Signer.PKCS11.PINFile, c.Signer.PKCS11.PINEnv)
		if err != nil {
			return nil, nil, fmt.Errorf("PKCS#11 PIN: %w", err)
		}
		if s, err = OpenPKCS11Signer(c.Signer.PKCS11, string(pin)); err != nil {
			return nil, nil, err
		}
	default:
		return nil, nil, fmt.Errorf("signer type %q", c.Signer.Type)
	}
	return s, chain, nil
}

// ReadSecret returns the content of file (without a trailing newline) or,
// when file is empty, the value of the environment variable env.
func ReadSecret(file, env string) ([]byte, error) {
	if file != "" {
		b, err := os.ReadFile(file)
		if err != nil {
			return nil, err
		}
		b = []byte(strings.TrimRight(string(b), "\r\n"))
		if len(b) == 0 {
			return nil, fmt.Errorf("%s is empty", file)
		}
		return b, nil
	}
	v, ok := os.LookupEnv(env)
	if !ok || v == "" {
		return nil, fmt.Errorf("environment variable %s is not set", env)
	}
	return []byte(v), nil
}

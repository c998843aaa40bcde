package ca

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/hallmark-dev/hallmark/internal/signer"
)

// TSAConfig is the `tsa:` section of hallmark-ca's config. Without it
// hallmark-ca serves no timestamps. docs/tsa.md has an example.
type TSAConfig struct {
	// Signer is the TSA key and its chain, as for the CA key: the chain
	// file holds the TSA certificate (critical EKU timeStamping, as
	// `hallmark-ca init` or `init-tsa` create it) first and the root last.
	// The TSA key must be ECDSA (P-256 recommended) or RSA.
	Signer SignerConfig `yaml:"signer"`

	// Policy is the TSA policy OID of issued tokens, dotted. Default
	// 1.3.6.1.4.1.57264.2, the policy sigstore's timestamp-authority uses.
	Policy string `yaml:"policy"`

	// AcceptedPolicies are further policy OIDs a request may ask for; the
	// token then carries the requested one. A request naming any other
	// policy is rejected with unacceptedPolicy.
	AcceptedPolicies []string `yaml:"accepted_policies"`

	// Accuracy is the accuracy claimed in tokens. Default 1s; it should
	// cover the clock's error (see docs/tsa.md on NTP).
	Accuracy time.Duration `yaml:"accuracy"`
}

// Options returns the TSA options the section implies.
func (c *TSAConfig) Options() (TSAOptions, error) {
	o := TSAOptions{Accuracy: c.Accuracy}
	var err error
	if c.Policy != "" {
		if o.Policy, err = ParseOID(c.Policy); err != nil {
			return o, fmt.Errorf("config: tsa.policy: %w", err)
		}
	}
	for _, p := range c.AcceptedPolicies {
		oid, err := ParseOID(p)
		if err != nil {
			return o, fmt.Errorf("config: tsa.accepted_policies: %w", err)
		}
		o.AcceptedPolicies = append(o.AcceptedPolicies, oid)
	}
	if c.Accuracy < 0 || c.Accuracy > time.Hour {
		return o, errors.New("config: tsa.accuracy must be between 0 and 1h")
	}
	return o, nil
}

func (c *TSAConfig) validate() error {
	if _, err := c.Options(); err != nil {
		return err
	}
	return c.Signer.validate("tsa.signer")
}

// validate checks a signer section; prefix names it in errors. A CA or
// TSA key file must be encrypted (a password is required).
func (sc *SignerConfig) validate(prefix string) error {
	if sc.ChainFile == "" {
		return fmt.Errorf("config: %s.chain_file is required", prefix)
	}
	return sc.key().Validate(prefix, signer.Options{})
}

// Open opens the key a signer section names and reads its chain. The key
// must be the one the chain's first certificate certifies.
func (sc *SignerConfig) Open() (Signer, []*x509.Certificate, error) {
	chain, err := LoadChain(sc.ChainFile)
	if err != nil {
		return nil, nil, err
	}
	s, err := sc.openKey()
	if err != nil {
		return nil, nil, err
	}
	if !publicKeysEqual(s.Public(), chain[0].PublicKey) {
		s.Close()
		where := sc.Type + " key"
		if sc.Type == "kms" {
			where = "KMS key " + sc.KMS.Key
		}
		return nil, nil, fmt.Errorf("the %s does not match the first certificate of %s (%q, serial %x): "+
			"the chain file must start with the certificate of this key", where, sc.ChainFile, chain[0].Subject.String(), chain[0].SerialNumber)
	}
	return s, chain, nil
}

// openKey opens the key of a validated signer section.
func (sc *SignerConfig) openKey() (Signer, error) {
	return sc.key().Open(signer.Options{})
}

// OpenTSA opens the TSA key and chain of the `tsa:` section and returns
// the TSA and the key, which the caller closes when done.
func (c *TSAConfig) OpenTSA() (*TSA, Signer, error) {
	o, err := c.Options()
	if err != nil {
		return nil, nil, err
	}
	s, chain, err := c.Signer.Open()
	if err != nil {
		return nil, nil, fmt.Errorf("TSA signer: %w", err)
	}
	t, err := NewTSA(s, chain, o)
	if err != nil {
		s.Close()
		return nil, nil, err
	}
	return t, s, nil
}

// Files written by InitTSA, relative to the deployment directory.
const (
	TSAKeyFile   = "tsa.key.pem"
	TSAChainFile = "tsa-chain.pem"
)

// TSAInitOptions describe a TSA certificate to create.
type TSAInitOptions struct {
	// Organization and CommonName of the TSA certificate; CommonName
	// defaults to "<Organization> Hallmark timestamp authority".
	Organization, CommonName string
	// Validity defaults to 3 years (clipped to the root's).
	Validity time.Duration
	// Key, if set, is the TSA key (e.g. in an HSM, see GeneratePKCS11Key);
	// otherwise a P-256 key is generated and written encrypted.
	Key crypto.Signer
}

// InitTSA adds a timestamp authority to a deployment directory written by
// WriteFiles: it decrypts root.key.pem with password, creates the TSA key
// (unless o.Key is set) and its certificate signed by the root, and writes
// tsa.key.pem (mode 0600, encrypted with password, only for an in-memory
// key) and tsa-chain.pem = [TSA certificate, root]. It refuses to
// overwrite existing files.
func InitTSA(dir string, password []byte, o TSAInitOptions) ([]*x509.Certificate, error) {
	rootPEM, err := os.ReadFile(filepath.Join(dir, RootKeyFile))
	if err != nil {
		return nil, fmt.Errorf("reading the root key (the TSA certificate is signed by it): %w", err)
	}
	rootKey, err := DecryptKeyPEM(rootPEM, password)
	if err != nil {
		return nil, fmt.Errorf("root key: %w", err)
	}
	roots, err := LoadChain(filepath.Join(dir, RootCertFile))
	if err != nil {
		return nil, err
	}
	root := roots[0]
	if !publicKeysEqual(rootKey.Public(), root.PublicKey) {
		return nil, fmt.Errorf("%s does not match %s", RootKeyFile, RootCertFile)
	}
	for _, f := range []string{TSAKeyFile, TSAChainFile} {
		if _, err := os.Stat(filepath.Join(dir, f)); err == nil {
			return nil, fmt.Errorf("%s already exists; not overwriting", filepath.Join(dir, f))
		}
	}
	if o.Organization == "" {
		o.Organization = first(root.Subject.Organization)
	}
	if o.CommonName == "" {
		o.CommonName = o.Organization + " Hallmark timestamp authority"
	}
	if o.Validity == 0 {
		o.Validity = 3 * 365 * 24 * time.Hour
	}
	key := o.Key
	if key == nil {
		if key, err = ecdsa.GenerateKey(defaultTSACurve, rand.Reader); err != nil {
			return nil, err
		}
	}
	leaf, err := CreateTSACertificate(key.Public(), CertTemplate{Organization: o.Organization, CommonName: o.CommonName, Validity: o.Validity}, root, rootKey)
	if err != nil {
		return nil, err
	}
	chain := []*x509.Certificate{leaf, root}
	if err := VerifyTSAChain(chain, time.Now()); err != nil {
		return nil, fmt.Errorf("new TSA: %w", err)
	}
	if _, inMemory := key.(*ecdsa.PrivateKey); inMemory {
		keyPEM, err := EncryptKeyPEM(key, password)
		if err != nil {
			return nil, err
		}
		if err := writeNew(filepath.Join(dir, TSAKeyFile), keyPEM, 0o600); err != nil {
			return nil, err
		}
	}
	if err := writeNew(filepath.Join(dir, TSAChainFile), EncodeChainPEM(chain), 0o644); err != nil {
		return nil, err
	}
	return chain, nil
}

func first(s []string) string {
	if len(s) == 0 {
		return ""
	}
	return s[0]
}

// writeNew creates a file that must not exist yet.
func writeNew(path string, data []byte, mode os.FileMode) error {
	fh, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, mode)
	if err != nil {
		return err
	}
	if _, err := fh.Write(data); err != nil {
		fh.Close()
		return err
	}
	return fh.Close()
}

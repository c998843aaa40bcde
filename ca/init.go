package ca

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"
	"unicode/utf8"
)

// InitOptions describe a new deployment's CA: a root and an intermediate
// that issues the leaf certificates.
type InitOptions struct {
	// Organization is written into both CA certificates' subjects.
	Organization string
	// RootCommonName and IntermediateCommonName default to
	// "<Organization> Hallmark root" / "... intermediate".
	RootCommonName         string
	IntermediateCommonName string
	// RootValidity defaults to 10 years, IntermediateValidity to 3 years.
	RootValidity         time.Duration
	IntermediateValidity time.Duration
	// RootCurve defaults to P-384, Fulcio's recommendation for CA keys.
	// IntermediateCurve defaults to P-256: the intermediate signs every
	// certificate, and Go's P-256 is about four times cheaper than P-384
	// (2.0 ms vs 0.53 ms of CPU per issued certificate, docs/BENCHMARKS.md).
	RootCurve, IntermediateCurve elliptic.Curve
	// Curve, if set, is used for both keys (a shorthand for tests and
	// development setups).
	Curve elliptic.Curve
	// IntermediateKey, if set, is used instead of generating one, e.g. a
	// key in an HSM (see GeneratePKCS11Key). Its private half is then not
	// written anywhere.
	IntermediateKey crypto.Signer
}

// Deployment is a freshly created CA.
type Deployment struct {
	RootKey, IntermediateKey crypto.Signer
	Root, Intermediate       *x509.Certificate
}

// Chain returns [intermediate, root], the order the CA config wants.
func (d *Deployment) Chain() []*x509.Certificate {
	return []*x509.Certificate{d.Intermediate, d.Root}
}

// NewDeployment creates a root key and certificate and an intermediate
// (with the codeSigning EKU clients require) signed by it, and checks the
// result with VerifyChain.
func NewDeployment(o InitOptions) (*Deployment, error) {
	if o.Organization == "" {
		return nil, errors.New("an organization name is required")
	}
	if o.RootCommonName == "" {
		o.RootCommonName = o.Organization + " Hallmark root"
	}
	if o.IntermediateCommonName == "" {
		o.IntermediateCommonName = o.Organization + " Hallmark intermediate"
	}
	if o.RootValidity == 0 {
		o.RootValidity = 10 * 365 * 24 * time.Hour
	}
	if o.IntermediateValidity == 0 {
		o.IntermediateValidity = 3 * 365 * 24 * time.Hour
	}
	if o.Curve != nil {
		o.RootCurve, o.IntermediateCurve = o.Curve, o.Curve
	}
	if o.RootCurve == nil {
		o.RootCurve = elliptic.P384()
	}
	if o.IntermediateCurve == nil {
		o.IntermediateCurve = elliptic.P256()
	}
	rootKey, err := ecdsa.GenerateKey(o.RootCurve, rand.Reader)
	if err != nil {
		return nil, err
	}
	root, err := CreateRoot(rootKey, CertTemplate{Organization: o.Organization, CommonName: o.RootCommonName, Validity: o.RootValidity})
	if err != nil {
		return nil, err
	}
	interKey := o.IntermediateKey
	if interKey == nil {
		if interKey, err = ecdsa.GenerateKey(o.IntermediateCurve, rand.Reader); err != nil {
			return nil, err
		}
	}
	inter, err := CreateIntermediate(interKey.Public(), CertTemplate{Organization: o.Organization, CommonName: o.IntermediateCommonName, Validity: o.IntermediateValidity}, root, rootKey)
	if err != nil {
		return nil, err
	}
	d := &Deployment{RootKey: rootKey, IntermediateKey: interKey, Root: root, Intermediate: inter}
	if err := VerifyChain(d.Chain(), nil); err != nil {
		return nil, fmt.Errorf("new deployment: %w", err)
	}
	return d, nil
}

// MinPasswordLength is the fewest characters `hallmark-ca init` accepts
// for the password that encrypts the keys it writes. The root key file is
// protected by nothing else (PBKDF2 with 600,000 iterations slows a guess
// down, it does not make a short password safe), so a passphrase of a few
// words is the intent.
const MinPasswordLength = 12

// ErrWeakPassword is returned by CheckNewPassword.
var ErrWeakPassword = errors.New("the key password is too short")

// CheckNewPassword checks a password chosen for new key files: at least
// MinPasswordLength characters (Unicode code points, so a passphrase in
// any script counts what it reads as). Passwords of existing files are
// not checked: a deployment made before the rule still opens.
func CheckNewPassword(password []byte) error {
	if n := utf8.RuneCount(password); n < MinPasswordLength {
		return fmt.Errorf("%w: it has %d characters; use at least %d, e.g. a passphrase of three or four words", ErrWeakPassword, n, MinPasswordLength)
	}
	return nil
}

// Files written by WriteFiles, relative to its directory.
const (
	RootKeyFile         = "root.key.pem"
	RootCertFile        = "root.pem"
	IntermediateKeyFile = "intermediate.key.pem"
	ChainFile           = "chain.pem"
)

// WriteFiles writes the deployment into dir: the keys encrypted with
// password (mode 0600; the intermediate key only if it is in memory), the
// root certificate, and chain.pem = [intermediate, root]. It refuses to
// overwrite existing files. Move root.key.pem offline once done.
func (d *Deployment) WriteFiles(dir string, password []byte) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	files := []struct {
		name string
		data func() ([]byte, error)
		mode os.FileMode
	}{
		{RootKeyFile, func() ([]byte, error) { return EncryptKeyPEM(d.RootKey, password) }, 0o600},
		{RootCertFile, func() ([]byte, error) { return EncodeChainPEM([]*x509.Certificate{d.Root}), nil }, 0o644},
		{ChainFile, func() ([]byte, error) { return EncodeChainPEM(d.Chain()), nil }, 0o644},
	}
	if _, inMemory := d.IntermediateKey.(*ecdsa.PrivateKey); inMemory {
		files = append(files, struct {
			name string
			data func() ([]byte, error)
			mode os.FileMode
		}{IntermediateKeyFile, func() ([]byte, error) { return EncryptKeyPEM(d.IntermediateKey, password) }, 0o600})
	}
	for _, f := range files {
		if _, err := os.Stat(filepath.Join(dir, f.name)); err == nil {
			return fmt.Errorf("%s already exists; not overwriting", filepath.Join(dir, f.name))
		}
	}
	for _, f := range files {
		data, err := f.data()
		if err != nil {
			return err
		}
		fh, err := os.OpenFile(filepath.Join(dir, f.name), os.O_WRONLY|os.O_CREATE|os.O_EXCL, f.mode)
		if err != nil {
			return err
		}
		if _, err := fh.Write(data); err != nil {
			fh.Close()
			return err
		}
		if err := fh.Close(); err != nil {
			return err
		}
	}
	return nil
}

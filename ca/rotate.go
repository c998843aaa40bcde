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
)

// RotateOptions describe a new issuing certificate that replaces an old
// one under the same root.
type RotateOptions struct {
	// Validity of the new certificate; default 3 years, clipped to the
	// root's.
	Validity time.Duration
	// Now stamps the new files' names; default time.Now().
	Now time.Time
}

// Rotated is a new issuing certificate and the files it was written to.
type Rotated struct {
	// Chain is [new certificate, root].
	Chain []*x509.Certificate
	// KeyFile (encrypted PKCS#8) and ChainFile, inside the deployment
	// directory.
	KeyFile, ChainFile string
}

// RotateIntermediate creates a new intermediate (issuing) CA under the
// root of the deployment in dir, for the CA whose current chain is old
// ([intermediate, root]). The root key (root.key.pem, decrypted with
// password) signs it; it keeps the old intermediate's subject; its key is
// a new P-256 key written encrypted with password. The files are
// intermediate-<time>.key.pem and chain-<time>.pem; nothing is
// overwritten, and the old files stay: certificates they issued keep
// verifying as long as the trusted root lists the old chain.
func RotateIntermediate(dir string, password []byte, old []*x509.Certificate, o RotateOptions) (*Rotated, error) {
	root, rootKey, err := loadRoot(dir, password, old)
	if err != nil {
		return nil, err
	}
	o = o.withDefaults()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	inter, err := CreateIntermediate(key.Public(), CertTemplate{
		Organization: first(old[0].Subject.Organization), CommonName: old[0].Subject.CommonName, Validity: o.Validity,
	}, root, rootKey)
	if err != nil {
		return nil, err
	}
	chain := []*x509.Certificate{inter, root}
	if err := VerifyChain(chain, nil); err != nil {
		return nil, fmt.Errorf("new intermediate: %w", err)
	}
	stamp := o.Now.UTC().Format("20060102T150405Z")
	return writeRotated(dir, password, key, chain, "intermediate-"+stamp+".key.pem", "chain-"+stamp+".pem")
}

// RotateTSA creates a new timestamp authority certificate (and key) under
// the root of the deployment in dir, for the TSA whose current chain is old
// ([TSA certificate, root]), like RotateIntermediate: same subject, files
// tsa-<time>.key.pem and tsa-chain-<time>.pem.
func RotateTSA(dir string, password []byte, old []*x509.Certificate, o RotateOptions) (*Rotated, error) {
	root, rootKey, err := loadRoot(dir, password, old)
	if err != nil {
		return nil, err
	}
	o = o.withDefaults()
	key, err := ecdsa.GenerateKey(defaultTSACurve, rand.Reader)
	if err != nil {
		return nil, err
	}
	leaf, err := CreateTSACertificate(key.Public(), CertTemplate{
		Organization: first(old[0].Subject.Organization), CommonName: old[0].Subject.CommonName, Validity: o.Validity,
	}, root, rootKey)
	if err != nil {
		return nil, err
	}
	chain := []*x509.Certificate{leaf, root}
	if err := VerifyTSAChain(chain, time.Now()); err != nil {
		return nil, fmt.Errorf("new TSA certificate: %w", err)
	}
	stamp := o.Now.UTC().Format("20060102T150405Z")
	return writeRotated(dir, password, key, chain, "tsa-"+stamp+".key.pem", "tsa-chain-"+stamp+".pem")
}

func (o RotateOptions) withDefaults() RotateOptions {
	if o.Validity == 0 {
		o.Validity = 3 * 365 * 24 * time.Hour
	}
	if o.Now.IsZero() {
		o.Now = time.Now()
	}
	return o
}

// loadRoot reads and decrypts the deployment's root and checks that the
// old chain ends in it: a rotation stays under the same root.
func loadRoot(dir string, password []byte, old []*x509.Certificate) (*x509.Certificate, crypto.Signer, error) {
	if len(old) < 2 {
		return nil, nil, errors.New("the current chain must list the issuing certificate and the root")
	}
	roots, err := LoadChain(filepath.Join(dir, RootCertFile))
	if err != nil {
		return nil, nil, err
	}
	root := roots[0]
	if !old[len(old)-1].Equal(root) {
		return nil, nil, fmt.Errorf("the current chain does not end in %s: a rotation keeps the root", filepath.Join(dir, RootCertFile))
	}
	rootPEM, err := os.ReadFile(filepath.Join(dir, RootKeyFile))
	if err != nil {
		return nil, nil, fmt.Errorf("reading the root key (it signs the new certificate): %w", err)
	}
	rootKey, err := DecryptKeyPEM(rootPEM, password)
	if err != nil {
		return nil, nil, fmt.Errorf("root key: %w", err)
	}
	if !publicKeysEqual(rootKey.Public(), root.PublicKey) {
		return nil, nil, fmt.Errorf("%s does not match %s", RootKeyFile, RootCertFile)
	}
	return root, rootKey, nil
}

func writeRotated(dir string, password []byte, key crypto.Signer, chain []*x509.Certificate, keyName, chainName string) (*Rotated, error) {
	r := &Rotated{Chain: chain, KeyFile: filepath.Join(dir, keyName), ChainFile: filepath.Join(dir, chainName)}
	for _, f := range []string{r.KeyFile, r.ChainFile} {
		if _, err := os.Stat(f); err == nil {
			return nil, fmt.Errorf("%s already exists; not overwriting", f)
		}
	}
	keyPEM, err := EncryptKeyPEM(key, password)
	if err != nil {
		return nil, err
	}
	if err := writeNew(r.KeyFile, keyPEM, 0o600); err != nil {
		return nil, err
	}
	if err := writeNew(r.ChainFile, EncodeChainPEM(chain), 0o644); err != nil {
		os.Remove(r.KeyFile)
		return nil, err
	}
	return r, nil
}

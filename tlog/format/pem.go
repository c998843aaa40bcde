package format

import (
	"crypto"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"slices"
	"strings"
)

// PEM block types of the helpers below.
const (
	PEMCertificate = "CERTIFICATE"
	PEMPublicKey   = "PUBLIC KEY"     // PKIX SubjectPublicKeyInfo
	PEMPrivateKey  = "PRIVATE KEY"    // PKCS #8
	PEMECKey       = "EC PRIVATE KEY" // SEC 1
)

// ErrNoPEM is wrapped by the errors of the helpers below when the input
// holds no PEM block (of the wanted type, for [ParseCertificatesPEM]).
var ErrNoPEM = errors.New("no PEM block")

// DecodePEM returns the first PEM block of data, which must have one of
// types (any type if types is empty). Text before the block is ignored, as
// encoding/pem does; the rest of data is returned.
func DecodePEM(data []byte, types ...string) (*pem.Block, []byte, error) {
	block, rest := pem.Decode(data)
	if block == nil {
		if len(types) == 0 {
			return nil, nil, ErrNoPEM
		}
		return nil, nil, fmt.Errorf("%w (want %s)", ErrNoPEM, strings.Join(types, " or "))
	}
	if len(types) > 0 && !slices.Contains(types, block.Type) {
		return nil, nil, fmt.Errorf("PEM block is %q, want %s", block.Type, strings.Join(types, " or "))
	}
	return block, rest, nil
}

// ParseCertificatesPEM parses every CERTIFICATE block of a PEM bundle, in
// order; blocks of other types are skipped. It fails if a certificate does
// not parse or if there is none.
func ParseCertificatesPEM(data []byte) ([]*x509.Certificate, error) {
	var out []*x509.Certificate
	for {
		var block *pem.Block
		block, data = pem.Decode(data)
		if block == nil {
			break
		}
		if block.Type != PEMCertificate {
			continue
		}
		c, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("couldn't parse certificate %d: %w", len(out), err)
		}
		out = append(out, c)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%w (want CERTIFICATE)", ErrNoPEM)
	}
	return out, nil
}

// ParseCertificatePEM parses the first PEM block of data, which must be a
// CERTIFICATE.
func ParseCertificatePEM(data []byte) (*x509.Certificate, error) {
	block, _, err := DecodePEM(data, PEMCertificate)
	if err != nil {
		return nil, err
	}
	c, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("couldn't parse certificate: %w", err)
	}
	return c, nil
}

// ParsePublicKeyPEM parses the first PEM block of data, which must be a
// PKIX PUBLIC KEY.
func ParsePublicKeyPEM(data []byte) (crypto.PublicKey, error) {
	block, _, err := DecodePEM(data, PEMPublicKey)
	if err != nil {
		return nil, err
	}
	pub, err := x509.ParsePKIXPublicKey(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("couldn't parse public key: %w", err)
	}
	return pub, nil
}

// ParsePrivateKeyPEM parses the first PEM block of data: a PKCS #8
// PRIVATE KEY (any type crypto/x509 knows, including ML-DSA seeds) or a
// SEC 1 EC PRIVATE KEY. Callers check the key type they accept.
func ParsePrivateKeyPEM(data []byte) (crypto.Signer, error) {
	block, _, err := DecodePEM(data, PEMPrivateKey, PEMECKey)
	if err != nil {
		return nil, err
	}
	var key any
	if block.Type == PEMECKey {
		key, err = x509.ParseECPrivateKey(block.Bytes)
	} else {
		key, err = x509.ParsePKCS8PrivateKey(block.Bytes)
	}
	if err != nil {
		return nil, fmt.Errorf("couldn't parse private key: %w", err)
	}
	s, ok := key.(crypto.Signer)
	if !ok {
		return nil, fmt.Errorf("private key of type %T cannot sign", key)
	}
	return s, nil
}

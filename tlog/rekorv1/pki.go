package rekorv1

// This file holds the x509 "PKI" Rekor v1 uses for hashedrekord, dsse and
// intoto entries: parsing a submitted key (PEM public key, one certificate,
// or a chain), its canonical PEM form, the identities indexed for it, and
// signature verification with the exact acceptance rules of Rekor v1.5.4
// (pkg/pki/x509 on top of sigstore/sigstore's signature verifiers).

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/x509"
	"encoding/asn1"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"slices"

	"golang.org/x/crypto/ssh"
)

// maxChainCerts is the most certificates Rekor parses from one PEM bundle.
const maxChainCerts = 10

// publicKey is a verification key as submitted to Rekor. Exactly one of key,
// cert or chain is set, mirroring which PEM shape was submitted: a single
// PUBLIC KEY block, a single CERTIFICATE block, or several blocks (which are
// then all parsed as certificates, whatever their PEM type says).
type publicKey struct {
	key   crypto.PublicKey
	cert  *x509.Certificate
	chain []*x509.Certificate
	pem   []byte // key's canonical PEM, when known (parsedKeys)
}

// parsePublicKey parses key material the way Rekor's x509.NewPublicKey does.
// Leading text before the first PEM block is ignored by encoding/pem; any
// text after it turns the input into a chain, which must be certificates.
func parsePublicKey(raw []byte) (*publicKey, error) {
	trimmed := bytes.TrimSpace(raw)
	block, rest := pem.Decode(trimmed)
	if block == nil {
		return nil, errors.New("invalid public key: failure decoding PEM")
	}
	if len(rest) > 0 {
		chain, err := parseCertChain(trimmed)
		if err != nil {
			return nil, err
		}
		return &publicKey{chain: chain}, nil
	}
	switch block.Type {
	case "PUBLIC KEY":
		return parsePKIXKey(block.Bytes)
	case "CERTIFICATE":
		c, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return nil, err
		}
		return &publicKey{cert: c}, nil
	}
	return nil, fmt.Errorf("invalid public key: cannot handle type %v", block.Type)
}

// parseCertChain parses up to maxChainCerts concatenated PEM blocks as
// certificates (sigstore's UnmarshalCertificatesFromPEMLimited).
func parseCertChain(data []byte) ([]*x509.Certificate, error) {
	var certs []*x509.Certificate
	remaining := bytes.TrimSpace(data)
	for len(remaining) > 0 {
		if len(certs) == maxChainCerts {
			return nil, errors.New("too many certificates specified in PEM block")
		}
		var block *pem.Block
		block, remaining = pem.Decode(remaining)
		if block == nil {
			return nil, errors.New("error during PEM decoding")
		}
		c, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return nil, err
		}
		certs = append(certs, c)
	}
	return certs, nil
}

// leaf is the certificate whose key signs, if the key came with certificates.
func (k *publicKey) leaf() *x509.Certificate {
	if k.cert != nil {
		return k.cert
	}
	if len(k.chain) > 0 {
		return k.chain[0]
	}
	return nil
}

// cryptoKey is the key that verifies signatures. It is nil for a certificate
// whose key algorithm Go does not know.
func (k *publicKey) cryptoKey() crypto.PublicKey {
	if c := k.leaf(); c != nil {
		return c.PublicKey
	}
	return k.key
}

// canonical is the re-encoded PEM Rekor stores in the leaf: the key as a
// fresh PKIX "PUBLIC KEY" block, or each certificate's DER as "CERTIFICATE"
// blocks. PEM headers and surrounding text are dropped.
func (k *publicKey) canonical() ([]byte, error) {
	if k.pem != nil {
		return k.pem[:len(k.pem):len(k.pem)], nil
	}
	if k.key != nil {
		der, err := x509.MarshalPKIXPublicKey(k.key)
		if err != nil {
			return nil, fmt.Errorf("couldn't re-encode public key: %w", err)
		}
		return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}), nil
	}
	certs := k.chain
	if k.cert != nil {
		certs = []*x509.Certificate{k.cert}
	}
	var buf bytes.Buffer
	for _, c := range certs {
		buf.Write(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw}))
	}
	return buf.Bytes(), nil
}

// subjects lists the leaf certificate's SANs in sigstore's order: DNS names,
// emails, IP addresses, URIs, then the Fulcio OtherName (if exactly one).
func (k *publicKey) subjects() []string {
	c := k.leaf()
	if c == nil {
		return nil
	}
	var out []string
	out = append(out, c.DNSNames...)
	out = append(out, c.EmailAddresses...)
	for _, ip := range c.IPAddresses {
		out = append(out, ip.String())
	}
	for _, u := range c.URIs {
		out = append(out, u.String())
	}
	if name, ok := fulcioOtherName(c); ok {
		out = append(out, name)
	}
	return out
}

var (
	oidSAN             = asn1.ObjectIdentifier{2, 5, 29, 17}
	oidFulcioOtherName = asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 57264, 1, 7}
)

// fulcioOtherName extracts the single Fulcio username OtherName SAN. Like
// sigstore's UnmarshalOtherNameSAN, any malformed SAN extension, a foreign
// OtherName, or more than one OtherName yields nothing.
func fulcioOtherName(c *x509.Certificate) (string, bool) {
	var names []string
	for _, ext := range c.Extensions {
		if !ext.Id.Equal(oidSAN) {
			continue
		}
		var seq asn1.RawValue
		rest, err := asn1.Unmarshal(ext.Value, &seq)
		if err != nil || len(rest) != 0 {
			return "", false
		}
		if !seq.IsCompound || seq.Tag != asn1.TagSequence || seq.Class != asn1.ClassUniversal {
			return "", false
		}
		for rest = seq.Bytes; len(rest) > 0; {
			var v asn1.RawValue
			if rest, err = asn1.Unmarshal(rest, &v); err != nil {
				return "", false
			}
			if v.Tag != 0 {
				continue
			}
			var other struct {
				ID    asn1.ObjectIdentifier
				Value string `asn1:"utf8,explicit,tag:0"`
			}
			if _, err := asn1.UnmarshalWithParams(v.FullBytes, &other, "tag:0"); err != nil {
				return "", false
			}
			if !other.ID.Equal(oidFulcioOtherName) {
				return "", false
			}
			names = append(names, other.Value)
		}
	}
	if len(names) != 1 || names[0] == "" {
		return "", false
	}
	return names[0], true
}

// verifyChain checks that a submitted chain is internally consistent: the
// first certificate must chain to the last one, through the others, at the
// moment the first one became valid. There is no trust anchor here (Rekor
// does no CA validation); a single certificate needs no check.
func verifyChain(chain []*x509.Certificate) error {
	if len(chain) < 2 {
		return nil
	}
	roots := x509.NewCertPool()
	roots.AddCert(chain[len(chain)-1])
	intermediates := x509.NewCertPool()
	for _, c := range chain[1 : len(chain)-1] {
		intermediates.AddCert(c)
	}
	_, err := chain[0].Verify(x509.VerifyOptions{
		Roots:         roots,
		Intermediates: intermediates,
		KeyUsages:     []x509.ExtKeyUsage{x509.ExtKeyUsageAny},
		CurrentTime:   chain[0].NotBefore,
	})
	return err
}

var errUnsupportedKey = errors.New("unsupported public key type")

// checkVerifierKey reports whether sigstore's LoadVerifier accepts the key.
func checkVerifierKey(pub crypto.PublicKey) error {
	switch pub.(type) {
	case *rsa.PublicKey, *ecdsa.PublicKey, ed25519.PublicKey:
		return nil
	}
	return errUnsupportedKey
}

// verifyDigest verifies a hashedrekord signature over a precomputed digest,
// as Rekor's x509 Signature.Verify does with the ED25519ph load option: RSA
// keys take PKCS#1 v1.5 only, ECDSA keys take ASN.1 or IEEE P1363 encodings,
// and Ed25519 keys verify as Ed25519ph, which needs a SHA-512 digest.
func verifyDigest(pub crypto.PublicKey, hash crypto.Hash, digest, sig []byte) error {
	if err := checkVerifierKey(pub); err != nil {
		return err
	}
	switch pub := pub.(type) {
	case *rsa.PublicKey:
		return rsa.VerifyPKCS1v15(pub, hash, digest, sig)
	case *ecdsa.PublicKey:
		return verifyECDSA(pub, digest, sig)
	case ed25519.PublicKey:
		if hash != crypto.SHA512 {
			return fmt.Errorf("unsupported hash algorithm: %q not in %v", hash.String(), []crypto.Hash{crypto.SHA512})
		}
		if err := ed25519.VerifyWithOptions(pub, digest, sig, &ed25519.Options{Hash: crypto.SHA512}); err != nil {
			return fmt.Errorf("failed to verify signature: %w", err)
		}
	}
	return nil
}

// verifyPrepared verifies a signature over a whole message the way Rekor's
// DSSE-based types do (sigstore's LoadVerifier with SHA-256): RSA PKCS#1
// v1.5 and ECDSA over digest, the SHA-256 of msg, whatever the key size or
// curve, and pure Ed25519 over msg() (called only for Ed25519 keys: the
// message is as large as the payload).
func verifyPrepared(pub crypto.PublicKey, msg func() []byte, digest, sig []byte) error {
	if err := checkVerifierKey(pub); err != nil {
		return err
	}
	switch pub := pub.(type) {
	case *rsa.PublicKey:
		return rsa.VerifyPKCS1v15(pub, crypto.SHA256, digest, sig)
	case *ecdsa.PublicKey:
		return verifyECDSA(pub, digest, sig)
	case ed25519.PublicKey:
		if !ed25519.Verify(pub, msg(), sig) {
			return errors.New("failed to verify signature")
		}
	}
	return nil
}

// verifyECDSA accepts an ASN.1 DER signature, or, if the bytes do not even
// start with an ASN.1 (r, s) sequence, a raw r||s (IEEE P1363) signature.
func verifyECDSA(pub *ecdsa.PublicKey, digest, sig []byte) error {
	var asn1Sig struct{ R, S *big.Int }
	if _, err := asn1.Unmarshal(sig, &asn1Sig); err == nil {
		if !ecdsa.VerifyASN1(pub, digest, sig) {
			return errors.New("invalid signature when validating ASN.1 encoded signature")
		}
		return nil
	}
	if len(sig) == 0 || len(sig) > 132 || len(sig)%2 != 0 {
		return errors.New("ecdsa: Invalid IEEE_P1363 encoded bytes")
	}
	r := new(big.Int).SetBytes(sig[:len(sig)/2])
	s := new(big.Int).SetBytes(sig[len(sig)/2:])
	if !ecdsa.Verify(pub, digest, r, s) {
		return errors.New("invalid signature when validating IEEE_P1363 encoded signature")
	}
	return nil
}

// sshKeyID is the DSSE key ID securesystemslib derives for a key: its SSH
// SHA-256 fingerprint, or "" for keys SSH cannot represent.
func sshKeyID(pub crypto.PublicKey) string {
	k, err := ssh.NewPublicKey(pub)
	if err != nil {
		return ""
	}
	return ssh.FingerprintSHA256(k)
}

// Algorithm is one entry of Rekor's client signing algorithm registry: a key
// type together with the hash that must be used with it. Names are those of
// rekor-server's --client-signing-algorithms flag.
type Algorithm string

// The algorithms Rekor knows. Ed25519 (pure) pairs with no hash, so it never
// admits a hashedrekord entry, whose artifact hash is always SHA-2.
const (
	RSAPKCS1v15_2048SHA256 Algorithm = "rsa-sign-pkcs1-2048-sha256"
	RSAPKCS1v15_3072SHA256 Algorithm = "rsa-sign-pkcs1-3072-sha256"
	RSAPKCS1v15_4096SHA256 Algorithm = "rsa-sign-pkcs1-4096-sha256"
	RSAPSS2048SHA256       Algorithm = "rsa-sign-pss-2048-sha256"
	RSAPSS3072SHA256       Algorithm = "rsa-sign-pss-3072-sha256"
	RSAPSS4096SHA256       Algorithm = "rsa-sign-pss-4096-sha256"
	ECDSAP256SHA256        Algorithm = "ecdsa-sha2-256-nistp256"
	ECDSAP384SHA384        Algorithm = "ecdsa-sha2-384-nistp384"
	ECDSAP384SHA256        Algorithm = "ecdsa-sha2-256-nistp384"
	ECDSAP521SHA512        Algorithm = "ecdsa-sha2-512-nistp521"
	ECDSAP521SHA256        Algorithm = "ecdsa-sha2-256-nistp521"
	Ed25519                Algorithm = "ed25519"
	Ed25519ph              Algorithm = "ed25519-ph"
)

// DefaultAlgorithms are Rekor's default client signing algorithms.
var DefaultAlgorithms = []Algorithm{
	RSAPKCS1v15_2048SHA256, RSAPKCS1v15_3072SHA256, RSAPKCS1v15_4096SHA256,
	ECDSAP256SHA256, ECDSAP384SHA384, ECDSAP521SHA512,
	Ed25519, Ed25519ph,
}

type algorithmDetails struct {
	rsaBits int            // RSA modulus size, or 0
	curve   elliptic.Curve // ECDSA curve, or nil
	ed25519 bool
	hash    crypto.Hash // 0 for pure Ed25519
}

var algorithmRegistry = map[Algorithm]algorithmDetails{
	RSAPKCS1v15_2048SHA256: {rsaBits: 2048, hash: crypto.SHA256},
	RSAPKCS1v15_3072SHA256: {rsaBits: 3072, hash: crypto.SHA256},
	RSAPKCS1v15_4096SHA256: {rsaBits: 4096, hash: crypto.SHA256},
	RSAPSS2048SHA256:       {rsaBits: 2048, hash: crypto.SHA256},
	RSAPSS3072SHA256:       {rsaBits: 3072, hash: crypto.SHA256},
	RSAPSS4096SHA256:       {rsaBits: 4096, hash: crypto.SHA256},
	ECDSAP256SHA256:        {curve: elliptic.P256(), hash: crypto.SHA256},
	ECDSAP384SHA384:        {curve: elliptic.P384(), hash: crypto.SHA384},
	ECDSAP384SHA256:        {curve: elliptic.P384(), hash: crypto.SHA256},
	ECDSAP521SHA512:        {curve: elliptic.P521(), hash: crypto.SHA512},
	ECDSAP521SHA256:        {curve: elliptic.P521(), hash: crypto.SHA256},
	Ed25519:                {ed25519: true},
	Ed25519ph:              {ed25519: true, hash: crypto.SHA512},
}

// algorithmPermitted reports whether any allowed algorithm matches the key
// and the artifact hash (sigstore's AlgorithmRegistryConfig).
func algorithmPermitted(allowed []Algorithm, pub crypto.PublicKey, hash crypto.Hash) bool {
	return slices.ContainsFunc(allowed, func(a Algorithm) bool {
		d := algorithmRegistry[a]
		if d.hash != hash {
			return false
		}
		switch pub := pub.(type) {
		case *rsa.PublicKey:
			return d.rsaBits != 0 && pub.Size()*8 == d.rsaBits
		case *ecdsa.PublicKey:
			return d.curve != nil && pub.Curve == d.curve
		case ed25519.PublicKey:
			return d.ed25519
		}
		return false
	})
}

// parsedKeys remembers the PUBLIC KEY blocks parsed lately with their
// canonical PEM: a log's key-signed entries come from a few thousand keys
// at most, each sent again with every signature, and parsing a key and
// encoding it again cost more than a tenth of a key-signed entry's
// canonicalisation. Keys are immutable once parsed, so one is shared by
// the entries that send it. Only keys that parse are kept; when
// parsedKeysSize are, the cache starts over.
var parsedKeys = resettingCache[string, *publicKey]{max: parsedKeysSize} // by the DER SubjectPublicKeyInfo

const (
	parsedKeysSize   = 1 << 14
	parsedKeyMaxSize = 1 << 10 // bigger DER (RSA over 4096 bits) is parsed every time
)

// parsePKIXKey returns the key of der, from parsedKeys or parsed and
// encoded again.
func parsePKIXKey(der []byte) (*publicKey, error) {
	if k, ok := parsedKeys.get(string(der)); ok {
		return &publicKey{key: k.key, pem: k.pem}, nil
	}
	key, err := x509.ParsePKIXPublicKey(der)
	if err != nil {
		return nil, err
	}
	k := &publicKey{key: key}
	canonical, err := k.canonical()
	if err != nil || len(der) > parsedKeyMaxSize {
		return k, nil // canonical reports the error again when asked
	}
	k.pem = canonical
	parsedKeys.put(string(der), k)
	return &publicKey{key: k.key, pem: k.pem}, nil
}

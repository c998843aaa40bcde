package ct

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/asn1"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/hallmark-dev/hallmark/internal/sigcost"
	"slices"
	"sync"
	"time"

	"github.com/transparency-dev/merkle/rfc6962"

	"github.com/hallmark-dev/hallmark/tlog"
	"github.com/hallmark-dev/hallmark/tlog/format"
)

// Limits on one submission, checked before any certificate is parsed
// (count, size) or any signature checked (issuer keys): a chain costs at
// most one signature check per certificate, each bounded by its key's
// size. docs/ct.md lists them.
const (
	// MaxChainLength bounds the certificates of one submission.
	MaxChainLength = 10
	// MaxCertificateBytes bounds each certificate's DER.
	MaxCertificateBytes = 128 << 10
	// maxRSABits bounds the RSA keys of submitted issuers: verification
	// costs grow with the square of the modulus.
	maxRSABits = sigcost.MaxRSABits
	// maxVerifyCost bounds the signature checks of a chain, in units of a
	// P-256 check (see checkCost): 8 issuers with P-521 keys, any chain of
	// P-256, P-384 or RSA-4096 issuers a CA uses.
	maxVerifyCost = sigcost.MaxCost
)

// Log is a CT log on the engine. Its tlog.Log must have been opened with
// Framing and a checkpoint signer from NewNoteSigner over the same key.
type Log struct {
	log   *tlog.Log
	blobs tlog.BlobStore
	key   crypto.Signer
	logID [32]byte
	// keyInMemory: key is a *ecdsa.PrivateKey, whose SCTs need no check.
	keyInMemory bool
	roots       *x509.CertPool
	raw         [][]byte // accepted roots, DER, for get-roots

	mu       sync.Mutex
	issuers  map[[32]byte]bool            // issuers known to be stored
	verified map[[32]byte]*verifiedIssuer // by SHA-256 of chain[1]: issuer chains that verified to a root
}

// verifiedIssuer is the issuer part of a chain that verified to an
// accepted root: a later submission naming the same issuer certificate
// only needs its leaf checked against issuers[0], provided the leaf's
// NotBefore is inside every issuer's validity (the time a full
// verification checks them at).
type verifiedIssuer struct {
	issuers             []*x509.Certificate // [issuer, ..., root]
	anchor              *x509.CertPool      // issuers[0] alone
	notBefore, notAfter time.Time           // intersection of the issuers' validity
}

// maxVerifiedIssuers bounds the cache: a CT log for one CA sees a handful.
const maxVerifiedIssuers = 64

// oidNameConstraints is X.509's name constraints extension. An issuer
// chain carrying it above the issuing CA is never cached: its
// constraints apply to each leaf, which only a full verification checks.
var oidNameConstraints = asn1.ObjectIdentifier{2, 5, 29, 30}

// New returns the CT personality of l, signing SCTs with key (ECDSA
// P-256) and accepting chains to one of roots.
func New(l *tlog.Log, blobs tlog.BlobStore, key crypto.Signer, roots []*x509.Certificate) (*Log, error) {
	if _, err := format.CheckCTKey(key.Public()); err != nil {
		return nil, err
	}
	if len(roots) == 0 {
		return nil, errors.New("a CT log needs at least one accepted root")
	}
	id, err := format.LogID(key.Public())
	if err != nil {
		return nil, err
	}
	_, inMemory := key.(*ecdsa.PrivateKey)
	c := &Log{log: l, blobs: blobs, key: key, logID: id, keyInMemory: inMemory, roots: x509.NewCertPool(), issuers: map[[32]byte]bool{}}
	for _, r := range roots {
		c.roots.AddCert(r)
		c.raw = append(c.raw, r.Raw)
	}
	return c, nil
}

// LogID returns the log's RFC 6962 log ID.
func (c *Log) LogID() [32]byte { return c.logID }

// Roots returns the accepted roots, DER.
func (c *Log) Roots() [][]byte { return c.raw }

// ParseRoots reads a PEM file's certificates.
func ParseRoots(pemData []byte) ([]*x509.Certificate, error) {
	roots, err := format.ParseCertificatesPEM(pemData)
	if err != nil {
		return nil, fmt.Errorf("roots: %w", err)
	}
	return roots, nil
}

// ParseChainRequest decodes an add-chain / add-pre-chain body
// ({"chain": [base64 DER, ...]}, RFC 6962 §4.1). It checks only the
// encoding; AddChain verifies the certificates.
func ParseChainRequest(body []byte) ([][]byte, error) {
	var req struct {
		Chain []string `json:"chain"`
	}
	if err := json.Unmarshal(body, &req); err != nil {
		return nil, fmt.Errorf("%w: malformed JSON: %w", tlog.ErrInvalidRequest, err)
	}
	if len(req.Chain) == 0 {
		return nil, fmt.Errorf("%w: empty chain", tlog.ErrInvalidRequest)
	}
	if len(req.Chain) > MaxChainLength {
		return nil, fmt.Errorf("%w: chain of %d certificates, the limit is %d", tlog.ErrInvalidRequest, len(req.Chain), MaxChainLength)
	}
	out := make([][]byte, len(req.Chain))
	for i, s := range req.Chain {
		der, err := base64.StdEncoding.DecodeString(s)
		if err != nil {
			return nil, fmt.Errorf("%w: chain[%d] is not base64: %w", tlog.ErrInvalidRequest, i, err)
		}
		if len(der) == 0 {
			return nil, fmt.Errorf("%w: chain[%d] is empty", tlog.ErrInvalidRequest, i)
		}
		if len(der) > MaxCertificateBytes {
			return nil, fmt.Errorf("%w: chain[%d] is %d bytes, the limit is %d", tlog.ErrInvalidRequest, i, len(der), MaxCertificateBytes)
		}
		out[i] = der
	}
	return out, nil
}

// hasPoison reports whether cert carries the precertificate poison.
func hasPoison(cert *x509.Certificate) bool {
	for _, e := range cert.Extensions {
		if e.Id.Equal(format.OIDPoison) {
			return true
		}
	}
	return false
}

// verifyChain checks chain (leaf first) against the accepted roots and
// builds the entry it logs, without index and time. Client mistakes wrap
// tlog.ErrInvalidRequest.
func (c *Log) verifyChain(chain [][]byte, precert bool) (*format.Entry, []*x509.Certificate, error) {
	bad := func(format string, a ...any) error {
		return fmt.Errorf("%w: %s", tlog.ErrInvalidRequest, fmt.Sprintf(format, a...))
	}
	parsed, err := x509.ParseCertificate(chain[0])
	if err != nil {
		return nil, nil, bad("chain[0] does not parse: %v", err)
	}
	leaf := *parsed // a copy: verification below edits it
	if hasPoison(&leaf) != precert {
		if precert {
			return nil, nil, bad("add-pre-chain needs a precertificate (with the critical poison extension)")
		}
		return nil, nil, bad("add-chain got a precertificate: submit it with add-pre-chain")
	}
	if precert {
		// The poison is the one critical extension crypto/x509 does not
		// know; anything else unknown and critical still fails Verify.
		var rest []asn1.ObjectIdentifier
		for _, id := range leaf.UnhandledCriticalExtensions {
			if !id.Equal(format.OIDPoison) {
				rest = append(rest, id)
			}
		}
		leaf.UnhandledCriticalExtensions = rest
	}
	issuers := c.knownIssuers(&leaf, chain)
	if issuers == nil {
		certs := make([]*x509.Certificate, len(chain)-1)
		for i, der := range chain[1:] {
			if certs[i], err = x509.ParseCertificate(der); err != nil {
				return nil, nil, bad("chain[%d] does not parse: %v", i+1, err)
			}
		}
		if err := checkChainCost(certs); err != nil {
			return nil, nil, bad("%v", err)
		}
		if issuers, err = c.verifyFull(&leaf, certs, chain); err != nil {
			return nil, nil, bad("chain does not verify to an accepted root: %v", err)
		}
	}
	if len(issuers) == 0 {
		return nil, nil, bad("the submitted certificate is itself a root")
	}
	e := &format.Entry{Certificate: chain[0]}
	for _, is := range issuers {
		e.ChainFingerprints = append(e.ChainFingerprints, sha256.Sum256(is.Raw))
	}
	if precert {
		for _, eku := range issuers[0].UnknownExtKeyUsage {
			if eku.Equal(format.OIDPrecertSigning) {
				return nil, nil, bad("precertificates issued by a Precertificate Signing Certificate are not accepted")
			}
		}
		tbs, err := format.PrecertTBS(chain[0])
		if err != nil {
			return nil, nil, bad("precertificate: %v", err)
		}
		e.IsPrecert, e.Certificate, e.PreCertificate = true, tbs, chain[0]
		e.IssuerKeyHash = sha256.Sum256(issuers[0].RawSubjectPublicKeyInfo)
	}
	return e, issuers, nil
}

// checkChainCost bounds what x509 path building may spend on the submitted
// issuers (chain[1:], parsed): their keys, and their subjects, which must
// be distinct so that each step has one submitted candidate issuer (a
// certificate sent twice counts once).
func checkChainCost(certs []*x509.Certificate) error {
	switch problem, n := sigcost.Chain(certs); problem {
	case sigcost.ChainRSATooLarge:
		return fmt.Errorf("chain[%d] has a %d-bit RSA key, the limit is %d", n+1, sigcost.RSABits(certs[n].PublicKey), maxRSABits)
	case sigcost.ChainRepeatedSubject:
		return fmt.Errorf("chain[%d] repeats the subject of an earlier issuer", n+1)
	case sigcost.ChainTooCostly:
		return fmt.Errorf("verifying the chain would cost %d units (one unit: a P-256 signature check), the limit is %d", n, maxVerifyCost)
	}
	return nil
}

// Chains are verified at the leaf's NotBefore (a log accepts certificates
// whatever the time of submission: Fulcio's live only ten minutes), for
// any EKU.
//
// The issuer chain of a CA changes rarely while every certificate is new,
// so once chain[1] has verified to a root, later leaves under the same
// issuer certificate are checked against it alone (knownIssuers): one
// signature instead of parsing the chain and building paths. Anything the
// shortcut cannot decide (another issuer, a certificate in the chain that
// is neither a verified issuer nor an accepted root, a leaf outside the
// issuers' validity, a leaf chain[1] did not sign) goes through verifyFull.

// knownIssuers returns the verified issuers [issuer, ..., root] of leaf
// (chain[0], poison already accepted) if chain[1:] consists of a cached
// verified issuer chain's certificates and chain[1] signed leaf; nil
// otherwise.
func (c *Log) knownIssuers(leaf *x509.Certificate, chain [][]byte) []*x509.Certificate {
	if len(chain) < 2 {
		return nil
	}
	c.mu.Lock()
	vi := c.verified[sha256.Sum256(chain[1])]
	c.mu.Unlock()
	if vi == nil || leaf.NotBefore.Before(vi.notBefore) || leaf.NotBefore.After(vi.notAfter) {
		return nil
	}
	// Certificates after chain[1] are not needed to reach a root, but each
	// must be one the full path would also parse: a verified issuer or an
	// accepted root.
	for _, der := range chain[2:] {
		if !slices.ContainsFunc(vi.issuers, func(is *x509.Certificate) bool { return bytes.Equal(is.Raw, der) }) &&
			!slices.ContainsFunc(c.raw, func(r []byte) bool { return bytes.Equal(r, der) }) {
			return nil
		}
	}
	chains, err := leaf.Verify(x509.VerifyOptions{Roots: vi.anchor, CurrentTime: leaf.NotBefore,
		KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}})
	// A chain of one would mean the leaf is the issuer itself.
	if err != nil || len(chains[0]) != 2 {
		return nil
	}
	return vi.issuers
}

// verifyFull verifies leaf through certs (chain[1:], parsed) to an
// accepted root and returns the verified issuers, remembering them.
func (c *Log) verifyFull(leaf *x509.Certificate, certs []*x509.Certificate, chain [][]byte) ([]*x509.Certificate, error) {
	inter := x509.NewCertPool()
	for _, cert := range certs {
		inter.AddCert(cert)
	}
	chains, err := leaf.Verify(x509.VerifyOptions{Roots: c.roots, Intermediates: inter, CurrentTime: leaf.NotBefore,
		KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}})
	if err != nil {
		return nil, err
	}
	issuers := chains[0][1:]
	if len(issuers) > 0 && len(chain) > 1 && bytes.Equal(issuers[0].Raw, chain[1]) {
		c.remember(sha256.Sum256(chain[1]), issuers)
	}
	return issuers, nil
}

// remember caches a verified issuer chain unless the cache is full or an
// issuer above the first constrains names.
func (c *Log) remember(fp [32]byte, issuers []*x509.Certificate) {
	vi := &verifiedIssuer{issuers: issuers, anchor: x509.NewCertPool(), notBefore: issuers[0].NotBefore, notAfter: issuers[0].NotAfter}
	vi.anchor.AddCert(issuers[0])
	for _, is := range issuers[1:] {
		for _, e := range is.Extensions {
			if e.Id.Equal(oidNameConstraints) {
				return
			}
		}
		if is.NotBefore.After(vi.notBefore) {
			vi.notBefore = is.NotBefore
		}
		if is.NotAfter.Before(vi.notAfter) {
			vi.notAfter = is.NotAfter
		}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.verified == nil {
		c.verified = map[[32]byte]*verifiedIssuer{}
	}
	if len(c.verified) < maxVerifiedIssuers {
		c.verified[fp] = vi
	}
}

// AddChain logs the certificate (or precertificate) chain and returns its
// SCT once the batch holding it has committed: the SCT's leaf_index is the
// entry's index, and its timestamp the entry's. A chain already in the log
// gets an SCT for the existing entry.
//
// The sequencer is told of the submission before its chain is checked
// (tlog.Log.Expect): a batch ends as soon as every submission in progress
// has joined it, so a lone CA waits for one commit, not a batch age.
func (c *Log) AddChain(ctx context.Context, chain [][]byte, precert bool) (*format.SCT, error) {
	queued := c.log.Expect()
	defer queued()
	e, issuers, err := c.verifyChain(chain, precert)
	if err != nil {
		return nil, err
	}
	// Issuers are stored before the entry that names them, so every
	// fingerprint in a committed data tile resolves.
	for _, is := range issuers {
		if err := c.putIssuer(ctx, is.Raw); err != nil {
			return nil, err
		}
	}
	rc, err := c.log.Append(ctx, tlog.Entry{
		DedupKey: e.DedupKey(),
		Queued:   queued,
		Finish: func(index uint64, t time.Time) ([]byte, [32]byte, error) {
			fe := *e
			fe.LeafIndex, fe.Timestamp = index, uint64(t.UnixMilli())
			if fe.LeafIndex > format.MaxLeafIndex {
				return nil, [32]byte{}, fmt.Errorf("leaf index %d does not fit the leaf_index extension", index)
			}
			var h [32]byte
			copy(h[:], rfc6962.DefaultHasher.HashLeaf(fe.MerkleTreeLeaf()))
			return fe.TileLeaf(), h, nil
		},
	})
	if err != nil {
		return nil, err
	}
	e.LeafIndex, e.Timestamp = rc.Index, uint64(rc.Time.UnixMilli())
	if rc.Duplicate {
		// The SCT must carry the stored entry's timestamp.
		stored, err := c.entry(ctx, rc.Index, rc.Checkpoint.Size)
		if err != nil {
			return nil, err
		}
		e.Timestamp = stored.Timestamp
	}
	sct, err := format.SignSCT(c.key, c.logID, e)
	if err != nil {
		return nil, err
	}
	// Verify what we serve: a faulty signer (HSM, KMS) must not hand out
	// SCTs that every client would reject. An ECDSA key in this process's
	// memory (a key_file) signs correctly by construction; checking its
	// signature would cost three times the signature.
	if !c.keyInMemory {
		if err := format.VerifySCT(c.key.Public(), sct, e); err != nil {
			return nil, fmt.Errorf("the SCT just signed does not verify: %w", err)
		}
	}
	return sct, nil
}

// entry reads the stored entry at index.
func (c *Log) entry(ctx context.Context, index, size uint64) (*format.Entry, error) {
	data, err := c.log.EntryAt(ctx, index, size)
	if err != nil {
		return nil, fmt.Errorf("couldn't read entry %d: %w", index, err)
	}
	e, err := format.ParseTileLeaf(data)
	if err != nil {
		return nil, fmt.Errorf("stored entry %d: %w", index, err)
	}
	if e.LeafIndex != index {
		return nil, fmt.Errorf("stored entry %d has leaf_index %d", index, e.LeafIndex)
	}
	return e, nil
}

func (c *Log) putIssuer(ctx context.Context, der []byte) error {
	fp := sha256.Sum256(der)
	c.mu.Lock()
	known := c.issuers[fp]
	c.mu.Unlock()
	if known {
		return nil
	}
	if _, err := c.blobs.PutBlob(ctx, der); err != nil {
		return fmt.Errorf("couldn't store issuer: %w", err)
	}
	c.mu.Lock()
	c.issuers[fp] = true
	c.mu.Unlock()
	return nil
}

// Issuer returns the issuer certificate with the given SHA-256, or an
// error wrapping tlog.ErrNotFound.
func (c *Log) Issuer(ctx context.Context, fp [32]byte) ([]byte, error) {
	return c.blobs.Blob(ctx, fp)
}

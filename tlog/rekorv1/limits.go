package rekorv1

// Verification limits. Rekor v1 verifies whatever it is sent: every dsse
// verifier against every envelope signature, keys of any size, chains that
// make x509 path building try many candidates. Here every entry's cost is
// bounded before any key is parsed or any signature checked:
//
//   - counts: signatures per envelope, verifiers per entry, and their
//     product (the most signature checks the entry can cost);
//   - sizes: each submitted key, the signatures that the leaf records, and
//     the bytes the signature checks hash (checks × envelope payload);
//   - after parsing, before verifying: RSA moduli of at most maxRSABits,
//     and certificate chains whose subjects are distinct, so that path
//     building tries one candidate per step.
//
// Real clients stay far below every limit (cosign and sigstore-go send one
// signature and one key); a request Rekor accepts that is within them is
// accepted here with the same leaf. docs/rekor.md lists them.

import (
	"crypto"
	"crypto/x509"
	"errors"
	"fmt"
	"net/http"

	"github.com/hallmark-dev/hallmark/internal/sigcost"
)

// Defaults of the configurable limits (Options).
const (
	// DefaultMaxSignatures bounds the signatures of one DSSE envelope
	// (dsse, intoto 0.0.1 and 0.0.2).
	DefaultMaxSignatures = 8
	// DefaultMaxVerifiers bounds the keys of one entry: dsse verifiers,
	// intoto 0.0.2 signature public keys.
	DefaultMaxVerifiers = 8
	// DefaultMaxSignatureChecks bounds signatures × keys, the most
	// signature verifications one entry can need.
	DefaultMaxSignatureChecks = 16
)

// Fixed limits.
const (
	// maxEntryBytes is the largest leaf a log holds (tlog.MaxEntrySize):
	// what a leaf must record cannot be larger.
	maxEntryBytes = 1<<16 - 1
	// maxKeyBytes bounds one submitted key, certificate or chain (decoded
	// PEM): three quarters of a leaf, since leaves hold it base64-encoded.
	maxKeyBytes = maxEntryBytes * 3 / 4
	// maxVerifyBytes bounds the message bytes signature checks may hash:
	// signature checks × the envelope's decoded payload. Ed25519 hashes the
	// whole message for every check; 4 MiB is 5-10 ms of SHA-512. Over a
	// larger payload (a large attestation, up to the log's max_entry_bytes)
	// an entry may make sigcost.MaxPayloadPasses checks.
	maxVerifyBytes = 4 << 20
	// payloadBytesPerUnit prices decoding an envelope's payload in the
	// units of maxVerifyCost: the JSON string, its base64 and the hashes
	// of a payload cost about one P-256 check per 8 KiB, so a 1 MiB payload
	// leaves half the budget to signature checks (checkVerifyCost).
	payloadBytesPerUnit = 8 << 10
	// minCheckBudget is what signature checks may always spend, however
	// large the payload: one P-521 check, or the checks of any honest
	// envelope (one signature). Decoding itself is bounded by the log's
	// per-type size limit (max_entry_bytes), not by this budget.
	minCheckBudget = 32
	// maxVerifyCost bounds the signature checks of one entry in units of
	// one P-256 check (see checkCost): 16 checks of any key real clients
	// use, but only 8 with P-521 or 8192-bit RSA keys, whose checks cost
	// 30-40 times a P-256 check. It is about 40 ms of CPU on the machine
	// of docs/BENCHMARKS.md.
	maxVerifyCost = sigcost.MaxCost
	// maxRSABits bounds RSA moduli. Verification costs grow with the square
	// of the modulus; Rekor's algorithm registry stops at 4096 bits.
	maxRSABits = sigcost.MaxRSABits
)

// ErrOverLimit marks entries refused because they exceed a verification
// limit (too many signatures or keys, keys or signatures too large). Such
// errors are *InputError (400) whose Err wraps ErrOverLimit.
var ErrOverLimit = errors.New("over a verification limit")

// ErrEntryTooLarge marks entries refused because their request body is
// over the log's limit for their kind (Options.MaxEntryBytes). Such errors
// are *InputError with Code 413 whose Err is an *EntryTooLargeError, which
// matches ErrEntryTooLarge.
var ErrEntryTooLarge = errors.New("entry over the size limit of its kind")

// EntryTooLargeError is an entry body of Size bytes over its Kind's Limit.
type EntryTooLargeError struct {
	Kind        string
	Size, Limit int64
}

func (e *EntryTooLargeError) Error() string {
	return fmt.Sprintf("%v: the %s entry is %d bytes, this log accepts %s entries of at most %d bytes", ErrEntryTooLarge, e.Kind, e.Size, e.Kind, e.Limit)
}
func (e *EntryTooLargeError) Is(target error) bool { return target == ErrEntryTooLarge }

// checkEntrySize refuses a body of size bytes over its kind's limit.
func checkEntrySize(kind string, size int, limits map[string]int64) error {
	limit, ok := limits[kind]
	if !ok || int64(size) <= limit {
		return nil
	}
	err := &EntryTooLargeError{Kind: kind, Size: int64(size), Limit: limit}
	return &InputError{Code: http.StatusRequestEntityTooLarge, Message: err.Error(), Err: err}
}

type limitError struct{ msg string }

func (e *limitError) Error() string        { return e.msg }
func (e *limitError) Is(target error) bool { return target == ErrOverLimit }

// overLimit is the cause of the 400 for a request over a limit: wrap it
// with invalid.
func overLimit(format string, args ...any) error {
	return &limitError{fmt.Sprintf(format, args...)}
}

// limits are the effective limits of one Canonicalize call.
type limits struct {
	signatures, verifiers, checks int
	auth                          *authorizer // Options.Authorize, nil without
}

func (o Options) limits() limits {
	l := limits{signatures: DefaultMaxSignatures, verifiers: DefaultMaxVerifiers, checks: DefaultMaxSignatureChecks}
	if o.Authorize != nil {
		l.auth = &authorizer{o.Authorize}
	}
	if o.MaxSignatures > 0 {
		l.signatures = o.MaxSignatures
	}
	if o.MaxVerifiers > 0 {
		l.verifiers = o.MaxVerifiers
	}
	if o.MaxSignatureChecks > 0 {
		l.checks = o.MaxSignatureChecks
	}
	return l
}

// checkEnvelope applies the count and hashing limits to an envelope of
// nsigs signatures checked against nkeys keys, whose payload is payloadLen
// bytes of base64 text. It does no parsing.
func (l limits) checkEnvelope(nsigs, nkeys, payloadLen int) error {
	switch {
	case nsigs > l.signatures:
		return overLimit("the DSSE envelope has %d signatures, this log accepts at most %d", nsigs, l.signatures)
	case nkeys > l.verifiers:
		return overLimit("the entry has %d verifiers, this log accepts at most %d", nkeys, l.verifiers)
	case nsigs*nkeys > l.checks:
		return overLimit("%d signatures and %d verifiers need %d signature checks, this log performs at most %d",
			nsigs, nkeys, nsigs*nkeys, l.checks)
	}
	if n := int64(payloadLen / 4 * 3); !sigcost.PayloadHashing(nsigs*nkeys, n, maxVerifyBytes) {
		return overLimit("%d signature checks over a %d-byte payload would hash %d bytes, this log hashes at most %d (or a larger payload %d times); send fewer signatures or verifiers",
			nsigs*nkeys, n, int64(nsigs*nkeys)*n, maxVerifyBytes, sigcost.MaxPayloadPasses)
	}
	return nil
}

// checkKeySize refuses a key too large to be logged, before parsing it.
func checkKeySize(what string, raw []byte) error {
	if len(raw) > maxKeyBytes {
		return overLimit("%s is %d bytes, more than the %d a log entry can hold", what, len(raw), maxKeyBytes)
	}
	return nil
}

// checkKeyCost refuses a key whose signature checks would cost more than
// any real client's: an RSA modulus over maxRSABits.
func checkKeyCost(k *publicKey) error {
	if bits := rsaBits(k.cryptoKey()); bits > maxRSABits {
		return overLimit("the RSA key has %d bits, this log verifies at most %d", bits, maxRSABits)
	}
	return nil
}

// checkChainCost bounds the verification of a submitted chain (hashedrekord
// only): every certificate's key verifies at most one signature of at most
// maxRSABits, because no two certificates share a subject and x509 path
// building therefore has one candidate issuer per step (a certificate sent
// twice counts once).
func checkChainCost(chain []*x509.Certificate) error {
	switch problem, n := sigcost.Chain(chain); problem {
	case sigcost.ChainRSATooLarge:
		return overLimit("certificate %d of the chain has a %d-bit RSA key, this log verifies at most %d", n, rsaBits(chain[n].PublicKey), maxRSABits)
	case sigcost.ChainRepeatedSubject:
		return overLimit("certificate %d of the chain repeats the subject of an earlier one", n)
	case sigcost.ChainTooCostly:
		return overLimit("verifying the chain would cost %d units (one unit: a P-256 check), this log spends at most %d", n, maxVerifyCost)
	}
	return nil
}

// checkVerifyCost refuses an entry whose keys would each be checked
// against nsigs signatures at a total cost over what its payload leaves
// of maxVerifyCost: decoding a payload of payloadLen base64 bytes is
// priced at one unit per payloadBytesPerUnit, and the checks may always
// spend minCheckBudget. keys may hold nil for keys that did not parse.
func checkVerifyCost(keys []*publicKey, nsigs, payloadLen int) error {
	total := 0
	for _, k := range keys {
		if k != nil {
			total += sigcost.Check(k.cryptoKey()) * nsigs
		}
	}
	decoding := payloadLen / 4 * 3 / payloadBytesPerUnit
	budget := max(maxVerifyCost-decoding, minCheckBudget)
	if total > budget {
		if decoding > 0 {
			return overLimit("checking %d signatures with these keys would cost %d units (one unit: a P-256 check), and decoding its %d KiB payload %d more; this log spends at most %d per entry; P-521 and large RSA keys cost the most",
				nsigs, total, payloadLen/4*3>>10, decoding, maxVerifyCost)
		}
		return overLimit("checking %d signatures with these keys would cost %d units (one unit: a P-256 check), this log spends at most %d; P-521 and large RSA keys cost the most",
			nsigs, total, maxVerifyCost)
	}
	return nil
}

// parseVerifierKey parses a DSSE verifier key (dsse verifiers, intoto
// 0.0.2 signature keys) and checks that it can be used, with the errors
// Rekor reports.
func parseVerifierKey(raw []byte) (*publicKey, error) {
	key, err := parsePublicKey(raw)
	if err != nil {
		return nil, fmt.Errorf("could not parse public key as x509: %w", err)
	}
	if err := checkVerifierKey(key.cryptoKey()); err != nil {
		return nil, fmt.Errorf("could not load verifier: %w", err)
	}
	if err := checkKeyCost(key); err != nil {
		return nil, err
	}
	return key, nil
}

// parseVerifierKeys parses every key before any is used, so that
// checkVerifyCost knows the cost of the checks before the first. The
// errors are kept apart, to be reported only where Rekor, which parses
// each key just before using it, would meet them.
func parseVerifierKeys(raws [][]byte) ([]*publicKey, []error) {
	keys := make([]*publicKey, len(raws))
	errs := make([]error, len(raws))
	for i, raw := range raws {
		keys[i], errs[i] = parseVerifierKey(raw)
	}
	return keys, errs
}

// rsaBits is the modulus size of an RSA key, or 0.
func rsaBits(pub crypto.PublicKey) int { return sigcost.RSABits(pub) }

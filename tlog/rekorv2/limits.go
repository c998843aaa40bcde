package rekorv2

// Verification limits, checked before any key is parsed or any signature
// checked (after parsing, for what depends on the key): a dsse request's
// leaf holds its signatures and verifiers, so they must fit in MaxEntrySize;
// every signature is checked against every verifier, so their product is
// bounded (MaxDSSESignatureChecks), weighed by what a check with each key
// costs (maxVerifyCost), and by the payload bytes Ed25519 hashes per check
// (maxVerifyBytes). A hashedrekord request costs one check. Real clients
// send one signature and one verifier; docs/rekor.md lists the limits.

import (
	"errors"
	"fmt"

	"github.com/hallmark-dev/hallmark/internal/sigcost"
	"github.com/hallmark-dev/hallmark/tlog/rekorv1"

	rekortilespb "github.com/sigstore/rekor-tiles/v2/pkg/generated/protobuf"
)

// MaxDSSESignatureChecks bounds distinct signatures × verifiers of a dsse
// request: each signature is checked against every verifier to prove the
// pairing one-to-one. rekor-tiles allowed 10 × 10; since the pairing must be
// one-to-one, 16 admits up to 4 signatures with 4 verifiers.
const MaxDSSESignatureChecks = 16

const (
	// maxVerifyCost bounds the checks of one request in units of a P-256
	// check: 16 checks with the keys real clients use, 8 with P-521.
	maxVerifyCost = sigcost.MaxCost
	// maxVerifyBytes bounds checks × payload bytes: pure Ed25519 hashes the
	// whole PAE for every check. A larger payload (up to the log's
	// max_entry_bytes for dsse) allows sigcost.MaxPayloadPasses checks.
	maxVerifyBytes = 8 << 20
	// maxLoggedBytes bounds what the leaf holds base64-encoded (signatures,
	// keys, certificates): three quarters of MaxEntrySize.
	maxLoggedBytes = MaxEntrySize * 3 / 4
)

// ErrOverLimit marks requests refused because they exceed a verification
// limit. Such errors are *InputError whose Err wraps ErrOverLimit.
var ErrOverLimit = errors.New("over a verification limit")

type limitError struct{ msg string }

func (e *limitError) Error() string        { return e.msg }
func (e *limitError) Is(target error) bool { return target == ErrOverLimit }

func overLimit(field, format string, args ...any) *InputError {
	return &InputError{Field: field, Err: &limitError{fmt.Sprintf(format, args...)}}
}

// ErrEntryTooLarge marks requests over the log's size limit for their
// kind (CheckEntrySize): 413, gRPC RESOURCE_EXHAUSTED. They are
// *EntryTooLargeError. Both are Rekor v1's: the limits are the same kind
// of limit.
var ErrEntryTooLarge = rekorv1.ErrEntryTooLarge

// EntryTooLargeError is a request of Size bytes over its Kind's Limit.
type EntryTooLargeError = rekorv1.EntryTooLargeError

// EntryKind is the kind of entry req creates: KindHashedRekord, KindDSSE,
// or "" for a request of neither.
func EntryKind(req *CreateEntryRequest) string {
	switch req.GetSpec().(type) {
	case *rekortilespb.CreateEntryRequest_HashedRekordRequestV002:
		return KindHashedRekord
	case *rekortilespb.CreateEntryRequest_DsseRequestV002:
		return KindDSSE
	}
	return ""
}

// CheckEntrySize refuses a request of size bytes (as received: its JSON
// body, or its protobuf message) over its kind's limit in limits (a log's
// limits.max_entry_bytes). Kinds without a limit pass.
func CheckEntrySize(req *CreateEntryRequest, size int64, limits map[string]int64) error {
	kind := EntryKind(req)
	limit, ok := limits[kind]
	if !ok || size <= limit {
		return nil
	}
	return &EntryTooLargeError{Kind: kind, Size: size, Limit: limit}
}

// verifierBytes is the size of a verifier's key or certificate, unparsed.
func verifierBytes(v *rekortilespb.Verifier) int {
	return len(v.GetPublicKey().GetRawBytes()) + len(v.GetX509Certificate().GetRawBytes())
}

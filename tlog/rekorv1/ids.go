package rekorv1

// Entry identifiers and the signed entry timestamp payload.
//
// A Rekor UUID is the hex RFC 6962 leaf hash of an entry (64 hex digits).
// An entry ID prefixes it with the tree ID of the log shard, as 16 hex
// digits: 80 hex digits in all. The API accepts either form.

import (
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"

	"github.com/gowebpki/jcs"
)

// EntryID formats an entry ID: 16 zero-padded lower-case hex digits of the
// tree ID followed by the 64 hex digits of the leaf hash. Tree IDs are
// positive; ParseEntryID rejects IDs built from anything else.
func EntryID(treeID int64, leafHash [32]byte) string {
	return fmt.Sprintf("%016x", uint64(treeID)) + hex.EncodeToString(leafHash[:])
}

// ParseEntryID parses a 64-hex UUID (hasTree false, treeID 0) or an 80-hex
// entry ID. Hex digits may be upper or lower case. The tree ID of an entry
// ID must be a positive int64: Rekor rejects tree ID 0, and larger values
// do not fit its tree IDs. Errors are *InputError (400).
func ParseEntryID(s string) (treeID int64, leafHash [32]byte, hasTree bool, err error) {
	const uuidLen, entryIDLen = 64, 80
	switch len(s) {
	case uuidLen:
	case entryIDLen:
		hasTree = true
	default:
		return 0, leafHash, false, badEntryID(fmt.Errorf("invalid ID len %v for %v", len(s), s))
	}
	uuid := s[len(s)-uuidLen:]
	if _, err := hex.Decode(leafHash[:], []byte(uuid)); err != nil {
		return 0, [32]byte{}, false, badEntryID(fmt.Errorf("id %v is not a valid hex string: %w", uuid, err))
	}
	if !hasTree {
		return 0, leafHash, false, nil
	}
	tree := s[:entryIDLen-uuidLen]
	if _, err := hex.DecodeString(tree); err != nil {
		return 0, [32]byte{}, false, badEntryID(fmt.Errorf("%v is not a valid TreeID", tree))
	}
	// ParseUint rather than Rekor's ParseInt: both accept exactly the same
	// all-hex strings here, and unsigned parsing rejects no valid input.
	id, err := strconv.ParseUint(tree, 16, 63)
	if err != nil {
		return 0, [32]byte{}, false, badEntryID(fmt.Errorf("%v is not a valid TreeID", tree))
	}
	if id == 0 {
		return 0, [32]byte{}, false, badEntryID(errors.New("0 is not a valid TreeID"))
	}
	return int64(id), leafHash, true, nil
}

func badEntryID(err error) *InputError {
	return &InputError{Code: http.StatusBadRequest, Message: err.Error(), Err: err}
}

// setPayload is the part of a LogEntry Rekor signs for the SET.
type setPayload struct {
	Body           []byte `json:"body"`
	IntegratedTime int64  `json:"integratedTime"`
	LogID          string `json:"logID"`
	LogIndex       int64  `json:"logIndex"`
}

// SETPayload returns the exact bytes Rekor signs to make an entry's signed
// entry timestamp: the RFC 8785 form of
//
//	{"body":"<std base64 of the leaf>","integratedTime":<unix seconds>,
//	 "logID":"<hex log ID>","logIndex":<global index>}
//
// Clients verify an ECDSA signature over SHA-256 of these bytes.
func SETPayload(body []byte, integratedTime int64, logID string, logIndex int64) ([]byte, error) {
	if out, ok := appendSETPayload(nil, body, integratedTime, logID, logIndex); ok {
		return out, nil
	}
	return setPayloadJCS(body, integratedTime, logID, logIndex)
}

// maxExactJCSInt is the largest integer RFC 8785 writes as its decimal
// digits: JCS reads numbers as IEEE 754 doubles, which hold every integer
// up to 2^53 (and larger ones only rounded).
const maxExactJCSInt = 1 << 53

// appendSETPayload writes what setPayloadJCS returns, without marshalling
// and parsing JSON, for a log ID jcsPlain writes as itself and integers
// JCS writes as their digits (any real time and index); else it answers
// false.
func appendSETPayload(dst, body []byte, integratedTime int64, logID string, logIndex int64) ([]byte, bool) {
	if !jcsPlain(logID) || integratedTime < -maxExactJCSInt || integratedTime > maxExactJCSInt ||
		logIndex < -maxExactJCSInt || logIndex > maxExactJCSInt {
		return nil, false
	}
	dst = append(dst, `{"body":"`...)
	dst = base64.StdEncoding.AppendEncode(dst, body)
	dst = append(dst, `","integratedTime":`...)
	dst = strconv.AppendInt(dst, integratedTime, 10)
	dst = append(dst, `,"logID":"`...)
	dst = append(dst, logID...)
	dst = append(dst, `","logIndex":`...)
	dst = strconv.AppendInt(dst, logIndex, 10)
	return append(dst, '}'), true
}

// setPayloadJCS is SETPayload as Rekor computes it: encoding/json, then
// RFC 8785.
func setPayloadJCS(body []byte, integratedTime int64, logID string, logIndex int64) ([]byte, error) {
	if body == nil {
		body = []byte{} // a nil leaf would marshal as null
	}
	raw, err := json.Marshal(setPayload{Body: body, IntegratedTime: integratedTime, LogID: logID, LogIndex: logIndex})
	if err != nil {
		return nil, fmt.Errorf("couldn't marshal SET payload: %w", err)
	}
	out, err := jcs.Transform(raw)
	if err != nil {
		return nil, fmt.Errorf("couldn't canonicalise SET payload: %w", err)
	}
	return out, nil
}

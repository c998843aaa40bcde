package witness

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
)

// MaxProofLines is the most consistency proof hashes an add-checkpoint
// request may carry (C2SP tlog-witness).
const MaxProofLines = 63

// MaxRequestBytes bounds an add-checkpoint body: a checkpoint with many
// signatures and a full proof fit comfortably.
const MaxRequestBytes = 64 << 10

// ErrMalformedRequest wraps every reason an add-checkpoint body is rejected
// by [ParseAddCheckpoint]; the witness answers it with 400.
var ErrMalformedRequest = errors.New("malformed add-checkpoint request")

// AddCheckpoint is the body of a tlog-witness add-checkpoint request.
type AddCheckpoint struct {
	// OldSize is the size of the latest checkpoint the client believes the
	// witness has cosigned for the log (0 if none).
	OldSize uint64
	// Proof is the consistency proof from OldSize to the checkpoint's size;
	// empty when OldSize is 0 or equals the new size.
	Proof [][]byte
	// Checkpoint is the signed note, as submitted.
	Checkpoint []byte
}

// Marshal encodes the request body:
//
//	old <size>
//	<base64 proof hash>...
//	<empty line>
//	<checkpoint>
func (r *AddCheckpoint) Marshal() []byte {
	var b bytes.Buffer
	b.WriteString("old ")
	b.WriteString(strconv.FormatUint(r.OldSize, 10))
	b.WriteByte('\n')
	for _, h := range r.Proof {
		b.WriteString(base64.StdEncoding.EncodeToString(h))
		b.WriteByte('\n')
	}
	b.WriteByte('\n')
	b.Write(r.Checkpoint)
	return b.Bytes()
}

// ParseAddCheckpoint parses an add-checkpoint body strictly: the old size
// in canonical decimal (no sign, no leading zeros), at most [MaxProofLines]
// proof lines of 32-byte base64 hashes, an empty line, and a non-empty
// checkpoint. Every line ends in '\n'. The checkpoint itself is not parsed
// here: the witness opens it with the log's key. Errors wrap
// ErrMalformedRequest.
func ParseAddCheckpoint(body []byte) (*AddCheckpoint, error) {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: %s", ErrMalformedRequest, fmt.Sprintf(format, args...))
	}
	line, rest, ok := bytes.Cut(body, []byte("\n"))
	if !ok {
		return nil, bad("no old size line")
	}
	sizeStr, ok := bytes.CutPrefix(line, []byte("old "))
	if !ok {
		return nil, bad("first line must be \"old <size>\"")
	}
	size, err := parseDecimal(string(sizeStr))
	if err != nil {
		return nil, bad("old size: %v", err)
	}
	r := &AddCheckpoint{OldSize: size}
	for {
		line, rest, ok = bytes.Cut(rest, []byte("\n"))
		if !ok {
			return nil, bad("missing the empty line before the checkpoint")
		}
		if len(line) == 0 {
			break
		}
		if len(r.Proof) == MaxProofLines {
			return nil, bad("more than %d consistency proof lines", MaxProofLines)
		}
		h, err := base64.StdEncoding.Strict().DecodeString(string(line))
		if err != nil || len(h) != 32 {
			return nil, bad("proof line %d is not a base64 32-byte hash", len(r.Proof)+1)
		}
		r.Proof = append(r.Proof, h)
	}
	if len(rest) == 0 {
		return nil, bad("no checkpoint")
	}
	r.Checkpoint = rest
	return r, nil
}

// parseDecimal parses a tree size: ASCII decimal, no leading zeros (except
// "0" itself), fits in 64 bits.
func parseDecimal(s string) (uint64, error) {
	if s == "" || (len(s) > 1 && s[0] == '0') {
		return 0, fmt.Errorf("%q is not a canonical decimal number", s)
	}
	for _, c := range s {
		if c < '0' || c > '9' {
			return 0, fmt.Errorf("%q is not a canonical decimal number", s)
		}
	}
	n, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("%q does not fit in 64 bits", s)
	}
	return n, nil
}

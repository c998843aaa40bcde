package format

import "strconv"

// PAE returns DSSE v1's pre-authentication encoding of an envelope, the
// message its signatures cover:
//
//	"DSSEv1" SP LEN(type) SP type SP LEN(body) SP body
//
// with lengths in ASCII decimal, no leading zeros
// (https://github.com/secure-systems-lab/dsse/blob/master/protocol.md).
func PAE(payloadType string, payload []byte) []byte {
	return append(appendPAEHeader(make([]byte, 0, 7+20+1+len(payloadType)+1+20+1+len(payload)), payloadType, len(payload)), payload...)
}

// PAEHeader is the PAE of an envelope up to its payload: hashing it and
// then the payload gives the digest of PAE(payloadType, payload) without
// copying a large payload into one message.
func PAEHeader(payloadType string, payloadLen int) []byte {
	return appendPAEHeader(make([]byte, 0, 7+20+1+len(payloadType)+1+20+1), payloadType, payloadLen)
}

func appendPAEHeader(b []byte, payloadType string, payloadLen int) []byte {
	// 7 for "DSSEv1 ", 20 digits for each length and three spaces.
	b = append(b, "DSSEv1 "...)
	b = strconv.AppendInt(b, int64(len(payloadType)), 10)
	b = append(b, ' ')
	b = append(b, payloadType...)
	b = append(b, ' ')
	b = strconv.AppendInt(b, int64(payloadLen), 10)
	return append(b, ' ')
}

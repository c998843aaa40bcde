package ca_test

import (
	"crypto"
	"crypto/sha256"
	"errors"
	"math/big"
	"testing"

	"github.com/digitorus/timestamp"

	"github.com/hallmark-dev/hallmark/ca"
)

// FuzzTimestampQuery: arbitrary bytes as a DER TimeStampReq or as the JSON
// form never panic; every refusal is a documented client error (so it gets
// a rejection with a specific PKIFailureInfo, never systemFailure), and
// every grant is a response that parses and verifies.
func FuzzTimestampQuery(f *testing.F) {
	tsa, _ := testTSA(f, ca.TSAOptions{})
	d := sha256.Sum256([]byte("seed"))
	for _, r := range []*timestamp.Request{
		{HashAlgorithm: crypto.SHA256, HashedMessage: d[:]},
		{HashAlgorithm: crypto.SHA256, HashedMessage: d[:], Certificates: true, Nonce: big.NewInt(99), TSAPolicyOID: ca.DefaultTSAPolicy},
		{HashAlgorithm: crypto.SHA1, HashedMessage: d[:20]},
	} {
		der, _ := r.Marshal()
		f.Add(der)
	}
	f.Add([]byte(`{"artifactHash":"` + b64(d[:]) + `","hashAlgorithm":"sha256","nonce":1,"certificates":true}`))
	f.Fuzz(func(t *testing.T, in []byte) {
		for _, parse := range []func([]byte) (*timestamp.Request, error){ca.ParseTimestampQuery, ca.ParseTimestampJSON} {
			req, err := parse(in)
			var resp []byte
			if err == nil {
				resp, err = tsa.Timestamp(req)
			}
			if err != nil {
				if _, reason := ca.TimestampFailure(err); reason == "system_failure" {
					t.Fatalf("request %x: not classified as a client error: %v", in, err)
				}
				if errors.Is(err, ca.ErrTSABadRequest) && !errors.Is(err, ca.ErrTSAVersion) {
					t.Fatalf("parsing yields badRequest only for a version other than 1: %v", err)
				}
				continue
			}
			if _, err := timestamp.ParseResponse(resp); err != nil && req.Certificates {
				t.Fatalf("granted response does not verify: %v", err)
			}
		}
	})
}

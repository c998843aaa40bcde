package ct

import (
	"bytes"
	"crypto/x509"
	"encoding/base64"
	"testing"
)

// FuzzChainRequest feeds untrusted add-chain bodies through the request
// parser and chain verification: no panics, and only accepted roots pass.
func FuzzChainRequest(f *testing.F) {
	p := newPKI(f)
	cert, precert := p.issue(f, "a@example.com")
	enc := func(chain ...[]byte) []byte {
		s := `{"chain":[`
		for i, c := range chain {
			if i > 0 {
				s += ","
			}
			s += `"` + base64.StdEncoding.EncodeToString(c) + `"`
		}
		return []byte(s + "]}")
	}
	f.Add(enc(cert, p.inter.Raw, p.root.Raw), false)
	f.Add(enc(precert, p.inter.Raw), true)
	f.Add([]byte(`{"chain":["AA=="]}`), false)
	c := &Log{roots: nil}
	c.roots = newPool(p.root)
	f.Fuzz(func(t *testing.T, body []byte, pre bool) {
		chain, err := ParseChainRequest(body)
		if err != nil {
			return
		}
		e, _, err := c.verifyChain(chain, pre)
		if err != nil {
			return
		}
		if e.IsPrecert != pre {
			t.Fatal("entry type differs from the endpoint")
		}
		if !pre && !bytes.Equal(e.Certificate, chain[0]) {
			t.Fatal("x509 entry is not the submitted certificate")
		}
	})
}

func newPool(roots ...*x509.Certificate) *x509.CertPool {
	p := x509.NewCertPool()
	for _, r := range roots {
		p.AddCert(r)
	}
	return p
}

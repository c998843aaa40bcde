package audit

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"

	"github.com/hallmark-dev/hallmark/tlog/format"
)

// Rekor v2 entries carry certificates as base64 DER, about 1.5 KB of text
// each. Decoding all of it dominated a monitor's catch-up, while the
// identity is in two extensions: b64DER decodes only the element headers
// on the way to them (base64 is random-access in 4-character groups), and
// walks the same elements as CertificateIdentity does on plain DER.

// b64DER reads a DER value through its standard base64 encoding.
type b64DER struct {
	src     []byte // base64 text, with padding
	n       int    // decoded length
	scratch []byte
}

func newB64DER(src []byte) (*b64DER, error) {
	if len(src) == 0 || len(src)%4 != 0 {
		return nil, errNotCertificate
	}
	n := len(src) / 4 * 3
	if src[len(src)-1] == '=' {
		n--
		if src[len(src)-2] == '=' {
			n--
		}
	}
	return &b64DER{src: src, n: n}, nil
}

// read returns the decoded bytes [off, off+n).
func (r *b64DER) read(off, n int) ([]byte, error) {
	if off < 0 || n < 0 || off+n > r.n {
		return nil, errNotCertificate
	}
	start, end := off/3*4, (off+n+2)/3*4
	if cap(r.scratch) < (end-start)/4*3 {
		r.scratch = make([]byte, (end-start)/4*3)
	}
	got, err := base64.StdEncoding.Decode(r.scratch[:cap(r.scratch)], r.src[start:end])
	if err != nil || got < off%3+n {
		return nil, errNotCertificate
	}
	return r.scratch[off%3 : off%3+n], nil
}

// peek returns the tag at off, or 0 at end.
func (r *b64DER) peek(off, end int) byte {
	if off >= end {
		return 0
	}
	b, err := r.read(off, 1)
	if err != nil {
		return 0
	}
	return b[0]
}

// element reads the DER header at off, which must lie before end: the tag,
// and where the content starts and ends. Lengths must be minimal (DER).
func (r *b64DER) element(off, end int) (tag byte, start, stop int, err error) {
	h, err := r.read(off, min(5, end-off))
	if err != nil || len(h) < 2 || h[0]&0x1f == 0x1f {
		return 0, 0, 0, errNotCertificate
	}
	tag, l := h[0], int(h[1])
	start = off + 2
	if l >= 0x80 {
		nb := l & 0x7f
		if nb == 0 || nb > 3 || len(h) < 2+nb || h[2] == 0 {
			return 0, 0, 0, errNotCertificate
		}
		l = 0
		for _, b := range h[2 : 2+nb] {
			l = l<<8 | int(b)
		}
		if l < 0x80 {
			return 0, 0, 0, errNotCertificate
		}
		start += nb
	}
	if start+l > end {
		return 0, 0, 0, errNotCertificate
	}
	return tag, start, start + l, nil
}

// DER tags the walk meets.
const (
	tagSequence    = 0x30
	tagInteger     = 0x02
	tagBoolean     = 0x01
	tagOctetString = 0x04
	tagOID         = 0x06
	tagVersion     = 0xa0 // [0] EXPLICIT
	tagIssuerUID   = 0x81 // [1] IMPLICIT
	tagSubjectUID  = 0x82 // [2] IMPLICIT
	tagExtensions  = 0xa3 // [3] EXPLICIT
)

// certificateIdentityB64 is CertificateIdentity on base64-encoded DER.
func certificateIdentityB64(src []byte) (Identity, error) {
	var id Identity
	r, err := newB64DER(src)
	if err != nil {
		return id, err
	}
	expect := func(off, end int, want byte) (int, int, error) {
		tag, s, e, err := r.element(off, end)
		if err != nil || tag != want {
			return 0, 0, errNotCertificate
		}
		return s, e, nil
	}
	certStart, certEnd, err := expect(0, r.n, tagSequence)
	if err != nil {
		return id, err
	}
	p, tbsEnd, err := expect(certStart, certEnd, tagSequence)
	if err != nil {
		return id, err
	}
	// version, serial, signature algorithm, issuer, validity, subject, key.
	for _, want := range []byte{tagVersion, tagInteger, tagSequence, tagSequence, tagSequence, tagSequence, tagSequence} {
		tag, _, e, err := r.element(p, tbsEnd)
		if err != nil {
			return id, err
		}
		if tag != want {
			if want == tagVersion {
				continue // optional
			}
			return id, errNotCertificate
		}
		p = e
	}
	for _, optional := range []byte{tagIssuerUID, tagSubjectUID} {
		if r.peek(p, tbsEnd) == optional {
			if _, _, e, err := r.element(p, tbsEnd); err != nil {
				return id, err
			} else {
				p = e
			}
		}
	}
	if r.peek(p, tbsEnd) != tagExtensions {
		return id, nil
	}
	_, es, ee, err := r.element(p, tbsEnd)
	if err != nil {
		return id, err
	}
	p, extsEnd, err := expect(es, ee, tagSequence)
	if err != nil {
		return id, err
	}
	var issuerV1 string
	for p < extsEnd {
		s, e, err := expect(p, extsEnd, tagSequence)
		if err != nil {
			return id, fmt.Errorf("%w: malformed extension", errNotCertificate)
		}
		p = e
		os, oe, err := expect(s, e, tagOID)
		if err != nil {
			return id, fmt.Errorf("%w: malformed extension", errNotCertificate)
		}
		oid, err := r.read(os, oe-os)
		if err != nil {
			return id, err
		}
		which := string(oid)
		q := oe
		if r.peek(q, e) == tagBoolean {
			if _, _, q, err = r.element(q, e); err != nil {
				return id, fmt.Errorf("%w: malformed extension", errNotCertificate)
			}
		}
		vs, ve, err := expect(q, e, tagOctetString)
		if err != nil {
			return id, fmt.Errorf("%w: malformed extension", errNotCertificate)
		}
		if which != oidSAN && which != oidIssuerV1 && which != oidIssuerV2 {
			continue // its value is never decoded
		}
		value, err := r.read(vs, ve-vs)
		if err != nil {
			return id, err
		}
		if err := id.addExtension(which, value, &issuerV1); err != nil {
			return id, err
		}
	}
	if id.Issuer == "" {
		id.Issuer = issuerV1
	}
	return id, nil
}

// EntryIdentities returns the identities of the certificates that verify an
// entry's signatures (see EntryCertificates), reading Rekor v2 certificates
// without decoding them whole.
func EntryIdentities(body []byte) ([]Identity, error) {
	if !isV2Body(body) {
		certs, err := EntryCertificates(body)
		if err != nil {
			return nil, err
		}
		out := make([]Identity, 0, len(certs))
		for _, c := range certs {
			id, err := CertificateIdentity(c)
			if err != nil {
				return nil, err
			}
			id.der = c
			out = append(out, id)
		}
		return out, nil
	}
	var out []Identity
	for {
		i := bytes.Index(body, v2CertPrefix)
		if i < 0 {
			return out, nil
		}
		body = body[i+len(v2CertPrefix):]
		end := bytes.IndexByte(body, '"')
		if end < 0 {
			return nil, errors.New("unterminated x509Certificate in entry")
		}
		id, err := certificateIdentityB64(body[:end])
		if err != nil {
			return nil, err
		}
		id.b64 = body[:end]
		out = append(out, id)
		body = body[end:]
	}
}

// ctEntryIdentities returns the identity of the certificate (or
// precertificate) of a static-ct-api TileLeaf.
func ctEntryIdentities(entry []byte) ([]Identity, error) {
	e, err := format.ParseTileLeaf(entry)
	if err != nil {
		return nil, err
	}
	der := e.Certificate
	if e.IsPrecert {
		der = e.PreCertificate
	}
	id, err := CertificateIdentity(der)
	if err != nil {
		return nil, err
	}
	id.der = der
	return []Identity{id}, nil
}

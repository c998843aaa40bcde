package clientconfig

import (
	"crypto"
	"errors"
	"fmt"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/hallmark-dev/hallmark/ca"

	"github.com/hallmark-dev/hallmark/tlog/format"
)

// A Spec describes one log, authority or service as an operator writes it
// on the command line: key=value pairs separated by commas, such as
// "url=https://rekor.example.com,public-key=rekor.pub,api-version=2".
// Files it names (public-key=, chain=) are read when it is turned into a
// Log or an Authority.
type Spec map[string]string

// ParseSpec parses "key=value,key=value".
func ParseSpec(s string) (Spec, error) {
	m := Spec{}
	for _, kv := range strings.Split(s, ",") {
		k, v, ok := strings.Cut(kv, "=")
		if !ok {
			return nil, fmt.Errorf("%q: want key=value pairs separated by commas", s)
		}
		m[k] = v
	}
	return m, nil
}

// APIVersion is the spec's api-version= (1 or 2), 1 if absent.
func (m Spec) APIVersion() (uint32, error) {
	v := m["api-version"]
	if v == "" {
		return 1, nil
	}
	n, err := strconv.ParseUint(v, 10, 32)
	if err != nil || (n != 1 && n != 2) {
		return 0, fmt.Errorf("api-version=%q: want 1 or 2", v)
	}
	return uint32(n), nil
}

func (m Spec) start(def time.Time) (time.Time, error) {
	s := m["start"]
	if s == "" {
		return def, nil
	}
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return t, fmt.Errorf("start=%q: %w", s, err)
	}
	return t, nil
}

// A KeyIDFunc computes a log's ID from the host name of its URL (its
// checkpoint origin) and its key: for Rekor v2 logs, the C2SP note key
// hash (tlog/rekorv2.KeyHash), which this package leaves to its caller so
// that hallmark-ca, which links it, does not link the Rekor v2 personality.
type KeyIDFunc func(origin string, pub crypto.PublicKey) ([]byte, error)

// Log reads a log spec: url= and public-key= (a PEM file) are required,
// start= (RFC 3339) defaults to defaultStart. With keyID (Rekor v2 logs)
// the log is identified by keyID(the URL's host name, key); without, by
// SHA-256 of the key (Rekor v1 and CT logs).
func (m Spec) Log(defaultStart time.Time, keyID KeyIDFunc) (Log, error) {
	if m["url"] == "" || m["public-key"] == "" {
		return Log{}, errors.New("a log needs url= and public-key=")
	}
	pub, err := readPublicKey(m["public-key"])
	if err != nil {
		return Log{}, err
	}
	l := Log{BaseURL: m["url"], PublicKey: pub}
	if l.Start, err = m.start(defaultStart); err != nil {
		return l, err
	}
	if keyID != nil {
		u, err := url.Parse(m["url"])
		if err != nil {
			return l, fmt.Errorf("url=%q: %w", m["url"], err)
		}
		if l.KeyID, err = keyID(u.Hostname(), pub); err != nil {
			return l, err
		}
	}
	return l, nil
}

// Authority reads a CA or TSA spec: uri= and chain= (a PEM file, issuer
// first, root last) are required; start= defaults to defaultStart and
// end= (RFC 3339) is open if absent.
func (m Spec) Authority(defaultStart time.Time) (Authority, error) {
	if m["uri"] == "" || m["chain"] == "" {
		return Authority{}, errors.New("an authority needs uri= and chain=")
	}
	chain, err := ca.LoadChain(m["chain"])
	if err != nil {
		return Authority{}, err
	}
	s, err := m.start(defaultStart)
	if err != nil {
		return Authority{}, err
	}
	a := Authority{URI: m["uri"], Chain: chain, Start: s}
	if e := m["end"]; e != "" {
		if a.End, err = time.Parse(time.RFC3339, e); err != nil {
			return a, fmt.Errorf("end=%q: %w", e, err)
		}
	}
	return a, nil
}

// Service reads a signing-config service spec: url= and api-version=.
func (m Spec) Service() (Service, error) {
	if m["url"] == "" {
		return Service{}, errors.New("a service needs url=")
	}
	v, err := m.APIVersion()
	if err != nil {
		return Service{}, err
	}
	return Service{URL: m["url"], APIVersion: v}, nil
}

// TrustedRootSpecs is a deployment as trust-root's flags describe it.
type TrustedRootSpecs struct {
	Rekor, CT, CAs, TSAs []Spec
	// Start is the validity start of entries without start=.
	Start time.Time
	// RekorV2KeyID identifies Rekor v2 logs (api-version=2); it is
	// required if there are any.
	RekorV2KeyID KeyIDFunc
}

// TrustedRootFromSpecs reads the files the specs name and builds the
// trusted root's parameters. Errors name the flag (--rekor, --ct, --ca,
// --tsa) of the spec at fault.
func TrustedRootFromSpecs(s TrustedRootSpecs) (TrustedRootParams, error) {
	var p TrustedRootParams
	for _, m := range s.Rekor {
		v, err := m.APIVersion()
		if err != nil {
			return p, fmt.Errorf("--rekor: %w", err)
		}
		var keyID KeyIDFunc
		if v == 2 {
			if keyID = s.RekorV2KeyID; keyID == nil {
				return p, errors.New("--rekor: api-version=2 needs a Rekor v2 key ID function")
			}
		}
		l, err := m.Log(s.Start, keyID)
		if err != nil {
			return p, fmt.Errorf("--rekor: %w", err)
		}
		p.Tlogs = append(p.Tlogs, l)
	}
	for _, m := range s.CT {
		l, err := m.Log(s.Start, nil)
		if err != nil {
			return p, fmt.Errorf("--ct: %w", err)
		}
		p.CTLogs = append(p.CTLogs, l)
	}
	for _, m := range s.CAs {
		a, err := m.Authority(s.Start)
		if err != nil {
			return p, fmt.Errorf("--ca: %w", err)
		}
		p.CertificateAuthorities = append(p.CertificateAuthorities, a)
	}
	for _, m := range s.TSAs {
		a, err := m.Authority(s.Start)
		if err != nil {
			return p, fmt.Errorf("--tsa: %w", err)
		}
		p.TimestampAuthorities = append(p.TimestampAuthorities, a)
	}
	return p, nil
}

// readPublicKey reads a PEM "PUBLIC KEY" (PKIX) file.
func readPublicKey(path string) (crypto.PublicKey, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	pub, err := format.ParsePublicKeyPEM(raw)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return pub, nil
}

package tufrepo

import (
	"bytes"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"sort"
	"time"

	protocommon "github.com/sigstore/protobuf-specs/gen/pb-go/common/v1"
	prototrustroot "github.com/sigstore/protobuf-specs/gen/pb-go/trustroot/v1"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/hallmark-dev/hallmark/trust/clientconfig"
)

// The target names sigstore-go (and so cosign v2.6+ and v3) looks up.
const (
	TrustedRootTarget   = "trusted_root.json"
	SigningConfigTarget = "signing_config.v0.2.json"
)

// Content is what the repository distributes: the trusted root and,
// optionally, the signing config, as the files `hallmark trust-root` and
// `hallmark signing-config` (or `hallmark dev`) write.
type Content struct {
	TrustedRoot   []byte
	SigningConfig []byte // nil: no signing_config.v0.2.json target
}

// Target is one target file: its name in targets metadata, its bytes and
// its custom metadata (nil for none).
type Target struct {
	Name   string
	Data   []byte
	Custom json.RawMessage
}

// legacyCustom is the custom metadata cosign v2's legacy TUF client
// (sigstore/sigstore pkg/tuf) selects individual keys and chains by.
type legacyCustom struct {
	Sigstore struct {
		Usage  string `json:"usage"`  // Fulcio, Rekor, CTFE or TSA
		Status string `json:"status"` // Active or Expired
		URI    string `json:"uri,omitempty"`
	} `json:"sigstore"`
}

// Targets checks c and derives every target file of the repository from
// it: trusted_root.json, signing_config.v0.2.json and the legacy targets
// that clients without trusted_root.json support read by their custom
// metadata (one per CA chain, Rekor v1 log key, CT log key, and the active
// TSA chain). A log or authority whose validity ended before now is
// published with status Expired. The result is sorted by name.
func Targets(c Content, now time.Time) ([]Target, error) {
	var tr prototrustroot.TrustedRoot
	if err := protojson.Unmarshal(c.TrustedRoot, &tr); err != nil {
		return nil, fmt.Errorf("trusted root: %w", err)
	}
	if tr.GetMediaType() != clientconfig.TrustedRootMediaType {
		return nil, fmt.Errorf("trusted root: media type %q, want %q", tr.GetMediaType(), clientconfig.TrustedRootMediaType)
	}
	if len(tr.GetCertificateAuthorities()) == 0 && len(tr.GetTlogs()) == 0 {
		return nil, errors.New("trusted root lists no certificate authority and no transparency log")
	}
	out := []Target{{Name: TrustedRootTarget, Data: c.TrustedRoot}}
	if c.SigningConfig != nil {
		var sc prototrustroot.SigningConfig
		if err := protojson.Unmarshal(c.SigningConfig, &sc); err != nil {
			return nil, fmt.Errorf("signing config: %w", err)
		}
		if sc.GetMediaType() != clientconfig.SigningConfigMediaType {
			return nil, fmt.Errorf("signing config: media type %q, want %q (the %s target is v0.2)",
				sc.GetMediaType(), clientconfig.SigningConfigMediaType, SigningConfigTarget)
		}
		out = append(out, Target{Name: SigningConfigTarget, Data: c.SigningConfig})
	}

	add := func(prefix, ext, usage, uri string, id []byte, data []byte, end *time.Time) error {
		var m legacyCustom
		m.Sigstore.Usage, m.Sigstore.Status, m.Sigstore.URI = usage, "Active", uri
		if end != nil && !end.After(now) {
			m.Sigstore.Status = "Expired"
		}
		custom, err := json.Marshal(m)
		if err != nil {
			return err
		}
		out = append(out, Target{Name: fmt.Sprintf("%s-%s%s", prefix, hex.EncodeToString(id[:4]), ext), Data: data, Custom: custom})
		return nil
	}
	for i, ca := range tr.GetCertificateAuthorities() {
		chain, err := chainPEM(ca.GetCertChain())
		if err != nil {
			return nil, fmt.Errorf("certificate authority %d: %w", i, err)
		}
		// Named by the issuing certificate, not the root: after an
		// intermediate rotation two authorities share their root.
		fp := sha256.Sum256(ca.GetCertChain().GetCertificates()[0].GetRawBytes())
		if err := add("fulcio", ".crt.pem", "Fulcio", ca.GetUri(), fp[:], chain, endOf(ca.GetValidFor())); err != nil {
			return nil, err
		}
	}
	// Legacy clients know Rekor v1 logs only, whose log ID is the SHA-256
	// of the DER public key; a Rekor v2 log's ID is a note key hash.
	for i, l := range tr.GetTlogs() {
		der := l.GetPublicKey().GetRawBytes()
		if len(der) == 0 {
			return nil, fmt.Errorf("transparency log %d (%s): no public key", i, l.GetBaseUrl())
		}
		if id := sha256.Sum256(der); !bytes.Equal(id[:], l.GetLogId().GetKeyId()) {
			continue
		}
		if err := addKey(add, "rekor", "Rekor", l); err != nil {
			return nil, fmt.Errorf("transparency log %d: %w", i, err)
		}
	}
	for i, l := range tr.GetCtlogs() {
		if err := addKey(add, "ctfe", "CTFE", l); err != nil {
			return nil, fmt.Errorf("CT log %d: %w", i, err)
		}
	}
	// cosign v2 concatenates every TSA target and wants exactly one leaf:
	// publish the chain of one authority, the newest still valid.
	var tsa *prototrustroot.CertificateAuthority
	for _, a := range tr.GetTimestampAuthorities() {
		if end := endOf(a.GetValidFor()); end != nil && !end.After(now) {
			continue
		}
		if tsa == nil || a.GetValidFor().GetStart().AsTime().After(tsa.GetValidFor().GetStart().AsTime()) {
			tsa = a
		}
	}
	if tsa != nil {
		chain, err := chainPEM(tsa.GetCertChain())
		if err != nil {
			return nil, fmt.Errorf("timestamp authority %s: %w", tsa.GetUri(), err)
		}
		certs := tsa.GetCertChain().GetCertificates()
		fp := sha256.Sum256(certs[len(certs)-1].GetRawBytes())
		if err := add("tsa", ".crt.pem", "TSA", tsa.GetUri(), fp[:], chain, nil); err != nil {
			return nil, err
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	for i := 1; i < len(out); i++ {
		if out[i].Name == out[i-1].Name {
			return nil, fmt.Errorf("two targets named %s: the trusted root lists the same key or chain twice", out[i].Name)
		}
	}
	return out, nil
}

func addKey(add func(prefix, ext, usage, uri string, id, data []byte, end *time.Time) error, prefix, usage string, l *prototrustroot.TransparencyLogInstance) error {
	der := l.GetPublicKey().GetRawBytes()
	if _, err := x509.ParsePKIXPublicKey(der); err != nil {
		return fmt.Errorf("%s: public key: %w", l.GetBaseUrl(), err)
	}
	id := l.GetLogId().GetKeyId()
	if len(id) < 4 {
		return fmt.Errorf("%s: log ID of %d bytes", l.GetBaseUrl(), len(id))
	}
	data := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
	end := endOf(l.GetPublicKey().GetValidFor())
	return add(prefix, ".pub", usage, l.GetBaseUrl(), id, data, end)
}

// chainPEM checks that every certificate of a chain parses and returns
// them as PEM, in the trusted root's order (issuing certificate first).
func chainPEM(chain *protocommon.X509CertificateChain) ([]byte, error) {
	certs := chain.GetCertificates()
	if len(certs) == 0 {
		return nil, errors.New("empty certificate chain")
	}
	var b bytes.Buffer
	for i, c := range certs {
		if _, err := x509.ParseCertificate(c.GetRawBytes()); err != nil {
			return nil, fmt.Errorf("certificate %d: %w", i, err)
		}
		pem.Encode(&b, &pem.Block{Type: "CERTIFICATE", Bytes: c.GetRawBytes()})
	}
	return b.Bytes(), nil
}

// endOf returns the end of a validity range, nil when it has none.
func endOf(v *protocommon.TimeRange) *time.Time {
	if v.GetEnd() == nil {
		return nil
	}
	t := v.GetEnd().AsTime()
	return &t
}

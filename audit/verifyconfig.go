package audit

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"

	prototrustroot "github.com/sigstore/protobuf-specs/gen/pb-go/trustroot/v1"
	"golang.org/x/mod/sumdb/note"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	"github.com/hallmark-dev/hallmark/tlog/format"
)

// A ConfigCheck is one check VerifyConfig made: What names the service
// ("CA https://…", "Rekor v2 https://…"); Err is nil if it passed.
type ConfigCheck struct {
	What string
	Err  error
}

// VerifyConfig checks a trusted root and a signing config against the
// running services they name, as `hallmark verify-config` does: every
// service in the signing config answers, and the keys and chains it
// serves are the ones the trusted root trusts. In order:
//
//   - each CA: one certificate of its /api/v2/trustBundle is in the
//     trusted root's certificateAuthorities;
//   - each Rekor log: the trusted root has a log at its URL, and v1 serves
//     that public key at /api/v1/log/publicKey, v2 a checkpoint that
//     verifies with it under the URL's host name;
//   - each TSA: one certificate of its /certchain is in the trusted root's
//     timestampAuthorities;
//   - each OIDC issuer serves its discovery document;
//   - each CT log of the trusted root serves a checkpoint that verifies
//     with its key.
//
// Responses are read up to 4 MiB. It returns every check, passed or not.
func VerifyConfig(ctx context.Context, client *http.Client, tr *prototrustroot.TrustedRoot, sc *prototrustroot.SigningConfig) []ConfigCheck {
	c := &configChecker{ctx: ctx, client: client, tr: tr}
	for _, s := range sc.GetCaUrls() {
		c.check("CA "+s.GetUrl(), func() error { return c.ca(s.GetUrl()) })
	}
	for _, s := range sc.GetRekorTlogUrls() {
		c.check(fmt.Sprintf("Rekor v%d %s", s.GetMajorApiVersion(), s.GetUrl()), func() error { return c.rekor(s.GetUrl(), s.GetMajorApiVersion()) })
	}
	for _, s := range sc.GetTsaUrls() {
		c.check("TSA "+s.GetUrl(), func() error { return c.tsa(s.GetUrl()) })
	}
	for _, s := range sc.GetOidcUrls() {
		c.check("OIDC issuer "+s.GetUrl(), func() error {
			_, err := c.get(strings.TrimSuffix(s.GetUrl(), "/") + "/.well-known/openid-configuration")
			return err
		})
	}
	for _, l := range tr.GetCtlogs() {
		c.check("CT log "+l.GetBaseUrl(), func() error { return c.ctlog(l) })
	}
	return c.checks
}

// ReadClientConfig reads a trusted root and a signing config (protojson).
func ReadClientConfig(trustedRoot, signingConfig string) (*prototrustroot.TrustedRoot, *prototrustroot.SigningConfig, error) {
	var tr prototrustroot.TrustedRoot
	var sc prototrustroot.SigningConfig
	if err := readProtoJSON(trustedRoot, &tr); err != nil {
		return nil, nil, err
	}
	if err := readProtoJSON(signingConfig, &sc); err != nil {
		return nil, nil, err
	}
	return &tr, &sc, nil
}

func readProtoJSON(path string, m proto.Message) error {
	raw, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	if err := protojson.Unmarshal(raw, m); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return nil
}

type configChecker struct {
	ctx    context.Context
	client *http.Client
	tr     *prototrustroot.TrustedRoot
	checks []ConfigCheck
}

func (c *configChecker) check(what string, f func() error) {
	c.checks = append(c.checks, ConfigCheck{What: what, Err: f()})
}

func (c *configChecker) get(u string) ([]byte, error) {
	req, err := http.NewRequestWithContext(c.ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, err
	}
	resp, err := c.client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: %s", u, resp.Status)
	}
	return b, nil
}

// trustedDER reports whether der is a certificate in one of the chains.
func trustedDER(cas []*prototrustroot.CertificateAuthority, der []byte) bool {
	for _, a := range cas {
		for _, c := range a.GetCertChain().GetCertificates() {
			if bytes.Equal(c.GetRawBytes(), der) {
				return true
			}
		}
	}
	return false
}

func (c *configChecker) ca(base string) error {
	b, err := c.get(strings.TrimSuffix(base, "/") + "/api/v2/trustBundle")
	if err != nil {
		return err
	}
	var bundle struct {
		Chains []struct {
			Certificates []string `json:"certificates"`
		} `json:"chains"`
	}
	if err := json.Unmarshal(b, &bundle); err != nil {
		return fmt.Errorf("trust bundle: %w", err)
	}
	for _, ch := range bundle.Chains {
		for _, p := range ch.Certificates {
			if blk, _, err := format.DecodePEM([]byte(p)); err == nil && trustedDER(c.tr.GetCertificateAuthorities(), blk.Bytes) {
				return nil
			}
		}
	}
	return errors.New("none of the CA's certificates is in the trusted root's certificateAuthorities")
}

// trustedLog finds the trusted-root tlog whose base URL is u.
func (c *configChecker) trustedLog(logs []*prototrustroot.TransparencyLogInstance, u string) (*prototrustroot.TransparencyLogInstance, error) {
	for _, l := range logs {
		if strings.TrimSuffix(l.GetBaseUrl(), "/") == strings.TrimSuffix(u, "/") {
			return l, nil
		}
	}
	return nil, fmt.Errorf("the trusted root has no log with baseUrl %s", u)
}

func (c *configChecker) rekor(u string, version uint32) error {
	l, err := c.trustedLog(c.tr.GetTlogs(), u)
	if err != nil {
		return err
	}
	pub, err := x509.ParsePKIXPublicKey(l.GetPublicKey().GetRawBytes())
	if err != nil {
		return err
	}
	if version == 1 {
		b, err := c.get(strings.TrimSuffix(u, "/") + "/api/v1/log/publicKey")
		if err != nil {
			return err
		}
		blk, _, err := format.DecodePEM(b)
		if err != nil || !bytes.Equal(blk.Bytes, l.GetPublicKey().GetRawBytes()) {
			return errors.New("the log serves another public key than the trusted root holds")
		}
		return nil
	}
	pu, err := url.Parse(u)
	if err != nil {
		return err
	}
	v, err := format.NewNoteVerifier(pu.Hostname(), pub)
	if err != nil {
		return err
	}
	return c.checkpoint(strings.TrimSuffix(u, "/")+"/checkpoint", v)
}

func (c *configChecker) checkpoint(u string, v note.Verifier) error {
	b, err := c.get(u)
	if err != nil {
		return err
	}
	if _, err := note.Open(b, note.VerifierList(v)); err != nil {
		return fmt.Errorf("checkpoint does not verify with the trusted key: %w", err)
	}
	return nil
}

func (c *configChecker) ctlog(l *prototrustroot.TransparencyLogInstance) error {
	pub, err := x509.ParsePKIXPublicKey(l.GetPublicKey().GetRawBytes())
	if err != nil {
		return err
	}
	pu, err := url.Parse(l.GetBaseUrl())
	if err != nil {
		return err
	}
	v, err := format.NewRFC6962NoteVerifier(pu.Host+strings.TrimSuffix(pu.Path, "/"), pub)
	if err != nil {
		return err
	}
	return c.checkpoint(strings.TrimSuffix(l.GetBaseUrl(), "/")+"/checkpoint", v)
}

func (c *configChecker) tsa(u string) error {
	b, err := c.get(strings.TrimSuffix(u, "/") + "/certchain")
	if err != nil {
		return err
	}
	for rest := b; ; {
		blk, r, err := format.DecodePEM(rest)
		if err != nil {
			break
		}
		rest = r
		if trustedDER(c.tr.GetTimestampAuthorities(), blk.Bytes) {
			return nil
		}
	}
	return errors.New("none of the TSA's certificates is in the trusted root's timestampAuthorities")
}

package ca

import (
	"bytes"
	"context"
	"crypto"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/hallmark-dev/hallmark/tlog/format"
)

// DetachedSCTProvider obtains a detached SCT for an issued certificate:
// Fulcio's mode for CT setups that do not embed. CertSCT receives the
// certificate followed by the CA chain and returns the JSON RFC 6962
// add-chain response (what Fulcio returns as the detached SCT).
type DetachedSCTProvider interface {
	CertSCT(ctx context.Context, chain [][]byte) ([]byte, error)
}

// CTLogClient submits to any RFC 6962 CT log over HTTP: add-pre-chain for
// embedded SCTs, add-chain for detached ones. Every SCT is verified against
// the log's public key before it is returned, so a misconfigured or faulty
// log fails issuance instead of producing certificates clients reject.
type CTLogClient struct {
	url    string // submission prefix, without a trailing slash
	pub    crypto.PublicKey
	client *http.Client

	// The last issuer's DER and the SHA-256 of its public key, which each
	// SCT check needs: a CA submits under one issuer.
	mu          sync.Mutex
	lastIssuer  []byte
	issuerKeyID [32]byte
}

var (
	_ SCTProvider         = (*CTLogClient)(nil)
	_ DetachedSCTProvider = (*CTLogClient)(nil)
)

// maxCTResponse bounds a CT log's answer; an SCT response is ~300 bytes.
const maxCTResponse = 64 << 10

// NewCTLogClient returns a client for the CT log at url (its submission
// prefix, e.g. https://ct.example.com/2026) whose SCTs pub signs (ECDSA
// P-256). timeout bounds each submission; 0 means 30 s, as Fulcio.
func NewCTLogClient(url string, pub crypto.PublicKey, timeout time.Duration) (*CTLogClient, error) {
	if _, err := format.LogID(pub); err != nil {
		return nil, err
	}
	if timeout == 0 {
		timeout = 30 * time.Second
	}
	// Every issuance waits for a CT batch to commit, so at 1,000
	// certificates/s and a 50 ms batch about fifty submissions are in
	// flight at once. net/http's default keeps only two idle connections
	// per host: the others would be closed after each response and
	// re-dialled, leaving thousands of sockets in TIME_WAIT.
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConns, tr.MaxIdleConnsPerHost = maxCTConns, maxCTConns
	return &CTLogClient{url: strings.TrimSuffix(url, "/"), pub: pub, client: &http.Client{Timeout: timeout, Transport: tr}}, nil
}

// maxCTConns bounds the idle keep-alive connections to the CT log: the
// in-flight submissions at the CA's default max_in_flight (256).
const maxCTConns = 256

// PrecertSCT implements SCTProvider with add-pre-chain.
func (c *CTLogClient) PrecertSCT(ctx context.Context, chain [][]byte) ([]byte, error) {
	if len(chain) < 2 {
		return nil, fmt.Errorf("a precertificate chain needs the issuer")
	}
	sct, err := c.submit(ctx, "add-pre-chain", chain)
	if err != nil {
		return nil, err
	}
	tbs, err := format.PrecertTBS(chain[0])
	if err != nil {
		return nil, err
	}
	keyHash, err := c.issuerKeyHash(chain[1])
	if err != nil {
		return nil, err
	}
	e := &format.Entry{IsPrecert: true, Certificate: tbs, IssuerKeyHash: keyHash, PreCertificate: chain[0]}
	if err := format.VerifySCT(c.pub, sct, e); err != nil {
		return nil, fmt.Errorf("CT log %s returned an invalid SCT: %w", c.url, err)
	}
	return sct.Marshal(), nil
}

// issuerKeyHash returns the SHA-256 of the issuer's SubjectPublicKeyInfo,
// parsing a new issuer only.
func (c *CTLogClient) issuerKeyHash(issuer []byte) ([32]byte, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if bytes.Equal(issuer, c.lastIssuer) {
		return c.issuerKeyID, nil
	}
	ic, err := x509.ParseCertificate(issuer)
	if err != nil {
		return [32]byte{}, fmt.Errorf("couldn't parse the issuer: %w", err)
	}
	c.lastIssuer, c.issuerKeyID = bytes.Clone(issuer), sha256.Sum256(ic.RawSubjectPublicKeyInfo)
	return c.issuerKeyID, nil
}

// CertSCT implements DetachedSCTProvider with add-chain.
func (c *CTLogClient) CertSCT(ctx context.Context, chain [][]byte) ([]byte, error) {
	sct, err := c.submit(ctx, "add-chain", chain)
	if err != nil {
		return nil, err
	}
	if err := format.VerifySCT(c.pub, sct, &format.Entry{Certificate: chain[0]}); err != nil {
		return nil, fmt.Errorf("CT log %s returned an invalid SCT: %w", c.url, err)
	}
	return json.Marshal(sct.Response())
}

func (c *CTLogClient) submit(ctx context.Context, endpoint string, chain [][]byte) (*format.SCT, error) {
	req := struct {
		Chain []string `json:"chain"`
	}{}
	for _, der := range chain {
		req.Chain = append(req.Chain, base64.StdEncoding.EncodeToString(der))
	}
	body, err := json.Marshal(req)
	if err != nil {
		return nil, err
	}
	u := c.url + "/ct/v1/" + endpoint
	hr, err := http.NewRequestWithContext(ctx, http.MethodPost, u, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	hr.Header.Set("Content-Type", "application/json")
	resp, err := c.client.Do(hr)
	if err != nil {
		return nil, fmt.Errorf("CT log %s: %w", u, err)
	}
	defer resp.Body.Close()
	rb, err := io.ReadAll(io.LimitReader(resp.Body, maxCTResponse))
	if err != nil {
		return nil, fmt.Errorf("CT log %s: reading response: %w", u, err)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("CT log %s: HTTP %d: %s", u, resp.StatusCode, bytes.TrimSpace(rb[:min(len(rb), 512)]))
	}
	sct, err := format.ParseAddChainResponse(rb)
	if err != nil {
		return nil, fmt.Errorf("CT log %s: %w", u, err)
	}
	return sct, nil
}

// CTSubmitter is a CT log the CA can submit to without HTTP: the CT
// personality's *ct.Log implements it. AddChain logs the chain (a
// precertificate's if precert) and returns the SCT, verified by the log.
// Declaring it here keeps package ca free of the log engine.
type CTSubmitter interface {
	AddChain(ctx context.Context, chain [][]byte, precert bool) (*format.SCT, error)
}

// InProcessCTLog is the shortcut for a CA and a CT log in one process
// (`hallmark dev`): submissions go straight to the log, which verifies
// every SCT it signs.
type InProcessCTLog struct{ Log CTSubmitter }

var (
	_ SCTProvider         = InProcessCTLog{}
	_ DetachedSCTProvider = InProcessCTLog{}
)

func (l InProcessCTLog) PrecertSCT(ctx context.Context, chain [][]byte) ([]byte, error) {
	sct, err := l.Log.AddChain(ctx, chain, true)
	if err != nil {
		return nil, err
	}
	return sct.Marshal(), nil
}

func (l InProcessCTLog) CertSCT(ctx context.Context, chain [][]byte) ([]byte, error) {
	sct, err := l.Log.AddChain(ctx, chain, false)
	if err != nil {
		return nil, err
	}
	return json.Marshal(sct.Response())
}

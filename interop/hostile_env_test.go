package interop

// The processes and honest clients of the hostile-traffic test
// (hostile_test.go): a hallmark-log serving a Rekor v1 and a Rekor v2 log on
// PostgreSQL, a hallmark-ca with its TSA, honest writers of every kind, and
// a sampler of the servers' resident memory.

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/digitorus/timestamp"
	protocommon "github.com/sigstore/protobuf-specs/gen/pb-go/common/v1"
	protorekor "github.com/sigstore/protobuf-specs/gen/pb-go/rekor/v1"
	rekortilespb "github.com/sigstore/rekor-tiles/v2/pkg/generated/protobuf"
	"golang.org/x/mod/sumdb/note"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/hallmark-dev/hallmark/ca"
	"github.com/hallmark-dev/hallmark/internal/pgtest"
	"github.com/hallmark-dev/hallmark/oidc/devissuer"
	"github.com/hallmark-dev/hallmark/tlog"
	"github.com/hallmark-dev/hallmark/tlog/format"
)

// Extra top-level configuration of the processes under attack, in each
// service's YAML: the default limits, but for an idle limit short enough
// that the idle-connection rows see their connections closed within the
// test.
const (
	hostileLogExtraYAML = "limits: {idle_timeout: 2s}\n"
	hostileCAExtraYAML  = "idle_timeout: 2s\n"
)

// hostileEnv is what the hostile-traffic test attacks: one hallmark-log
// process (Rekor v1 at /rekor, Rekor v2 at /v2, gRPC on) on PostgreSQL and
// one hallmark-ca process (Fulcio REST and gRPC, RFC 3161 TSA) trusting two
// development issuers, GitHub-shaped and email.
type hostileEnv struct {
	log        *logProc
	v1, v2     *servedLog
	v1Verifier note.Verifier // signer name: the Rekor hostname
	v2Verifier note.Verifier

	ca *hostileCA
}

// hostileCA is a hallmark-ca process.
type hostileCA struct {
	dir, config   string
	url, grpcAddr string
	cmd           *exec.Cmd
	exited        chan struct{}
	roots         *x509.CertPool
	inters        *x509.CertPool
	github, email *devissuer.Issuer
	stranger      *devissuer.Issuer // trusted by nobody
}

func startHostileEnv(tb testing.TB) *hostileEnv {
	tb.Helper()
	dbURL := pgtest.URL(tb)
	v1 := v1Spec("/rekor")
	// The last log's lines end the file: top-level keys may follow them.
	v2 := logSpec{Name: "v2", Kind: "rekor-v2", Path: "/v2", Extra: "    batch: {max_age: 10ms}\n" + hostileLogExtraYAML}
	p := startLogServer(tb, dbURL, v1, v2)
	h := &hostileEnv{log: p, v1: p.Logs["rekor"], v2: p.Logs["v2"]}
	raw, err := os.ReadFile(p.config)
	if err != nil {
		tb.Fatal(err)
	}
	cfg, err := tlog.ParseServiceConfig(raw)
	if err != nil {
		tb.Fatal(err)
	}
	if h.v1Verifier, err = format.NewNoteVerifier(cfg.Logs[0].RekorHostname(), h.v1.Key.Public()); err != nil {
		tb.Fatal(err)
	}
	if h.v2Verifier, err = format.NewNoteVerifier(h.v2.Origin, h.v2.Key.Public()); err != nil {
		tb.Fatal(err)
	}
	h.ca = startHostileCA(tb)
	return h
}

const hostileCAPassword = "hostile-interop-password"

func startHostileCA(tb testing.TB) *hostileCA {
	tb.Helper()
	c := &hostileCA{dir: tb.TempDir()}
	for _, p := range []**devissuer.Issuer{&c.github, &c.email, &c.stranger} {
		is, err := devissuer.Start("127.0.0.1:0")
		if err != nil {
			tb.Fatal(err)
		}
		tb.Cleanup(func() { is.Close() })
		*p = is
	}
	d, err := ca.NewDeployment(ca.InitOptions{Organization: "Hallmark hostile interop"})
	if err != nil {
		tb.Fatal(err)
	}
	if err := d.WriteFiles(c.dir, []byte(hostileCAPassword)); err != nil {
		tb.Fatal(err)
	}
	if _, err := ca.InitTSA(c.dir, []byte(hostileCAPassword), ca.TSAInitOptions{Organization: "Hallmark hostile interop"}); err != nil {
		tb.Fatal(err)
	}
	chain := d.Chain()
	c.roots, c.inters = x509.NewCertPool(), x509.NewCertPool()
	c.roots.AddCert(chain[len(chain)-1])
	for _, cert := range chain[:len(chain)-1] {
		c.inters.AddCert(cert)
	}
	httpAddr := freeAddr(tb)
	c.url, c.grpcAddr = "http://"+httpAddr, freeAddr(tb)
	f := func(name string) string { return filepath.Join(c.dir, name) }
	cfg := fmt.Sprintf(`listen: {http: %s, grpc: %s}
signer:
  type: file
  chain_file: %s
  file: {key_file: %s, password_env: HALLMARK_HOSTILE_CA_PASSWORD}
tsa:
  signer:
    type: file
    chain_file: %s
    file: {key_file: %s, password_env: HALLMARK_HOSTILE_CA_PASSWORD}
issuers:
  - url: %s
    type: github-workflow
    policy:
      allow:
        repository_owner: [acme]
  - url: %s
    type: email
%s`, httpAddr, c.grpcAddr, f(ca.ChainFile), f(ca.IntermediateKeyFile), f(ca.TSAChainFile), f(ca.TSAKeyFile),
		c.github.URL(), c.email.URL(), hostileCAExtraYAML)
	c.config = f("hallmark-ca.yaml")
	if err := os.WriteFile(c.config, []byte(cfg), 0o600); err != nil {
		tb.Fatal(err)
	}
	c.cmd = exec.Command(hallmarkBinary(tb, "hallmark-ca"), "serve", "-config", c.config, "-log-level", "warn")
	c.cmd.Env = append(os.Environ(), "HALLMARK_HOSTILE_CA_PASSWORD="+hostileCAPassword)
	logf, err := os.Create(f("server.log"))
	if err != nil {
		tb.Fatal(err)
	}
	c.cmd.Stdout, c.cmd.Stderr = logf, logf
	if err := c.cmd.Start(); err != nil {
		tb.Fatal(err)
	}
	c.exited = make(chan struct{})
	go func() { c.cmd.Wait(); logf.Close(); close(c.exited) }()
	tb.Cleanup(func() { c.cmd.Process.Kill(); <-c.exited })
	for deadline := time.Now().Add(60 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if ok(c.url + "/healthz") {
			return c
		}
		select {
		case <-c.exited:
			out, _ := os.ReadFile(f("server.log"))
			tb.Fatalf("hallmark-ca exited at start:\n%s", out)
		default:
		}
	}
	tb.Fatal("hallmark-ca did not become healthy")
	return nil
}

// --- answers ---

// answer is what one request (or connection) came to: an HTTP status
// ("400"), "503+RA" for a 503 with Retry-After, or for connections and
// transport failures "closed" (the server closed or reset it), "open" (still
// open when the case ended), "timeout" or "error".
type answer string

func statusAnswer(code int, retryAfter string) answer {
	if (code == 503 || code == 429) && retryAfter != "" {
		return answer(strconv.Itoa(code) + "+RA")
	}
	return answer(strconv.Itoa(code))
}

func transportAnswer(err error) answer {
	var ne net.Error
	switch {
	case errors.Is(err, context.DeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout()):
		return "timeout"
	case errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, net.ErrClosed) ||
		strings.Contains(err.Error(), "connection reset") || strings.Contains(err.Error(), "broken pipe") ||
		strings.Contains(err.Error(), "server closed"):
		return "closed"
	}
	return "error"
}

// code is the HTTP status of an answer, or 0.
func (o answer) code() int {
	n, _ := strconv.Atoi(strings.TrimSuffix(string(o), "+RA"))
	return n
}

// pushback reports a 429 or 503 with Retry-After: overload said properly.
func (o answer) pushback() bool { return strings.HasSuffix(string(o), "+RA") }

// tally counts answers.
type tally struct {
	mu sync.Mutex
	n  map[answer]int
	// examples keeps one answer body per unexpected answer, for the log.
	examples map[answer]string
}

func (t *tally) add(o answer, example string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.n == nil {
		t.n, t.examples = map[answer]int{}, map[answer]string{}
	}
	t.n[o]++
	if _, ok := t.examples[o]; !ok && example != "" {
		t.examples[o] = example
	}
}

func (t *tally) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	var parts []string
	for o, n := range t.n {
		parts = append(parts, fmt.Sprintf("%s×%d", o, n))
	}
	slices.Sort(parts)
	return strings.Join(parts, " ")
}

// --- honest clients ---

// honestKind is one kind of honest client.
type honestKind string

const (
	honestV1     honestKind = "rekor-v1 hashedrekord (REST)"
	honestV2REST honestKind = "rekor-v2 CreateEntry (REST)"
	honestV2GRPC honestKind = "rekor-v2 CreateEntry (gRPC)"
	honestCA     honestKind = "fulcio signingCert (REST v2)"
	honestTSA    honestKind = "tsa timestamp"
)

var honestKinds = []honestKind{honestV1, honestV2REST, honestV2GRPC, honestCA, honestTSA}

// honestLoad says how many writers of each kind run, and the least time
// between two requests of one writer (0: back to back).
type honestLoad struct {
	writers map[honestKind]int
	pace    time.Duration
}

// honestRetryFor is how long an honest client keeps retrying a request
// answered with 429 or 503 and Retry-After (gRPC Unavailable) before it
// counts as failed.
const honestRetryFor = 5 * time.Second

// honestPhase is what honest clients saw during one phase.
type honestPhase struct {
	name     string
	elapsed  time.Duration
	ok       map[honestKind]*atomic.Int64
	pushback map[honestKind]*atomic.Int64 // 429/503 with Retry-After, retried
	mu       sync.Mutex
	failures []string
	v1Acks   []ackedAppend
	v2Acks   []ackedAppend
}

func newHonestPhase(name string) *honestPhase {
	ph := &honestPhase{name: name, ok: map[honestKind]*atomic.Int64{}, pushback: map[honestKind]*atomic.Int64{}}
	for _, k := range honestKinds {
		ph.ok[k], ph.pushback[k] = new(atomic.Int64), new(atomic.Int64)
	}
	return ph
}

func (ph *honestPhase) fail(kind honestKind, format string, args ...any) {
	ph.mu.Lock()
	defer ph.mu.Unlock()
	ph.failures = append(ph.failures, fmt.Sprintf("%s: %s", kind, fmt.Sprintf(format, args...)))
}

func (ph *honestPhase) rate(k honestKind) float64 {
	return float64(ph.ok[k].Load()) / ph.elapsed.Seconds()
}

func (ph *honestPhase) total() float64 {
	var n int64
	for _, k := range honestKinds {
		n += ph.ok[k].Load()
	}
	return float64(n) / ph.elapsed.Seconds()
}

// honestClients holds the keys, tokens and connections honest writers use.
type honestClients struct {
	h      *hostileEnv
	http   *http.Client
	grpc   *grpc.ClientConn
	v2grpc rekortilespb.RekorClient
	seq    atomic.Int64
}

func newHonestClients(tb testing.TB, h *hostileEnv) *honestClients {
	conn, err := grpc.NewClient(h.log.grpc, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { conn.Close() })
	return &honestClients{
		h:      h,
		http:   &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 64}},
		grpc:   conn,
		v2grpc: rekortilespb.NewRekorClient(conn),
	}
}

// run runs the load until d has passed and returns what the writers saw.
// Each writer's requests are sequential; a request answered with 429/503 and
// Retry-After is retried (as sigstore clients do) and counted as pushback.
func (hc *honestClients) run(name string, load honestLoad, d time.Duration) *honestPhase {
	ph := newHonestPhase(name)
	start := time.Now()
	end := start.Add(d)
	var wg sync.WaitGroup
	for _, kind := range honestKinds {
		for w := 0; w < load.writers[kind]; w++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				hc.writer(ph, kind, load.pace, end)
			}()
		}
	}
	wg.Wait()
	ph.elapsed = time.Since(start)
	return ph
}

func (hc *honestClients) writer(ph *honestPhase, kind honestKind, pace time.Duration, end time.Time) {
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	var token string
	if kind == honestCA {
		var err error
		if token, err = hc.h.ca.github.Mint(devissuer.GitHubClaims("acme/app", "refs/heads/main")); err != nil {
			ph.fail(kind, "minting a token: %v", err)
			return
		}
	}
	for time.Now().Before(end) {
		next := time.Now().Add(pace)
		first := time.Now()
		for attempt := 0; ; attempt++ {
			o, detail := hc.once(ph, kind, key, token)
			if o == "ok" {
				ph.ok[kind].Add(1)
				break
			}
			// Overload said properly: back off and retry, as sigstore
			// clients do, for up to honestRetryFor.
			if o.pushback() && time.Since(first) < honestRetryFor {
				ph.pushback[kind].Add(1)
				time.Sleep(min(100*time.Millisecond<<attempt, time.Second))
				continue
			}
			ph.fail(kind, "%s %s", o, detail)
			break
		}
		time.Sleep(time.Until(next))
	}
}

// once makes one honest request. It returns "ok", or an answer and detail.
func (hc *honestClients) once(ph *honestPhase, kind honestKind, key *ecdsa.PrivateKey, token string) (answer, string) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	n := hc.seq.Add(1)
	artifact := fmt.Appendf(nil, "honest artifact %d %d", n, time.Now().UnixNano())
	digest := sha256.Sum256(artifact)
	switch kind {
	case honestV1:
		sig, _ := ecdsa.SignASN1(rand.Reader, key, digest[:])
		pubPEM := pemKey(&key.PublicKey)
		body := mustJSON(map[string]any{"apiVersion": "0.0.1", "kind": "hashedrekord", "spec": map[string]any{
			"data":      map[string]any{"hash": map[string]any{"algorithm": "sha256", "value": hex.EncodeToString(digest[:])}},
			"signature": map[string]any{"content": sig, "publicKey": map[string]any{"content": pubPEM}},
		}})
		code, ra, resp, err := hc.post(ctx, hc.h.v1.URL+"/api/v1/log/entries", "application/json", body)
		if err != nil || code != 201 {
			return failedAnswer(code, ra, err), clip(resp)
		}
		var entries map[string]v1LogEntryJSON
		if err := json.Unmarshal(resp, &entries); err != nil || len(entries) != 1 {
			return "bad-answer", clip(resp)
		}
		for _, e := range entries {
			ph.mu.Lock()
			ph.v1Acks = append(ph.v1Acks, ackedAppend{string(e.Body), e.Verification.InclusionProof.LogIndex, e.Verification.InclusionProof.Checkpoint})
			ph.mu.Unlock()
		}
		return "ok", ""
	case honestV2REST, honestV2GRPC:
		der, _ := x509.MarshalPKIXPublicKey(&key.PublicKey)
		sig, _ := ecdsa.SignASN1(rand.Reader, key, digest[:])
		req := hashedRekordRequest(&rekortilespb.HashedRekordRequestV002{Digest: digest[:], Signature: &rekortilespb.Signature{
			Content: sig, Verifier: &rekortilespb.Verifier{KeyDetails: protocommon.PublicKeyDetails_PKIX_ECDSA_P256_SHA_256,
				Verifier: &rekortilespb.Verifier_PublicKey{PublicKey: &rekortilespb.PublicKey{RawBytes: der}}},
		}})
		var tle *protorekor.TransparencyLogEntry
		if kind == honestV2GRPC {
			var err error
			if tle, err = hc.v2grpc.CreateEntry(ctx, req); err != nil {
				return grpcAnswer(err), err.Error()
			}
		} else {
			body, _ := protojson.Marshal(req)
			code, ra, resp, err := hc.post(ctx, hc.h.v2.URL+"/api/v2/log/entries", "application/json", body)
			if err != nil || code != 201 {
				return failedAnswer(code, ra, err), clip(resp)
			}
			tle = &protorekor.TransparencyLogEntry{}
			if err := protojson.Unmarshal(resp, tle); err != nil {
				return "bad-answer", clip(resp)
			}
		}
		ph.mu.Lock()
		ph.v2Acks = append(ph.v2Acks, ackedAppend{string(tle.GetCanonicalizedBody()), uint64(tle.GetLogIndex()), tle.GetInclusionProof().GetCheckpoint().GetEnvelope()})
		ph.mu.Unlock()
		return "ok", ""
	case honestCA:
		code, ra, resp, err := hc.signingCert(ctx, token, key, "repo:acme/app:ref:refs/heads/main")
		if err != nil || code != 200 {
			return failedAnswer(code, ra, err), clip(resp)
		}
		if err := hc.checkChain(resp); err != nil {
			return "bad-answer", err.Error()
		}
		return "ok", ""
	case honestTSA:
		query, err := timestamp.CreateRequest(bytes.NewReader(artifact), &timestamp.RequestOptions{Hash: crypto.SHA256, Certificates: true})
		if err != nil {
			return "error", err.Error()
		}
		code, ra, resp, err := hc.post(ctx, hc.h.ca.url+"/api/v1/timestamp", "application/timestamp-query", query)
		if err != nil || code != 200 {
			return failedAnswer(code, ra, err), clip(resp)
		}
		ts, err := timestamp.ParseResponse(resp)
		if err != nil || !bytes.Equal(ts.HashedMessage, digest[:]) {
			return "bad-answer", fmt.Sprint(err)
		}
		return "ok", ""
	}
	return "error", "unknown kind"
}

func failedAnswer(code int, retryAfter string, err error) answer {
	if err != nil {
		return transportAnswer(err)
	}
	return statusAnswer(code, retryAfter)
}

func grpcAnswer(err error) answer {
	s := err.Error()
	if strings.Contains(s, "code = Unavailable") {
		return "grpc-unavailable+RA" // gRPC's pushback, which clients retry like a 503 with Retry-After
	}
	return answer("grpc:" + s)
}

func clip(b []byte) string {
	if len(b) > 300 {
		return string(b[:300]) + "…"
	}
	return string(b)
}

// post sends one request and returns the status, the Retry-After header and
// up to 1 MiB of the answer.
func (hc *honestClients) post(ctx context.Context, url, contentType string, body []byte) (int, string, []byte, error) {
	return postWith(ctx, hc.http, url, contentType, body, nil)
}

func postWith(ctx context.Context, c *http.Client, url, contentType string, body []byte, hdr map[string]string) (int, string, []byte, error) {
	req, err := http.NewRequestWithContext(ctx, "POST", url, bytes.NewReader(body))
	if err != nil {
		return 0, "", nil, err
	}
	req.Header.Set("Content-Type", contentType)
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := c.Do(req)
	if err != nil {
		return 0, "", nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	return resp.StatusCode, resp.Header.Get("Retry-After"), b, err
}

// signingCert asks for a certificate with Fulcio's v2 REST API, proving
// possession of key by signing challenge (the token's sub, or its email).
func (hc *honestClients) signingCert(ctx context.Context, token string, key *ecdsa.PrivateKey, challenge string) (int, string, []byte, error) {
	return postWith(ctx, hc.http, hc.h.ca.url+"/api/v2/signingCert", "application/json", signingCertBody(token, key, challenge), nil)
}

func signingCertBody(token string, key *ecdsa.PrivateKey, challenge string) []byte {
	d := sha256.Sum256([]byte(challenge))
	proof, _ := ecdsa.SignASN1(rand.Reader, key, d[:])
	return mustJSON(map[string]any{
		"credentials": map[string]any{"oidcIdentityToken": token},
		"publicKeyRequest": map[string]any{
			"publicKey":         map[string]any{"algorithm": "ECDSA", "content": string(pemKey(&key.PublicKey))},
			"proofOfPossession": proof,
		},
	})
}

// checkChain verifies the leaf of a v2 SigningCertificate against the CA.
func (hc *honestClients) checkChain(resp []byte) error {
	type certChain struct {
		Chain struct {
			Certificates []string `json:"certificates"`
		} `json:"chain"`
	}
	var sc struct {
		Detached *certChain `json:"signedCertificateDetachedSct"`
		Embedded *certChain `json:"signedCertificateEmbeddedSct"`
	}
	if err := json.Unmarshal(resp, &sc); err != nil {
		return err
	}
	c := sc.Detached
	if c == nil {
		c = sc.Embedded
	}
	if c == nil || len(c.Chain.Certificates) == 0 {
		return errors.New("no certificate chain in the answer")
	}
	b, _ := pem.Decode([]byte(c.Chain.Certificates[0]))
	if b == nil {
		return errors.New("leaf is not PEM")
	}
	leaf, err := x509.ParseCertificate(b.Bytes)
	if err != nil {
		return err
	}
	_, err = leaf.Verify(x509.VerifyOptions{Roots: hc.h.ca.roots, Intermediates: hc.h.ca.inters,
		KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageCodeSigning}, CurrentTime: leaf.NotBefore.Add(time.Second)})
	return err
}

func pemKey(pub crypto.PublicKey) []byte {
	der, _ := x509.MarshalPKIXPublicKey(pub)
	return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
}

// v1LogEntryJSON is the part of a Rekor v1 LogEntry the test checks.
type v1LogEntryJSON struct {
	Body         []byte `json:"body"`
	LogIndex     uint64 `json:"logIndex"`
	Verification struct {
		InclusionProof struct {
			Checkpoint string `json:"checkpoint"`
			LogIndex   uint64 `json:"logIndex"`
		} `json:"inclusionProof"`
	} `json:"verification"`
}

// --- resident memory ---

// rssSampler reads VmRSS of processes every 100 ms and keeps the peak.
type rssSampler struct {
	mu   sync.Mutex
	peak map[string]int64 // bytes
	stop chan struct{}
	done chan struct{}
}

func sampleRSS(procs map[string]int) *rssSampler {
	s := &rssSampler{peak: map[string]int64{}, stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(s.done)
		tick := time.NewTicker(100 * time.Millisecond)
		defer tick.Stop()
		for {
			for name, pid := range procs {
				if rss, err := readRSS(pid); err == nil {
					s.mu.Lock()
					s.peak[name] = max(s.peak[name], rss)
					s.mu.Unlock()
				}
			}
			select {
			case <-s.stop:
				return
			case <-tick.C:
			}
		}
	}()
	return s
}

// Stop ends sampling and returns the peaks.
func (s *rssSampler) Stop() map[string]int64 {
	close(s.stop)
	<-s.done
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.peak
}

// readRSS returns the resident set size of a process, from /proc.
func readRSS(pid int) (int64, error) {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(raw), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			f := strings.Fields(rest)
			if len(f) == 2 && f[1] == "kB" {
				kb, err := strconv.ParseInt(f[0], 10, 64)
				return kb << 10, err
			}
		}
	}
	return 0, errors.New("no VmRSS line")
}

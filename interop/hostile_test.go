package interop

// The hostile-traffic test of issue 16: honest Rekor v1, Rekor v2, Fulcio
// and TSA clients run against a hallmark-log (PostgreSQL) and a hallmark-ca,
// first alone, then while a catalogue of bad requests hits the same
// processes. The catalogue is data: one row per attack, with the answers
// it may get.
//
//	go test -run TestHostile -v ./            (in `make test`, on PostgreSQL)
//	go test -run '^$' -bench Hostile -benchtime 1x ./   (make bench-hostile)
//
// HOSTILE_CASES, a regular expression, runs only the rows whose names
// match (e.g. HOSTILE_CASES=NUL).

import (
	"bufio"
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"math/big"
	"net"
	"net/http"
	"os"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"text/tabwriter"
	"time"

	"github.com/digitorus/timestamp"

	"github.com/hallmark-dev/hallmark/oidc/devissuer"
)

const (
	hostileQuiet  = 12 * time.Second // honest load alone
	hostileAttack = 12 * time.Second // honest load beside the catalogue
	// hostileGrace is how long catalogue requests may still run after the
	// attack window; those still running then are cut off as "timeout".
	hostileGrace = 15 * time.Second
	// hostileRSSBound is the most resident memory each server may reach.
	hostileRSSBound = 512 << 20
	// hostileBigBody is the size of the "many large bodies" attack: under
	// the 4 MiB request limit, so the servers must read it all.
	hostileBigBody = 4_000_000
)

// hostileLoad is the honest load of the test: few writers, each pacing its
// requests, so that the quiet figure is what the servers answer rather
// than what a shared 2-core machine has left, and the attack's effect shows.
var hostileLoad = honestLoad{
	writers: map[honestKind]int{honestV1: 4, honestV2REST: 2, honestV2GRPC: 2, honestCA: 3, honestTSA: 1},
	pace:    20 * time.Millisecond,
}

// hostileCase is one row of the catalogue.
type hostileCase struct {
	name   string
	n      int           // requests (or connections)
	conc   int           // at once; default 1
	gap    time.Duration // between two starts of one worker
	accept string        // the answers allowed, see accepts
	// build prepares the payloads (before any phase starts) and returns
	// the function making request i. ctx ends when the request must stop;
	// slow senders hold their connection until then.
	build func(tb testing.TB, h *hostileEnv) func(ctx context.Context, i int) (answer, string)
	slow  bool // runs until the attack window ends rather than a request timeout
}

// accepts reports whether o is one of the space-separated answers of
// allow: a status ("201"), "4xx" (any client error), "429+RA" or "503+RA"
// (overload with Retry-After), "closed" (the server closed the connection
// without an answer) or "open" (still open when the attack ended).
func accepts(allow string, o answer) bool {
	for _, a := range strings.Fields(allow) {
		switch {
		case a == string(o):
			return true
		case a == "4xx" && o.code() >= 400 && o.code() < 500 && !o.pushback():
			return true
		}
	}
	return false
}

// Outcomes allowed for requests a byte budget may refuse before reading.
const overload = "429+RA 503+RA closed"

// hostileCatalogue lists the attacks of issue 16, one row each.
func hostileCatalogue() []hostileCase {
	return []hostileCase{
		// (1) A NUL byte in a search key: PostgreSQL refuses it. The entry
		// may be logged (as SQLite does) or refused, never fail a batch.
		{name: "v1 hashedrekord: self-signed cert, NUL in email SAN", n: 20, gap: 500 * time.Millisecond, accept: "201 4xx",
			build: nulSANEntry(func(c *x509.Certificate) { c.EmailAddresses = []string{"evil\x00@example.com"} })},
		{name: "v1 hashedrekord: self-signed cert, NUL in DNS SAN", n: 20, gap: 500 * time.Millisecond, accept: "201 4xx",
			build: nulSANEntry(func(c *x509.Certificate) { c.DNSNames = []string{"a\x00b.example.com"} })},
		{name: `v1 index/retrieve {"subject":"a\u0000b"}`, n: 5, gap: 2 * time.Second, accept: "200 4xx",
			build: postJSON(v1Path("/api/v1/index/retrieve"), `{"subject":"a\u0000b"}`)},
		{name: `v1 index/retrieve {"email":"a\u0000b@example.com"}`, n: 5, gap: 2 * time.Second, accept: "200 4xx",
			build: postJSON(v1Path("/api/v1/index/retrieve"), `{"email":"a\u0000b@example.com"}`)},

		// (2) Quadratic verification: every key against every signature.
		{name: "v1 dsse: 800 keys × 800 signatures, reverse order", n: 1, accept: "4xx", build: manySigners("dsse", 800)},
		{name: "v1 intoto 0.0.2: 800 keys × 800 signatures, reverse order", n: 1, accept: "4xx", build: manySigners("intoto", 800)},

		// (3) Request bodies in flight: 100 × 4 MB at once per process.
		{name: "log: 4 MB bodies, 50 at once (v1 entries)", n: 100, conc: 50, accept: "4xx " + overload,
			build: bigBody(v1Path("/api/v1/log/entries"), "application/json")},
		{name: "log: 4 MB bodies, 50 at once (v2 entries)", n: 100, conc: 50, accept: "4xx " + overload,
			build: bigBody(v2Path("/api/v2/log/entries"), "application/json")},
		{name: "ca: 4 MB bodies, 50 at once (signingCert)", n: 100, conc: 50, accept: "4xx " + overload,
			build: bigBody(caPath("/api/v2/signingCert"), "application/json")},
		{name: "ca: 4 MB bodies, 50 at once (timestamp)", n: 100, conc: 50, accept: "4xx " + overload,
			build: bigBody(caPath("/api/v1/timestamp"), "application/timestamp-query")},

		// (4), (7) Valid tokens for identities a certificate cannot carry.
		// (Should the CA certify non-ASCII emails as RFC 8398
		// SmtpUTF8Mailbox instead, accept "200" for the first two rows and
		// check the certificate with a client.)
		{name: "ca: email jörg@example.com", n: 5, gap: 2 * time.Second, accept: "4xx", build: emailToken("jörg@example.com")},
		{name: "ca: email user@bücher.example", n: 5, gap: 2 * time.Second, accept: "4xx", build: emailToken("user@bücher.example")},
		{name: "ca: email with a 5,000-character local part", n: 5, gap: 2 * time.Second, accept: "4xx",
			build: emailToken(strings.Repeat("a", 5000) + "@example.com")},

		// (5) Slow senders and idle gRPC connections.
		{name: "log http: slowloris headers, 1 byte/s", n: 10, conc: 10, slow: true, accept: "closed 4xx",
			build: slowHeaders(func(h *hostileEnv) string { return h.log.addr })},
		{name: "ca http: slowloris headers, 1 byte/s", n: 10, conc: 10, slow: true, accept: "closed 4xx",
			build: slowHeaders(func(h *hostileEnv) string { return strings.TrimPrefix(h.ca.url, "http://") })},
		// A dribbled body may hold its connection for the server's read
		// timeout (longer than the test), but never an answer other than 4xx.
		{name: "log http: 4 MB body dribbled 1 byte/s", n: 10, conc: 10, slow: true, accept: "open closed 4xx " + overload,
			build: slowBody(func(h *hostileEnv) (string, string) { return h.log.addr, "/rekor/api/v1/log/entries" })},
		{name: "ca http: 4 MB body dribbled 1 byte/s", n: 10, conc: 10, slow: true, accept: "open closed 4xx " + overload,
			build: slowBody(func(h *hostileEnv) (string, string) {
				return strings.TrimPrefix(h.ca.url, "http://"), "/api/v2/signingCert"
			})},
		// The services run with a 2 s idle limit (hostileLogExtraYAML,
		// hostileCAExtraYAML): an idle connection must be closed.
		{name: "log gRPC: HTTP/2 preface and SETTINGS, then idle", n: 50, conc: 50, slow: true, accept: "closed",
			build: prefaceOnly(func(h *hostileEnv) string { return h.log.grpc })},
		{name: "ca gRPC: HTTP/2 preface and SETTINGS, then idle", n: 50, conc: 50, slow: true, accept: "closed",
			build: prefaceOnly(func(h *hostileEnv) string { return h.ca.grpcAddr })},

		// (f) Forged tokens.
		{name: "ca: token with a tampered signature", n: 5, gap: 2 * time.Second, accept: "4xx", build: forgedToken("tampered")},
		{name: "ca: token with alg none", n: 5, gap: 2 * time.Second, accept: "4xx", build: forgedToken("none")},
		{name: "ca: token from an unknown issuer", n: 5, gap: 2 * time.Second, accept: "4xx", build: forgedToken("stranger")},
		{name: "ca: HS256 token keyed with the issuer's public key", n: 5, gap: 2 * time.Second, accept: "4xx", build: forgedToken("hs256")},

		// (g) Malformed and oversized input, and the smaller items of (7).
		{name: "log v1: malformed JSON", n: 5, gap: 2 * time.Second, accept: "4xx", build: postJSON(v1Path("/api/v1/log/entries"), `{"kind":`)},
		{name: "log v2: malformed JSON", n: 5, gap: 2 * time.Second, accept: "4xx", build: postJSON(v2Path("/api/v2/log/entries"), `{"hashedRekordRequestV002":`)},
		{name: "ca: malformed JSON", n: 5, gap: 2 * time.Second, accept: "4xx", build: postJSON(caPath("/api/v2/signingCert"), `{"credentials":`)},
		{name: "log v1: JSON nested 100,000 deep", n: 2, gap: 5 * time.Second, accept: "4xx",
			build: postJSON(v1Path("/api/v1/log/entries"), strings.Repeat("[", 100_000))},
		{name: "log v1: 5 MiB body (over the limit)", n: 5, gap: 2 * time.Second, accept: "4xx " + overload,
			build: postJSON(v1Path("/api/v1/log/entries"), `{"x":"`+strings.Repeat("x", 5<<20)+`"}`)},
		{name: "ca: 5 MiB body (over the limit)", n: 5, gap: 2 * time.Second, accept: "4xx " + overload,
			build: postJSON(caPath("/api/v2/signingCert"), `{"x":"`+strings.Repeat("x", 5<<20)+`"}`)},
		{name: "tsa: bytes that are not DER", n: 5, gap: 2 * time.Second, accept: "4xx",
			build: postBody(caPath("/api/v1/timestamp"), "application/timestamp-query", []byte("not a TimeStampReq"))},
		{name: "tsa: TimeStampReq version 2", n: 5, gap: 2 * time.Second, accept: "4xx", build: tsaVersion2},
		{name: "v1 log/proof?firstSize=0", n: 5, gap: 2 * time.Second, accept: "4xx",
			build: get(v1Path("/api/v1/log/proof?firstSize=0&lastSize=1"))},
		// The TUF mirror is served by `hallmark dev` only; hallmark-log must
		// not list anything there either.
		{name: "log: GET /tuf/ (directory listing)", n: 2, gap: 5 * time.Second, accept: "4xx",
			build: get(func(h *hostileEnv) string { return "http://" + h.log.addr + "/tuf/" })},
	}
}

// --- the test and the benchmark ---

// TestHostile runs honest clients alone, then beside the catalogue, and
// checks issue 16's promises: every bad request gets a 4xx (or an overload
// answer with Retry-After where the row allows it), no honest request gets
// a 5xx, every acknowledged entry verifies against the final checkpoint,
// each server stays under hostileRSSBound, and each kind of honest
// client keeps at least half its quiet throughput.
func TestHostile(t *testing.T) {
	if testing.Short() {
		t.Skip("hostile traffic takes about a minute")
	}
	h := startHostileEnv(t)
	r := runHostile(t, h, hostileLoad)
	t.Log("\n" + r.table())

	for _, c := range r.cases {
		for o, n := range c.tally.n {
			if !accepts(c.accept, o) {
				t.Errorf("%s: %d × %s, want only %q (e.g. %s)", c.name, n, o, c.accept, c.tally.examples[o])
			}
		}
	}
	for _, ph := range []*honestPhase{r.quiet, r.attack} {
		if len(ph.failures) > 0 {
			t.Errorf("%s: %d honest requests failed, e.g.:\n  %s", ph.name, len(ph.failures), strings.Join(ph.failures[:min(5, len(ph.failures))], "\n  "))
		}
	}
	for _, k := range honestKinds {
		if hostileLoad.writers[k] == 0 {
			continue
		}
		if q, a := r.quiet.rate(k), r.attack.rate(k); q == 0 || a < q/2 {
			t.Errorf("%s: %.1f req/s under attack, %.1f quiet: below half", k, a, q)
		}
	}
	for name, peak := range r.peakRSS {
		if peak > hostileRSSBound {
			t.Errorf("%s: resident memory peaked at %d MiB, bound %d MiB", name, peak>>20, hostileRSSBound>>20)
		}
	}
	for name, up := range map[string]bool{"hallmark-log": ok("http://" + h.log.addr + "/healthz"), "hallmark-ca": ok(h.ca.url + "/healthz")} {
		if !up {
			t.Errorf("%s is not healthy after the attack", name)
		}
	}
	// Every acknowledged entry, quiet or under attack, is in the final tree
	// at its index, and every checkpoint handed out is consistent with it.
	verifyAcknowledged(t, h.v1.URL, h.v1.Origin, h.v1Verifier, append(r.quiet.v1Acks, r.attack.v1Acks...), false)
	verifyAcknowledged(t, h.v2.URL, h.v2.Origin, h.v2Verifier, append(r.quiet.v2Acks, r.attack.v2Acks...), false)
}

// BenchmarkHostile measures honest throughput under attack ÷ quiet, and
// each server's peak resident memory. Each iteration runs both phases (about
// 40 s): run it with -benchtime 1x (`make bench-hostile`). HOSTILE_PACE sets
// the least time between two requests of one honest writer (default 0:
// back to back, so "quiet" is what the machine can do).
func BenchmarkHostile(b *testing.B) {
	h := startHostileEnv(b)
	load := honestLoad{writers: hostileLoad.writers}
	if v := os.Getenv("HOSTILE_PACE"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil {
			b.Fatalf("HOSTILE_PACE: %v", err)
		}
		load.pace = d
	}
	var quiet, attack float64
	peaks := map[string]int64{}
	for i := 0; i < b.N; i++ {
		r := runHostile(b, h, load)
		b.Log("\n" + r.table())
		quiet += r.quiet.total()
		attack += r.attack.total()
		for name, p := range r.peakRSS {
			peaks[name] = max(peaks[name], p)
		}
	}
	b.ReportMetric(quiet/float64(b.N), "quiet-req/s")
	b.ReportMetric(attack/float64(b.N), "attack-req/s")
	b.ReportMetric(attack/quiet, "attack/quiet")
	for name, p := range peaks {
		b.ReportMetric(float64(p)/(1<<20), name+"-peak-RSS-MiB")
	}
}

// hostileRun is what one run saw.
type hostileRun struct {
	quiet, attack *honestPhase
	cases         []*caseResult
	peakRSS       map[string]int64
}

type caseResult struct {
	hostileCase
	tally   tally
	sent    atomic.Int64  // requests made (or connections opened)
	slowest time.Duration // of the requests that got an answer
	mu      sync.Mutex
}

func runHostile(tb testing.TB, h *hostileEnv, load honestLoad) *hostileRun {
	tb.Helper()
	r := &hostileRun{}
	var cases []*caseResult
	var fns []func(context.Context, int) (answer, string)
	only, err := regexp.Compile(os.Getenv("HOSTILE_CASES"))
	if err != nil {
		tb.Fatalf("HOSTILE_CASES: %v", err)
	}
	for _, c := range hostileCatalogue() {
		if !only.MatchString(c.name) {
			continue
		}
		cases = append(cases, &caseResult{hostileCase: c})
		fns = append(fns, c.build(tb, h))
	}
	r.cases = cases
	rss := sampleRSS(map[string]int{"hallmark-log": h.log.cmd.Process.Pid, "hallmark-ca": h.ca.cmd.Process.Pid})
	hc := newHonestClients(tb, h)
	hc.run("warm-up", honestLoad{writers: load.writers, pace: 100 * time.Millisecond}, 2*time.Second)
	r.quiet = hc.run("quiet", load, hostileQuiet)

	window, cancelWindow := context.WithTimeout(context.Background(), hostileAttack)
	defer cancelWindow()
	hard, cancelHard := context.WithTimeout(context.Background(), hostileAttack+hostileGrace)
	defer cancelHard()
	var wg sync.WaitGroup
	for i, c := range cases {
		wg.Add(1)
		go func() {
			defer wg.Done()
			runCase(window, hard, c, fns[i])
		}()
	}
	r.attack = hc.run("under attack", load, hostileAttack)
	wg.Wait()
	r.peakRSS = rss.Stop()
	return r
}

// runCase makes a row's requests with its concurrency, each start at least
// gap after the previous one of its worker. Requests start only within the
// attack window; they end by the hard deadline.
func runCase(window, hard context.Context, c *caseResult, do func(context.Context, int) (answer, string)) {
	conc := max(c.conc, 1)
	next := make(chan int)
	go func() {
		defer close(next)
		for i := 0; i < c.n; i++ {
			select {
			case next <- i:
			case <-window.Done():
				return
			}
		}
	}()
	var wg sync.WaitGroup
	for w := 0; w < conc; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				ctx := hard
				if c.slow {
					ctx = window
				}
				start := time.Now()
				c.sent.Add(1)
				o, detail := do(ctx, i)
				c.tally.add(o, detail)
				if o.code() != 0 {
					c.mu.Lock()
					c.slowest = max(c.slowest, time.Since(start))
					c.mu.Unlock()
				}
				select {
				case <-time.After(c.gap):
				case <-window.Done():
				}
			}
		}()
	}
	wg.Wait()
}

// table renders the run for the test log.
func (r *hostileRun) table() string {
	var b strings.Builder
	tw := tabwriter.NewWriter(&b, 2, 8, 2, ' ', 0)
	fmt.Fprintln(tw, "CASE\tSENT\tANSWERS\tSLOWEST ANSWER\tALLOWED\tVERDICT")
	for _, c := range r.cases {
		verdict := "ok"
		for o := range c.tally.n {
			if !accepts(c.accept, o) {
				verdict = "FAIL"
			}
		}
		slowest := "-"
		if c.slowest > 0 {
			slowest = c.slowest.Round(time.Millisecond).String()
		}
		fmt.Fprintf(tw, "%s\t%d/%d\t%s\t%s\t%s\t%s\n", c.name, c.sent.Load(), c.n, c.tally.String(), slowest, c.accept, verdict)
	}
	fmt.Fprintln(tw, "\nHONEST CLIENTS\tQUIET req/s\tUNDER ATTACK req/s\tRATIO\tPUSHBACK (quiet/attack)\t")
	for _, k := range honestKinds {
		q, a := r.quiet.rate(k), r.attack.rate(k)
		fmt.Fprintf(tw, "%s\t%.1f\t%.1f\t%.2f\t%d/%d\t\n", k, q, a, a/q, r.quiet.pushback[k].Load(), r.attack.pushback[k].Load())
	}
	fmt.Fprintf(tw, "all\t%.1f\t%.1f\t%.2f\t\t\n", r.quiet.total(), r.attack.total(), r.attack.total()/r.quiet.total())
	fmt.Fprintf(tw, "honest failures\t%d\t%d\t\t\t\n", len(r.quiet.failures), len(r.attack.failures))
	fmt.Fprintln(tw, "\nPROCESS\tPEAK RSS\tBOUND\t\t\t")
	for _, name := range []string{"hallmark-log", "hallmark-ca"} {
		fmt.Fprintf(tw, "%s\t%d MiB\t%d MiB\t\t\t\n", name, r.peakRSS[name]>>20, hostileRSSBound>>20)
	}
	tw.Flush()
	return b.String()
}

// --- catalogue builders ---

type urlFunc func(h *hostileEnv) string

func v1Path(p string) urlFunc { return func(h *hostileEnv) string { return h.v1.URL + p } }
func v2Path(p string) urlFunc { return func(h *hostileEnv) string { return h.v2.URL + p } }
func caPath(p string) urlFunc { return func(h *hostileEnv) string { return h.ca.url + p } }

// attackClient sends bad requests: no connection reuse, so that every
// request is a connection the server must handle.
var attackClient = &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}

const attackTimeout = 30 * time.Second

func send(ctx context.Context, method, url, contentType string, body []byte, hdr map[string]string) (answer, string) {
	ctx, cancel := context.WithTimeout(ctx, attackTimeout)
	defer cancel()
	var rd *bytes.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, url, nil)
	if err != nil {
		return "error", err.Error()
	}
	if rd != nil {
		req, _ = http.NewRequestWithContext(ctx, method, url, rd)
		req.Header.Set("Content-Type", contentType)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := attackClient.Do(req)
	if err != nil {
		return transportAnswer(err), err.Error()
	}
	defer resp.Body.Close()
	b := make([]byte, 300)
	n, _ := bufio.NewReader(resp.Body).Read(b)
	return statusAnswer(resp.StatusCode, resp.Header.Get("Retry-After")), string(b[:n])
}

func postBody(u urlFunc, contentType string, body []byte) func(testing.TB, *hostileEnv) func(context.Context, int) (answer, string) {
	return func(_ testing.TB, h *hostileEnv) func(context.Context, int) (answer, string) {
		url := u(h)
		return func(ctx context.Context, _ int) (answer, string) {
			return send(ctx, "POST", url, contentType, body, nil)
		}
	}
}

func postJSON(u urlFunc, body string) func(testing.TB, *hostileEnv) func(context.Context, int) (answer, string) {
	return postBody(u, "application/json", []byte(body))
}

func get(u urlFunc) func(testing.TB, *hostileEnv) func(context.Context, int) (answer, string) {
	return func(_ testing.TB, h *hostileEnv) func(context.Context, int) (answer, string) {
		url := u(h)
		return func(ctx context.Context, _ int) (answer, string) { return send(ctx, "GET", url, "", nil, nil) }
	}
}

// bigBody posts hostileBigBody bytes: JSON with one long string, or for
// the TSA a DER SEQUENCE header followed by filler.
func bigBody(u urlFunc, contentType string) func(testing.TB, *hostileEnv) func(context.Context, int) (answer, string) {
	body := make([]byte, hostileBigBody)
	if contentType == "application/json" {
		copy(body, `{"pad":"`)
		for i := 8; i < len(body)-2; i++ {
			body[i] = 'a'
		}
		copy(body[len(body)-2:], `"}`)
	} else {
		n := len(body) - 6
		copy(body, []byte{0x30, 0x84, byte(n >> 24), byte(n >> 16), byte(n >> 8), byte(n)})
	}
	return postBody(u, contentType, body)
}

// nulSANEntry makes a valid hashedrekord whose self-signed certificate
// carries a SAN with a NUL byte (set by san).
func nulSANEntry(san func(*x509.Certificate)) func(testing.TB, *hostileEnv) func(context.Context, int) (answer, string) {
	return func(tb testing.TB, h *hostileEnv) func(context.Context, int) (answer, string) {
		key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		tmpl := &x509.Certificate{
			SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "evil"},
			NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
			KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageCodeSigning},
		}
		san(tmpl)
		der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
		if err != nil {
			tb.Fatalf("certificate with a NUL SAN: %v", err)
		}
		certPEM := pemBlock("CERTIFICATE", der)
		url := h.v1.URL + "/api/v1/log/entries"
		return func(ctx context.Context, i int) (answer, string) {
			d := sha256.Sum256(fmt.Appendf(nil, "nul san artifact %d %d", i, time.Now().UnixNano()))
			sig, _ := ecdsa.SignASN1(rand.Reader, key, d[:])
			body := mustJSON(map[string]any{"apiVersion": "0.0.1", "kind": "hashedrekord", "spec": map[string]any{
				"data":      map[string]any{"hash": map[string]any{"algorithm": "sha256", "value": hex.EncodeToString(d[:])}},
				"signature": map[string]any{"content": sig, "publicKey": map[string]any{"content": certPEM}},
			}})
			return send(ctx, "POST", url, "application/json", body, nil)
		}
	}
}

func pemBlock(typ string, der []byte) []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "-----BEGIN %s-----\n", typ)
	enc := base64.StdEncoding.EncodeToString(der)
	for len(enc) > 64 {
		b.WriteString(enc[:64] + "\n")
		enc = enc[64:]
	}
	fmt.Fprintf(&b, "%s\n-----END %s-----\n", enc, typ)
	return b.Bytes()
}

// manySigners builds a dsse or intoto 0.0.2 entry with n keys and n valid
// signatures, keys listed in the reverse order of their signatures, so a
// server trying every key against every signature does n²/2 verifications.
func manySigners(kind string, n int) func(testing.TB, *hostileEnv) func(context.Context, int) (answer, string) {
	return func(tb testing.TB, h *hostileEnv) func(context.Context, int) (answer, string) {
		const payloadType = "application/vnd.in-toto+json"
		payload := statement("hostile many signers")
		msg := sha256.Sum256(pae(payloadType, payload))
		keys := make([]*ecdsa.PrivateKey, n)
		sigs := make([]string, n)
		for i := range keys {
			keys[i], _ = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
			sig, _ := ecdsa.SignASN1(rand.Reader, keys[i], msg[:])
			sigs[i] = base64.StdEncoding.EncodeToString(sig)
		}
		encPayload := base64.StdEncoding.EncodeToString(payload)
		var body []byte
		switch kind {
		case "dsse":
			var envSigs []envSig
			var verifiers []string
			for i := range n {
				envSigs = append(envSigs, envSig{Sig: sigs[i]})
				verifiers = append(verifiers, base64.StdEncoding.EncodeToString(pemKey(keys[n-1-i].Public())))
			}
			env := mustJSON(map[string]any{"payloadType": payloadType, "payload": encPayload, "signatures": envSigs})
			body = mustJSON(map[string]any{"apiVersion": "0.0.1", "kind": "dsse", "spec": map[string]any{
				"proposedContent": map[string]any{"envelope": string(env), "verifiers": verifiers}}})
		case "intoto":
			var items []any
			for j := range n {
				items = append(items, map[string]any{
					"publicKey": base64.StdEncoding.EncodeToString(pemKey(keys[j].Public())),
					"sig":       base64.StdEncoding.EncodeToString([]byte(sigs[n-1-j])),
				})
			}
			body = mustJSON(map[string]any{"apiVersion": "0.0.2", "kind": "intoto", "spec": map[string]any{
				"content": map[string]any{"envelope": map[string]any{
					"payloadType": payloadType,
					"payload":     base64.StdEncoding.EncodeToString([]byte(encPayload)),
					"signatures":  items,
				}}}})
		}
		url := h.v1.URL + "/api/v1/log/entries"
		return func(ctx context.Context, _ int) (answer, string) {
			return send(ctx, "POST", url, "application/json", body, nil)
		}
	}
}

// emailToken asks for a certificate with a valid token of the email issuer
// whose verified email is address.
func emailToken(address string) func(testing.TB, *hostileEnv) func(context.Context, int) (answer, string) {
	return func(tb testing.TB, h *hostileEnv) func(context.Context, int) (answer, string) {
		tok, err := h.ca.email.Mint(devissuer.Claims{"sub": "user-42", "email": address, "email_verified": true})
		if err != nil {
			tb.Fatal(err)
		}
		key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		body := signingCertBody(tok, key, address)
		url := h.ca.url + "/api/v2/signingCert"
		return func(ctx context.Context, _ int) (answer, string) {
			return send(ctx, "POST", url, "application/json", body, nil)
		}
	}
}

// forgedToken asks for a certificate with a token that must not verify.
func forgedToken(how string) func(testing.TB, *hostileEnv) func(context.Context, int) (answer, string) {
	return func(tb testing.TB, h *hostileEnv) func(context.Context, int) (answer, string) {
		claims := devissuer.GitHubClaims("acme/app", "refs/heads/main")
		good, err := h.ca.github.Mint(claims)
		if err != nil {
			tb.Fatal(err)
		}
		parts := strings.Split(good, ".")
		b64 := func(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }
		var tok string
		switch how {
		case "tampered":
			sig, _ := base64.RawURLEncoding.DecodeString(parts[2])
			sig[3] ^= 1
			tok = parts[0] + "." + parts[1] + "." + base64.RawURLEncoding.EncodeToString(sig)
		case "none":
			tok = b64(`{"alg":"none","typ":"JWT"}`) + "." + parts[1] + "."
		case "stranger":
			if tok, err = h.ca.stranger.Mint(claims); err != nil {
				tb.Fatal(err)
			}
		case "hs256":
			spki, _ := x509.MarshalPKIXPublicKey(h.ca.github.PublicKey())
			input := b64(`{"alg":"HS256","kid":"dev-1","typ":"JWT"}`) + "." + parts[1]
			mac := hmac.New(sha256.New, spki)
			mac.Write([]byte(input))
			tok = input + "." + base64.RawURLEncoding.EncodeToString(mac.Sum(nil))
		}
		key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		body := signingCertBody(tok, key, claims["sub"].(string))
		url := h.ca.url + "/api/v2/signingCert"
		return func(ctx context.Context, _ int) (answer, string) {
			return send(ctx, "POST", url, "application/json", body, nil)
		}
	}
}

// tsaVersion2 sends a well-formed TimeStampReq whose version is 2 (RFC 3161
// knows only v1).
func tsaVersion2(tb testing.TB, h *hostileEnv) func(context.Context, int) (answer, string) {
	der, err := timestamp.CreateRequest(strings.NewReader("hostile"), &timestamp.RequestOptions{Hash: crypto.SHA256, Certificates: true})
	if err != nil {
		tb.Fatal(err)
	}
	// SEQUENCE (short length) { INTEGER 1, ... }: the version is byte 4.
	if der[0] != 0x30 || der[1] >= 0x80 || !bytes.Equal(der[2:5], []byte{0x02, 0x01, 0x01}) {
		tb.Fatalf("unexpected TimeStampReq encoding % x", der[:8])
	}
	der[4] = 2
	return postBody(caPath("/api/v1/timestamp"), "application/timestamp-query", der)(tb, h)
}

// --- slow senders ---

// slowConn opens a connection to addr, writes head, then one byte of drip
// per second (none if drip is empty) until the server answers or closes,
// or ctx ends. With h2, bytes from the server (its SETTINGS) are not an
// answer: only the connection's end is.
func slowConn(ctx context.Context, addr string, head, drip []byte, h2 bool) (answer, string) {
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return transportAnswer(err), err.Error()
	}
	defer conn.Close()
	if _, err := conn.Write(head); err != nil {
		return "closed", err.Error()
	}
	answered := make(chan answer, 1)
	var first string
	go func() {
		br := bufio.NewReader(conn)
		if !h2 {
			// The whole head, so that a 503's Retry-After counts.
			resp, err := http.ReadResponse(br, nil)
			if err != nil {
				answered <- "closed"
				return
			}
			first = resp.Status
			answered <- statusAnswer(resp.StatusCode, resp.Header.Get("Retry-After"))
			return
		}
		buf := make([]byte, 4096)
		for {
			if _, err := br.Read(buf); err != nil {
				answered <- "closed"
				return
			}
		}
	}()
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for i := 0; ; i++ {
		select {
		case o := <-answered:
			return o, first
		case <-ctx.Done():
			return "open", ""
		case <-tick.C:
			if len(drip) > 0 {
				if _, err := conn.Write(drip[i%len(drip) : i%len(drip)+1]); err != nil {
					select {
					case o := <-answered:
						return o, first
					case <-time.After(time.Second):
						return "closed", err.Error()
					}
				}
			}
		}
	}
}

// slowHeaders sends a request line, then header bytes one per second.
func slowHeaders(addr func(*hostileEnv) string) func(testing.TB, *hostileEnv) func(context.Context, int) (answer, string) {
	return func(_ testing.TB, h *hostileEnv) func(context.Context, int) (answer, string) {
		a := addr(h)
		head := []byte("POST /api/v1/log/entries HTTP/1.1\r\nHost: " + a + "\r\n")
		drip := []byte("X-Slow: " + strings.Repeat("a", 100) + "\r\n")
		return func(ctx context.Context, _ int) (answer, string) { return slowConn(ctx, a, head, drip, false) }
	}
}

// slowBody sends complete headers announcing a 4 MB body, then the body one
// byte per second.
func slowBody(target func(*hostileEnv) (addr, path string)) func(testing.TB, *hostileEnv) func(context.Context, int) (answer, string) {
	return func(_ testing.TB, h *hostileEnv) func(context.Context, int) (answer, string) {
		a, p := target(h)
		head := fmt.Appendf(nil, "POST %s HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n{", p, a, hostileBigBody)
		return func(ctx context.Context, _ int) (answer, string) { return slowConn(ctx, a, head, []byte(`"a`), false) }
	}
}

// prefaceOnly opens an HTTP/2 connection (the client preface and an empty
// SETTINGS frame), then sends nothing.
func prefaceOnly(addr func(*hostileEnv) string) func(testing.TB, *hostileEnv) func(context.Context, int) (answer, string) {
	return func(_ testing.TB, h *hostileEnv) func(context.Context, int) (answer, string) {
		a := addr(h)
		head := append([]byte("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"), 0, 0, 0, 4, 0, 0, 0, 0, 0)
		return func(ctx context.Context, _ int) (answer, string) { return slowConn(ctx, a, head, nil, true) }
	}
}

package bench

import (
	"bufio"
	"bytes"
	"cmp"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hallmark-dev/hallmark/api"
	fulcioapi "github.com/hallmark-dev/hallmark/api/fulcio"
	"github.com/hallmark-dev/hallmark/ca"
	_ "github.com/hallmark-dev/hallmark/internal/signer/kms" // -kms-key: AWS, GCP, Azure, Vault
	"github.com/hallmark-dev/hallmark/oidc"
	"github.com/hallmark-dev/hallmark/oidc/devissuer"
	"github.com/hallmark-dev/hallmark/tlog"
	"github.com/hallmark-dev/hallmark/tlog/ct"
)

// CA measures keyless issuance over HTTP on loopback, end to end: a
// hallmark-ca with a file-backed (encrypted PKCS#8) CA key (or with
// -kms-key a KMS key), a development
// OIDC issuer, optionally a Hallmark CT log whose SCTs the CA embeds, and
// a load generator acting as sigstore-go: per certificate it makes an
// ephemeral P-256 key and its proof of possession and sends a v2 REST
// request with an identity token the CA verifies. All run in this process.
// It runs a closed loop (fixed concurrency, as fast as possible) and then
// an open loop (fixed arrival rate, latency measured from each request's
// scheduled start, so a stalled server is not hidden).
//
// -ct selects the CT path: "off" (no SCT), "inprocess" (the CA submits the
// precertificate straight to the ct.Log, as when co-hosted) or "http"
// (the CA's RFC 6962 client POSTs add-pre-chain to a hallmark-log ct log
// served on its own loopback listener, and verifies the SCT it gets).
func CA(args []string) error {
	fs := flag.NewFlagSet("ca", flag.ExitOnError)
	duration := fs.Duration("duration", 10*time.Second, "length of each measured phase")
	conc := fs.Int("concurrency", 0, "closed loop: concurrent clients (default 16, or 128 with a CT log, whose batches make each request wait)")
	rate := fs.Int("rate", 1000, "open loop: requests per second offered (0 skips the phase)")
	curveName := fs.String("ca-curve", "P-256", "curve of the CA key: P-256 or P-384")
	ctMode := fs.String("ct", "off", "CT log: off, inprocess (co-hosted ct.Log) or http (hallmark-log ct log over loopback HTTP)")
	store := fs.String("store", "sqlite", "store of the CT log: sqlite (temporary file) or postgres ($HALLMARK_DATABASE_URL, then $HALLMARK_TEST_DATABASE_URL)")
	maxAge := fs.Duration("ct-batch-max-age", 50*time.Millisecond, "batch max age of the CT log (the SCT waits for its batch to commit)")
	freshKeys := fs.Bool("fresh-keys", true, "make a new key and proof of possession for every request, as a client does (false: reuse 64)")
	nTokens := fs.Int("tokens", 64, "distinct identity tokens the clients present in turn (0: mint a new one for every request, so that none is in the CA's verified-token cache)")
	cpuprofile := fs.String("cpuprofile", "", "write a CPU profile of the measured closed loop to this file")
	kmsKey := fs.String("kms-key", "", "sign with this KMS key (e.g. awskms:///alias/bench, created if missing) instead of a key file")
	fs.Parse(args)
	caRuntime()
	curve := map[string]elliptic.Curve{"P-256": elliptic.P256(), "P-384": elliptic.P384()}[*curveName]
	if curve == nil {
		return fmt.Errorf("unknown curve %q", *curveName)
	}
	if *ctMode != "off" && *ctMode != "inprocess" && *ctMode != "http" {
		return fmt.Errorf("-ct must be off, inprocess or http, not %q", *ctMode)
	}
	if *conc == 0 {
		*conc = 16
		if *ctMode != "off" {
			*conc = 128
		}
	}

	dir, err := os.MkdirTemp("", "hallmark-ca-bench")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	is, err := devissuer.Start("127.0.0.1:0")
	if err != nil {
		return err
	}
	defer is.Close()
	opts := ca.InitOptions{Organization: "bench", RootCurve: curve, IntermediateCurve: curve}
	if *kmsKey != "" {
		k, err := ca.CreateKMSKey(ca.KMSConfig{Key: *kmsKey}, "")
		if err != nil {
			return fmt.Errorf("CA key: %w", err)
		}
		defer k.Close()
		opts.IntermediateKey = k
	}
	d, err := ca.NewDeployment(opts)
	if err != nil {
		return err
	}
	if err := d.WriteFiles(dir, []byte("bench-password")); err != nil {
		return err
	}
	os.WriteFile(filepath.Join(dir, "pw"), []byte("bench-password\n"), 0o600)
	cfg := &ca.Config{
		Listen: ca.ListenConfig{HTTP: "127.0.0.1:0", GRPC: "off"}, MaxRequestBytes: 4 << 20, MaxInFlight: 1024, CertificateValidity: ca.DefaultValidity,
		Signer: ca.SignerConfig{Type: "file", ChainFile: filepath.Join(dir, ca.ChainFile), File: ca.FileSignerConfig{
			KeyFile: filepath.Join(dir, ca.IntermediateKeyFile), PasswordFile: filepath.Join(dir, "pw")}},
		Issuers: []oidc.IssuerConfig{{URL: is.URL(), Type: oidc.TypeGitHubWorkflow}},
	}
	if *kmsKey != "" {
		cfg.Signer = ca.SignerConfig{Type: "kms", ChainFile: filepath.Join(dir, ca.ChainFile), KMS: ca.KMSConfig{Key: *kmsKey}}
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))

	ctDesc := "no CT log"
	var handler http.Handler
	var cl *benchCTLog
	if *ctMode != "off" {
		if cl, err = startBenchCTLog(ctx, dir, *store, *maxAge, quiet); err != nil {
			return err
		}
		defer cl.close()
		ctDesc = fmt.Sprintf("embedded SCT from a %s CT log (batch max age %s, %s)", *store, *maxAge,
			map[string]string{"inprocess": "co-hosted: in-process submission", "http": "add-pre-chain over loopback HTTP"}[*ctMode])
	}
	if *ctMode == "inprocess" {
		// Co-hosted: the wiring of `hallmark dev`-style processes.
		signer, chain, err := cfg.OpenSigner()
		if err != nil {
			return err
		}
		defer signer.Close()
		c, err := ca.New(signer, chain, ca.Options{Validity: cfg.CertificateValidity, SCTProvider: ca.InProcessCTLog{Log: cl.log}})
		if err != nil {
			return err
		}
		v, err := oidc.NewVerifier(cfg.Issuers, cfg.VerifierOptions())
		if err != nil {
			return err
		}
		handler = fulcioapi.New(v, c, fulcioapi.Options{MaxRequestBytes: cfg.MaxRequestBytes, MaxInFlight: cfg.MaxInFlight, Logger: quiet}).Handler()
	} else {
		if *ctMode == "http" {
			// The real configuration path: ct.url and ct.public_key_file.
			cfg.CT = ca.CTConfig{URL: cl.url, PublicKeyFile: cl.pubFile}
		}
		svc, err := fulcioapi.NewService(cfg, quiet)
		if err != nil {
			return err
		}
		defer svc.Close()
		handler = svc.Handler()
	}
	host, err := serveLoopback(ctx, handler)
	if err != nil {
		return err
	}

	// Tokens: -tokens pre-minted GitHub-Actions-shaped tokens (ES256),
	// presented in turn: the CA verifies each once and then finds it in its
	// verified-token cache, as when a CI job signs several artifacts. With
	// -tokens 0 every request carries a token minted for it (the client
	// pays the ES256 signature), and the CA verifies every one.
	claims := devissuer.GitHubClaims("acme/app", "refs/heads/main")
	var tokens []string
	for range *nTokens {
		tok, err := is.Mint(claims)
		if err != nil {
			return err
		}
		tokens = append(tokens, tok)
	}
	token := func(i uint64) string {
		if len(tokens) == 0 {
			tok, _ := is.Mint(claims)
			return tok
		}
		return tokens[i%uint64(len(tokens))]
	}
	sub := sha256.Sum256([]byte(claims["sub"].(string)))
	request := func(tok string) []byte {
		k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		der, _ := x509.MarshalPKIXPublicKey(k.Public())
		sig, _ := ecdsa.SignASN1(rand.Reader, k, sub[:])
		body := fmt.Appendf(nil, `{"publicKeyRequest":{"publicKey":{"algorithm":"ECDSA","content":%q},"proofOfPossession":%q}}`,
			pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}), base64.StdEncoding.EncodeToString(sig))
		return fmt.Appendf(nil, "POST /api/v2/signingCert HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\nAuthorization: Bearer %s\r\nContent-Length: %d\r\n\r\n%s",
			host, tok, len(body), body)
	}
	// The load generator writes HTTP/1.1 requests on persistent
	// connections and parses responses with net/http, like wrk: it costs a
	// fraction of net/http's client, leaving the CPU to the server.
	lg := &loadGen{addr: host, idle: make(chan *rawConn, 4096)}
	if *ctMode != "off" {
		lg.want = []byte(`"signedCertificateEmbeddedSct"`)
	}
	if *freshKeys || len(tokens) == 0 {
		lg.next = func(i uint64) []byte { return request(token(i)) }
	} else {
		var reqs [][]byte
		for _, tok := range tokens {
			reqs = append(reqs, request(tok))
		}
		lg.next = func(i uint64) []byte { return reqs[i%uint64(len(reqs))] }
	}
	send := lg.send
	if err := send(); err != nil {
		return fmt.Errorf("first request: %w", err)
	}

	gcPercent := debug.SetGCPercent(-1)
	debug.SetGCPercent(gcPercent)
	keyDesc := fmt.Sprintf("ECDSA %s (encrypted PKCS#8 file)", *curveName)
	if *kmsKey != "" {
		keyDesc = "in KMS " + *kmsKey
	}
	keys := "a fresh P-256 key and proof of possession per request"
	if !*freshKeys && len(tokens) > 0 {
		keys = fmt.Sprintf("%d reused P-256 keys", len(tokens))
	}
	if len(tokens) == 0 {
		keys += ", a fresh token per request"
	} else {
		keys += fmt.Sprintf(", %d tokens in turn", len(tokens))
	}
	fmt.Printf("hallmark-bench ca: GOMAXPROCS=%d, GOGC=%d, CA key %s, %s, %s, v2 REST over loopback\n",
		runtime.GOMAXPROCS(0), gcPercent, keyDesc, ctDesc, keys)
	caClosedLoop(send, *conc, 2*time.Second) // warm-up
	if *cpuprofile != "" {
		f, err := os.Create(*cpuprofile)
		if err != nil {
			return err
		}
		pprof.StartCPUProfile(f)
	}
	cpu0 := cpuTime()
	var batches0, entries0, commit0 float64
	if cl != nil {
		batches0, entries0, commit0 = cl.batches()
	}
	r := caClosedLoop(send, *conc, *duration)
	cpu := cpuTime() - cpu0
	if *cpuprofile != "" {
		pprof.StopCPUProfile()
	}
	fmt.Printf("closed loop, %d clients, %s: %d certs, %.0f certs/s, p50 %s, p99 %s, max %s, errors %d%s\n",
		*conc, *duration, r.n, float64(r.n)/duration.Seconds(), r.pct(50), r.pct(99), r.pct(100), r.errors, r.firstErr())
	// CPU cost per certificate (server and load generator together) tells
	// what the machine can do when the process is not sharing its cores.
	fmt.Printf("  process CPU %.2fs = %.0f µs per certificate (server + client), i.e. %.0f certs/s per fully used core\n",
		cpu.Seconds(), float64(cpu.Microseconds())/float64(max(r.n, 1)), float64(r.n)/cpu.Seconds())
	if cl != nil {
		b, e, c := cl.batches()
		b, e, c = b-batches0, e-entries0, c-commit0
		fmt.Printf("  CT log: %.0f batches, %.1f entries and %.1f ms of commit per batch\n", b, e/max(b, 1), 1000*c/max(b, 1))
	}
	if *rate > 0 {
		r = caOpenLoop(send, *rate, *duration)
		fmt.Printf("open loop, %d/s offered, %s: %d certs, %.0f certs/s, p50 %s, p99 %s, max %s, errors %d%s\n",
			*rate, *duration, r.n, float64(r.n)/duration.Seconds(), r.pct(50), r.pct(99), r.pct(100), r.errors, r.firstErr())
	}
	return nil
}

// serveLoopback serves h on a free loopback port until ctx is done.
func serveLoopback(ctx context.Context, h http.Handler) (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	go srv.Serve(ln)
	context.AfterFunc(ctx, func() { srv.Close() })
	return ln.Addr().String(), nil
}

// benchCTLog is a hallmark-log service holding one ct log that accepts the
// bench CA's root, configured as hallmark-log would be and served on its
// own loopback listener.
type benchCTLog struct {
	svc     *api.LogService
	log     *ct.Log
	name    string
	url     string // submission prefix
	pubFile string
}

// batches reads from the log service's metrics the batches the CT log has
// committed, their entries and their commit time in seconds.
func (b *benchCTLog) batches() (n, entries, commit float64) {
	rec := httptest.NewRecorder()
	b.svc.MetricsHandler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	label := fmt.Sprintf(`{log=%q} `, b.name)
	for line := range strings.Lines(rec.Body.String()) {
		for name, v := range map[string]*float64{"hallmark_log_batch_entries_count": &n, "hallmark_log_batch_entries_sum": &entries, "hallmark_log_commit_seconds_sum": &commit} {
			if rest, ok := strings.CutPrefix(line, name+label); ok {
				*v, _ = strconv.ParseFloat(strings.TrimSpace(rest), 64)
			}
		}
	}
	return n, entries, commit
}

func startBenchCTLog(ctx context.Context, dir, store string, maxAge time.Duration, logger *slog.Logger) (*benchCTLog, error) {
	keyPEM, err := tlog.GenerateKey("ecdsa-p256")
	if err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(dir, "ct.key"), keyPEM, 0o600); err != nil {
		return nil, err
	}
	var db string
	switch store {
	case "sqlite":
		db = fmt.Sprintf("sqlite: %q", filepath.Join(dir, "ct.db"))
	case "postgres":
		url := cmp.Or(os.Getenv("HALLMARK_DATABASE_URL"), os.Getenv("HALLMARK_TEST_DATABASE_URL"))
		if url == "" {
			return nil, errors.New("-store postgres needs HALLMARK_DATABASE_URL (scripts/with-postgres.sh sets HALLMARK_TEST_DATABASE_URL)")
		}
		db = fmt.Sprintf("url: %q", url)
	default:
		return nil, fmt.Errorf("unknown store %q", store)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	// A new name each run: a PostgreSQL database may hold earlier runs.
	name := fmt.Sprintf("ctbench%d", time.Now().UnixNano())
	url := "http://" + ln.Addr().String() + "/" + name
	raw := fmt.Sprintf("listen: {http: %q, grpc: \"off\"}\ndatabase: {%s}\nlogs:\n  - name: %s\n    kind: ct\n    url: %s\n    key_file: %q\n    ct: {roots_file: %q}\n    batch: {max_age: %s}\n",
		ln.Addr(), db, name, url, filepath.Join(dir, "ct.key"), filepath.Join(dir, ca.ChainFile), maxAge)
	cfg, err := tlog.ParseServiceConfig([]byte(raw))
	if err != nil {
		ln.Close()
		return nil, err
	}
	svc, err := api.NewLogService(ctx, cfg, logger)
	if err != nil {
		ln.Close()
		return nil, err
	}
	key, err := tlog.ParsePrivateKey(keyPEM)
	if err != nil {
		return nil, err
	}
	der, err := x509.MarshalPKIXPublicKey(key.Public())
	if err != nil {
		return nil, err
	}
	pubFile := filepath.Join(dir, "ct.pub")
	if err := os.WriteFile(pubFile, pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}), 0o644); err != nil {
		return nil, err
	}
	srv := &http.Server{Handler: svc.Handler(), ReadHeaderTimeout: 10 * time.Second}
	go srv.Serve(ln)
	context.AfterFunc(ctx, func() { srv.Close() })
	return &benchCTLog{svc: svc, log: svc.CTLog(name), name: name, url: url, pubFile: pubFile}, nil
}

func (b *benchCTLog) close() { b.svc.Close() }

// caRuntime sets the garbage collector as hallmark-ca does at start-up
// (cmd/hallmark-ca's tuneGC), so that the figures are the service's: a GC
// target of 400% and a 256 MiB soft memory limit, unless GOGC or
// GOMEMLIMIT say otherwise.
func caRuntime() {
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(400)
	}
	if os.Getenv("GOMEMLIMIT") == "" {
		debug.SetMemoryLimit(256 << 20)
	}
}

// loadGen sends pre-built requests over a pool of keep-alive connections.
type loadGen struct {
	addr string
	next func(seq uint64) []byte // the request to send
	want []byte                  // if set, a 200 response body must contain it
	seq  atomic.Uint64
	idle chan *rawConn
}

type rawConn struct {
	c  net.Conn
	br *bufio.Reader
}

func (lg *loadGen) send() error {
	var rc *rawConn
	select {
	case rc = <-lg.idle:
	default:
		c, err := net.Dial("tcp", lg.addr)
		if err != nil {
			return err
		}
		rc = &rawConn{c: c, br: bufio.NewReaderSize(c, 16<<10)}
	}
	if _, err := rc.c.Write(lg.next(lg.seq.Add(1))); err != nil {
		rc.c.Close()
		return err
	}
	resp, err := http.ReadResponse(rc.br, nil)
	if err != nil {
		rc.c.Close()
		return err
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil || resp.Close {
		rc.c.Close()
	} else {
		select {
		case lg.idle <- rc:
		default:
			rc.c.Close()
		}
	}
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("status %d: %s", resp.StatusCode, body[:min(len(body), 200)])
	}
	if lg.want != nil && !bytes.Contains(body, lg.want) {
		return fmt.Errorf("response lacks %s", lg.want)
	}
	return nil
}

type caResult struct {
	n, errors int
	lat       []time.Duration
	err       error // the first error
}

func (r *caResult) firstErr() string {
	if r.err == nil {
		return ""
	}
	return " (first: " + r.err.Error() + ")"
}

func (r *caResult) pct(p float64) time.Duration {
	if len(r.lat) == 0 {
		return 0
	}
	slices.Sort(r.lat)
	i := int(float64(len(r.lat))*p/100+0.5) - 1
	return r.lat[max(0, min(i, len(r.lat)-1))].Round(10 * time.Microsecond)
}

func (r *caResult) add(mu *sync.Mutex, d time.Duration, err error) {
	mu.Lock()
	defer mu.Unlock()
	if err != nil {
		r.errors++
		if r.err == nil {
			r.err = err
		}
		return
	}
	r.n++
	r.lat = append(r.lat, d)
}

func caClosedLoop(send func() error, conc int, d time.Duration) *caResult {
	r := &caResult{}
	var mu sync.Mutex
	var wg sync.WaitGroup
	end := time.Now().Add(d)
	for range conc {
		wg.Go(func() {
			for time.Now().Before(end) {
				t := time.Now()
				err := send()
				r.add(&mu, time.Since(t), err)
			}
		})
	}
	wg.Wait()
	return r
}

func caOpenLoop(send func() error, rate int, d time.Duration) *caResult {
	r := &caResult{}
	var mu sync.Mutex
	var wg sync.WaitGroup
	interval := time.Second / time.Duration(rate)
	start := time.Now()
	for i := 0; ; i++ {
		at := start.Add(time.Duration(i) * interval)
		if at.Sub(start) >= d {
			break
		}
		time.Sleep(time.Until(at))
		wg.Go(func() {
			err := send()
			r.add(&mu, time.Since(at), err)
		})
	}
	wg.Wait()
	return r
}

package main

import (
	"bufio"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"runtime/pprof"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	fulcioapi "github.com/hallmark-dev/hallmark/api/fulcio"
	"github.com/hallmark-dev/hallmark/ca"
	"github.com/hallmark-dev/hallmark/oidc"
	"github.com/hallmark-dev/hallmark/oidc/devissuer"
)

// bench measures issuance over HTTP on loopback: a hallmark-ca with a
// file-backed (encrypted PKCS#8) CA key, or with -kms-key a KMS key, and
// no CT log, a development OIDC
// issuer, and a load generator sending sigstore-go-shaped v2 requests, all
// in this process. It runs a closed loop (fixed concurrency, as fast as
// possible) and then an open loop (fixed arrival rate, latency measured
// from each request's scheduled start, so a stalled server is not hidden).
func bench(args []string) error {
	fs := flag.NewFlagSet("bench", flag.ExitOnError)
	duration := fs.Duration("duration", 10*time.Second, "length of each measured phase")
	conc := fs.Int("concurrency", 16, "closed loop: concurrent clients")
	rate := fs.Int("rate", 1000, "open loop: requests per second offered (0 skips the phase)")
	curveName := fs.String("ca-curve", "P-256", "curve of the CA key: P-256 or P-384")
	cpuprofile := fs.String("cpuprofile", "", "write a CPU profile of the measured closed loop to this file")
	kmsKey := fs.String("kms-key", "", "sign with this KMS key (e.g. awskms:///alias/bench, created if missing) instead of a key file")
	fs.Parse(args)
	curve := map[string]elliptic.Curve{"P-256": elliptic.P256(), "P-384": elliptic.P384()}[*curveName]
	if curve == nil {
		return fmt.Errorf("bench: unknown curve %q", *curveName)
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
		k, err := openKMSKey(*kmsKey, true, "")
		if err != nil {
			return fmt.Errorf("bench: %w", err)
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
		HTTPAddr: "127.0.0.1:0", GRPCAddr: "off", MaxRequestBytes: 4 << 20, CertificateValidity: ca.DefaultValidity,
		Signer: ca.SignerConfig{Type: "file", ChainFile: filepath.Join(dir, ca.ChainFile), File: ca.FileSignerConfig{
			KeyFile: filepath.Join(dir, ca.IntermediateKeyFile), PasswordFile: filepath.Join(dir, "pw")}},
		Issuers: []oidc.IssuerConfig{{URL: is.URL(), Type: oidc.TypeGitHubWorkflow}},
	}
	if *kmsKey != "" {
		cfg.Signer = ca.SignerConfig{Type: "kms", ChainFile: filepath.Join(dir, ca.ChainFile), KMS: ca.KMSConfig{Key: *kmsKey}}
	}
	svc, err := fulcioapi.NewService(cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		return err
	}
	defer svc.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	addr := make(chan string, 1)
	go svc.ListenAndServe(ctx, func(h, _ string) { addr <- h })
	url := "http://" + <-addr + "/api/v2/signingCert"

	// Clients: each request uses one of 64 pre-made ephemeral keys with its
	// proof and one of 64 tokens, so the load generator spends its CPU on
	// HTTP, not on key generation.
	claims := devissuer.GitHubClaims("acme/app", "refs/heads/main")
	var bodies [][]byte
	var tokens []string
	for range 64 {
		k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		der, _ := x509.MarshalPKIXPublicKey(k.Public())
		h := sha256.Sum256([]byte(claims["sub"].(string)))
		sig, _ := ecdsa.SignASN1(rand.Reader, k, h[:])
		bodies = append(bodies, fmt.Appendf(nil, `{"publicKeyRequest":{"publicKey":{"algorithm":"ECDSA","content":%q},"proofOfPossession":%q}}`,
			pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}), base64.StdEncoding.EncodeToString(sig)))
		tok, err := is.Mint(claims)
		if err != nil {
			return err
		}
		tokens = append(tokens, tok)
	}
	// The load generator writes pre-built HTTP/1.1 requests on persistent
	// connections and parses responses with net/http, like wrk: it costs a
	// fraction of net/http's client, leaving the CPU to the server.
	host := strings.TrimPrefix(strings.TrimSuffix(url, "/api/v2/signingCert"), "http://")
	var reqs [][]byte
	for i := range bodies {
		reqs = append(reqs, fmt.Appendf(nil, "POST /api/v2/signingCert HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\nAuthorization: Bearer %s\r\nContent-Length: %d\r\n\r\n%s",
			host, tokens[i], len(bodies[i]), bodies[i]))
	}
	lg := &loadGen{addr: host, reqs: reqs, idle: make(chan *rawConn, 4096)}
	send := lg.send
	if err := send(); err != nil {
		return fmt.Errorf("bench: first request: %w", err)
	}

	gcPercent := debug.SetGCPercent(-1)
	debug.SetGCPercent(gcPercent)
	keyDesc := fmt.Sprintf("ECDSA %s (encrypted PKCS#8 file)", *curveName)
	if *kmsKey != "" {
		keyDesc = "in KMS " + *kmsKey
	}
	fmt.Printf("hallmark-ca bench: GOMAXPROCS=%d, GOGC=%d, CA key %s, no CT log, v2 REST over loopback\n",
		runtime.GOMAXPROCS(0), gcPercent, keyDesc)
	closedLoop(send, *conc, 2*time.Second) // warm-up
	if *cpuprofile != "" {
		f, err := os.Create(*cpuprofile)
		if err != nil {
			return err
		}
		pprof.StartCPUProfile(f)
	}
	cpu0 := processCPU()
	r := closedLoop(send, *conc, *duration)
	cpu := processCPU() - cpu0
	if *cpuprofile != "" {
		pprof.StopCPUProfile()
	}
	fmt.Printf("closed loop, %d clients, %s: %d certs, %.0f certs/s, p50 %s, p99 %s, max %s, errors %d\n",
		*conc, *duration, r.n, float64(r.n)/duration.Seconds(), r.pct(50), r.pct(99), r.pct(100), r.errors)
	// CPU cost per certificate (server and load generator together) tells
	// what the machine can do when the process is not sharing its cores.
	fmt.Printf("  process CPU %.2fs = %.0f µs per certificate (server + client), i.e. %.0f certs/s per fully used core\n",
		cpu.Seconds(), float64(cpu.Microseconds())/float64(max(r.n, 1)), float64(r.n)/cpu.Seconds())
	if *rate > 0 {
		r = openLoop(send, *rate, *duration)
		fmt.Printf("open loop, %d/s offered, %s: %d certs, %.0f certs/s, p50 %s, p99 %s, max %s, errors %d\n",
			*rate, *duration, r.n, float64(r.n)/duration.Seconds(), r.pct(50), r.pct(99), r.pct(100), r.errors)
	}
	return nil
}

// processCPU is the user+system CPU time this process has used.
func processCPU() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// loadGen sends pre-built requests over a pool of keep-alive connections.
type loadGen struct {
	addr string
	reqs [][]byte
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
	if _, err := rc.c.Write(lg.reqs[lg.seq.Add(1)%uint64(len(lg.reqs))]); err != nil {
		rc.c.Close()
		return err
	}
	resp, err := http.ReadResponse(rc.br, nil)
	if err != nil {
		rc.c.Close()
		return err
	}
	_, err = io.Copy(io.Discard, resp.Body)
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
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("status %d", resp.StatusCode)
	}
	return err
}

type result struct {
	n, errors int
	lat       []time.Duration
}

func (r *result) pct(p float64) time.Duration {
	if len(r.lat) == 0 {
		return 0
	}
	slices.Sort(r.lat)
	i := int(float64(len(r.lat))*p/100+0.5) - 1
	return r.lat[max(0, min(i, len(r.lat)-1))].Round(10 * time.Microsecond)
}

func (r *result) add(mu *sync.Mutex, d time.Duration, err error) {
	mu.Lock()
	defer mu.Unlock()
	if err != nil {
		r.errors++
		return
	}
	r.n++
	r.lat = append(r.lat, d)
}

func closedLoop(send func() error, conc int, d time.Duration) *result {
	r := &result{}
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

func openLoop(send func() error, rate int, d time.Duration) *result {
	r := &result{}
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

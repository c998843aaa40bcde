package bench

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Rekor measures POST /api/v{1,2}/log/entries of a running
// hallmark-log with hashedrekord entries, each with its own fresh ECDSA
// signature (signed before the clock starts, so the load generator's CPU
// goes to requests, not to signing).
func Rekor(args []string) error {
	fs := flag.NewFlagSet("rekor", flag.ExitOnError)
	api := fs.String("api", "v1", "Rekor API: v1 or v2")
	url := fs.String("url", "http://127.0.0.1:3000", "base URL of the log")
	n := fs.Int("entries", 20000, "entries per run")
	conc := fs.Int("concurrency", 256, "closed-loop concurrent clients")
	rate := fs.Int("rate", 1000, "offered rate (entries/s) of the open-loop run")
	fs.Parse(args)
	if *api != "v1" && *api != "v2" {
		return errors.New("--api must be v1 or v2")
	}
	endpoint := strings.TrimSuffix(*url, "/") + "/api/" + *api + "/log/entries"
	client := &http.Client{Timeout: 60 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: *conc + 16, MaxConnsPerHost: 0}}
	fmt.Printf("hallmark-bench rekor: POST %s, hashedrekord, fresh ECDSA P-256 signature per entry, cpus=%d %s\n", endpoint, numCPU(), cpuModel())

	closed, err := makeBodies(*api, *n)
	if err != nil {
		return err
	}
	r := httpLoad(client, endpoint, closed, *conc, 0)
	r.print("closed loop (max throughput)")
	open, err := makeBodies(*api, *n)
	if err != nil {
		return err
	}
	r = httpLoad(client, endpoint, open, 0, *rate)
	r.print(fmt.Sprintf("open loop at %d/s offered", *rate))
	return nil
}

// makeBodies signs n distinct artifacts and returns the request bodies.
func makeBodies(api string, n int) ([][]byte, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	der, _ := x509.MarshalPKIXPublicKey(key.Public())
	pemKey := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
	var prefix [16]byte
	rand.Read(prefix[:])
	bodies := make([][]byte, n)
	var wg sync.WaitGroup
	workers := numCPU()
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := w; i < n; i += workers {
				artifact := binary.BigEndian.AppendUint64(prefix[:], uint64(i))
				d := sha256.Sum256(artifact)
				sig, _ := ecdsa.SignASN1(rand.Reader, key, d[:])
				var v any
				if api == "v1" {
					v = map[string]any{"apiVersion": "0.0.1", "kind": "hashedrekord", "spec": map[string]any{
						"data":      map[string]any{"hash": map[string]any{"algorithm": "sha256", "value": hex.EncodeToString(d[:])}},
						"signature": map[string]any{"content": sig, "publicKey": map[string]any{"content": pemKey}},
					}}
				} else {
					v = map[string]any{"hashedRekordRequestV002": map[string]any{
						"digest": d[:],
						"signature": map[string]any{"content": sig, "verifier": map[string]any{
							"keyDetails": "PKIX_ECDSA_P256_SHA_256", "publicKey": map[string]any{"rawBytes": der}}},
					}}
				}
				bodies[i], _ = json.Marshal(v)
			}
		}(w)
	}
	wg.Wait()
	return bodies, nil
}

// httpLoad posts every body, either from conc closed-loop clients or on
// an open-loop schedule of rate per second, and records latencies.
func httpLoad(client *http.Client, endpoint string, bodies [][]byte, conc, rate int) *result {
	return drive(bodies, conc, rate, func(body []byte) bool {
		resp, err := client.Post(endpoint, "application/json", bytes.NewReader(body))
		if err != nil {
			return false
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode == http.StatusCreated
	})
}

// drive sends every body once through send, either from conc closed-loop
// clients or, when rate > 0, on an open-loop schedule of rate per second,
// and records the latency of each successful send.
func drive(bodies [][]byte, conc, rate int, send func([]byte) bool) *result {
	res := &result{lat: make([]time.Duration, 0, len(bodies))}
	var mu sync.Mutex
	one := func(body []byte) {
		start := time.Now()
		ok := send(body)
		d := time.Since(start)
		mu.Lock()
		defer mu.Unlock()
		if !ok {
			res.errors++
			return
		}
		res.lat = append(res.lat, d)
	}
	start := time.Now()
	var wg sync.WaitGroup
	if rate == 0 {
		var next atomic.Int64
		for w := 0; w < conc; w++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := next.Add(1) - 1; i < int64(len(bodies)); i = next.Add(1) - 1 {
					one(bodies[i])
				}
			}()
		}
	} else {
		interval := time.Second / time.Duration(rate)
		for i, b := range bodies {
			if d := time.Until(start.Add(time.Duration(i) * interval)); d > 0 {
				time.Sleep(d)
			}
			wg.Add(1)
			go func() { defer wg.Done(); one(b) }()
		}
	}
	wg.Wait()
	res.elapsed = time.Since(start)
	res.n = len(res.lat)
	return res
}

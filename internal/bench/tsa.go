package bench

import (
	"bytes"
	"crypto"
	"crypto/rand"
	"crypto/sha256"
	"flag"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"strings"
	"time"

	"github.com/digitorus/timestamp"
)

// TSA measures POST /api/v1/timestamp of a running hallmark-ca
// (or `hallmark dev`) with DER requests as cosign sends them (SHA-256
// imprint, certReq, 64-bit nonce), each for a distinct digest, built
// before the clock starts. Every reply is checked to be a granted
// TimeStampResp; anything else counts as an error.
func TSA(args []string) error {
	fs := flag.NewFlagSet("tsa", flag.ExitOnError)
	url := fs.String("url", "http://127.0.0.1:5555/api/v1/timestamp", "timestamp endpoint")
	n := fs.Int("requests", 50000, "requests per run")
	conc := fs.Int("concurrency", 64, "closed-loop concurrent clients")
	rate := fs.Int("rate", 2000, "offered rate (requests/s) of the open-loop run; 0 skips it")
	fs.Parse(args)
	bodies := make([][]byte, *n)
	for i := range bodies {
		var seed [16]byte
		rand.Read(seed[:])
		d := sha256.Sum256(seed[:])
		nonce := new(big.Int).SetBytes(seed[:8])
		req := &timestamp.Request{HashAlgorithm: crypto.SHA256, HashedMessage: d[:], Certificates: true, Nonce: nonce}
		var err error
		if bodies[i], err = req.Marshal(); err != nil {
			return err
		}
	}
	client := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: *conc + 16}}
	fmt.Printf("hallmark-bench tsa: POST %s, DER TimeStampReq (SHA-256, certReq, nonce), cpus=%d %s\n", *url, numCPU(), cpuModel())
	tsaLoad(client, *url, bodies[:min(len(bodies), 2000)], *conc, 0) // warm up connections
	tsaLoad(client, *url, bodies, *conc, 0).print(fmt.Sprintf("closed loop, %d clients", *conc))
	if *rate > 0 {
		tsaLoad(client, *url, bodies[:min(len(bodies), *rate*10)], 0, *rate).print(fmt.Sprintf("open loop at %d/s offered", *rate))
	}
	return nil
}

// tsaLoad posts every body once: with conc clients in a closed loop, or
// at rate requests/s (open loop) when conc is 0.
func tsaLoad(client *http.Client, url string, bodies [][]byte, conc, rate int) *result {
	return drive(bodies, conc, rate, func(body []byte) bool {
		resp, err := client.Post(url, "application/timestamp-query", bytes.NewReader(body))
		if err != nil {
			return false
		}
		reply, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		// A granted reply starts SEQUENCE { SEQUENCE { INTEGER 0 ...
		return resp.StatusCode == http.StatusOK && len(reply) > 200 && strings.Contains(resp.Header.Get("Content-Type"), "timestamp-reply")
	})
}

// Command bodyflood measures what large request bodies in flight cost a
// Hallmark process: it keeps -conns connections each POSTing a -bytes body
// to -attack, while one honest client POSTs -honest-body to -honest, for
// -duration, and samples the resident memory of -pid. Loopback only.
//
//	go run ./internal/tools/bodyflood -pid $(pgrep -n hallmark-log) \
//	    -attack http://127.0.0.1:3000/api/v1/log/entries \
//	    -honest http://127.0.0.1:3000/tiles/entries -conns 200 -bytes 4000000 -duration 20s
//
// With -grpc host:port it floods a gRPC listener instead, with health
// checks whose request names a -bytes service.
//
// It prints the peak RSS (VmHWM) and the RSS at the end, and the statuses
// seen by the attackers and the honest client. docs/BENCHMARKS.md has the
// numbers.
package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"sort"
	"strings"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	grpcstatus "google.golang.org/grpc/status"
)

func main() {
	pid := flag.Int("pid", 0, "process whose resident memory is sampled")
	attack := flag.String("attack", "", "URL the large bodies are POSTed to")
	honest := flag.String("honest", "", "URL the honest client POSTs to (optional)")
	honestBody := flag.String("honest-body", "", "honest body; default 200 random bytes, hex")
	conns := flag.Int("conns", 200, "concurrent attacking connections")
	size := flag.Int("bytes", 4_000_000, "size of each attacking body")
	duration := flag.Duration("duration", 20*time.Second, "how long to run (at most 5m)")
	grpcAddr := flag.String("grpc", "", "host:port of a gRPC listener: attack it instead of -attack, with health checks naming a -bytes service")
	flag.Parse()
	if *grpcAddr != "" {
		*attack = "http://" + *grpcAddr
	}
	if err := run(*pid, *attack, *grpcAddr, *honest, *honestBody, *conns, *size, *duration); err != nil {
		fmt.Fprintln(os.Stderr, "bodyflood:", err)
		os.Exit(1)
	}
}

// loopback checks that u names a loopback address.
func loopback(u string) error {
	pu, err := url.Parse(u)
	if err != nil {
		return err
	}
	ip := net.ParseIP(pu.Hostname())
	if ip == nil || !ip.IsLoopback() {
		return fmt.Errorf("%s is not a loopback IP address", u)
	}
	return nil
}

type tally struct {
	mu sync.Mutex
	n  map[string]int
}

func (t *tally) add(k string) {
	t.mu.Lock()
	t.n[k]++
	t.mu.Unlock()
}

func (t *tally) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	var keys []string
	for k := range t.n {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	for _, k := range keys {
		fmt.Fprintf(&b, " %s:%d", k, t.n[k])
	}
	return b.String()
}

func post(ctx context.Context, c *http.Client, u string, body []byte, t *tally) {
	req, err := http.NewRequestWithContext(ctx, "POST", u, bytes.NewReader(body))
	if err != nil {
		t.add("error")
		return
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.Do(req)
	if err != nil {
		if ctx.Err() == nil {
			t.add("error")
		}
		return
	}
	io.Copy(io.Discard, resp.Body) //nolint:errcheck
	resp.Body.Close()
	t.add(fmt.Sprint(resp.StatusCode))
}

func run(pid int, attack, grpcAddr, honest, honestBody string, conns, size int, d time.Duration) error {
	if pid == 0 || attack == "" {
		return fmt.Errorf("-pid and -attack are required")
	}
	if d > 5*time.Minute {
		return fmt.Errorf("-duration is at most 5m")
	}
	for _, u := range []string{attack, honest} {
		if u == "" {
			continue
		}
		if err := loopback(u); err != nil {
			return err
		}
	}
	before, _ := rss(pid)
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	big := bytes.Repeat([]byte("a"), size)
	attackers, honests := &tally{n: map[string]int{}}, &tally{n: map[string]int{}}
	var latencies []time.Duration
	var wg sync.WaitGroup
	for i := 0; i < conns && grpcAddr != ""; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			floodGRPC(ctx, grpcAddr, string(big), attackers)
		}()
	}
	for i := 0; i < conns && grpcAddr == ""; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 1}, Timeout: 60 * time.Second}
			for ctx.Err() == nil {
				post(ctx, c, attack, big, attackers)
			}
		}()
	}
	if honest != "" {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := &http.Client{Timeout: 10 * time.Second}
			for ctx.Err() == nil {
				body := []byte(honestBody)
				if honestBody == "" {
					r := make([]byte, 100)
					rand.Read(r)
					body = []byte(fmt.Sprintf("%x", r))
				}
				start := time.Now()
				post(ctx, c, honest, body, honests)
				latencies = append(latencies, time.Since(start))
				time.Sleep(50 * time.Millisecond)
			}
		}()
	}
	var peak int64
	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
sample:
	for {
		select {
		case <-ctx.Done():
			break sample
		case <-tick.C:
			if r, err := rss(pid); err == nil && r > peak {
				peak = r
			}
		}
	}
	wg.Wait()
	after, _ := rss(pid)
	hwm, _ := status(pid, "VmHWM:")
	sort.Slice(latencies, func(i, j int) bool { return latencies[i] < latencies[j] })
	fmt.Printf("RSS before %d MiB, peak sampled %d MiB, VmHWM %d MiB, after %d MiB\n", before>>20, peak>>20, hwm>>20, after>>20)
	fmt.Printf("attackers (%d × %d bytes):%s\n", conns, size, attackers)
	if honest != "" && len(latencies) > 0 {
		fmt.Printf("honest:%s; latency p50 %v, max %v\n", honests, latencies[len(latencies)/2].Round(time.Millisecond), latencies[len(latencies)-1].Round(time.Millisecond))
	}
	return nil
}

// floodGRPC sends health checks naming a huge service on its own
// connection until ctx ends.
func floodGRPC(ctx context.Context, addr, service string, t *tally) {
	cc, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithDefaultCallOptions(grpc.MaxCallSendMsgSize(len(service)+64)))
	if err != nil {
		t.add("error")
		return
	}
	defer cc.Close()
	c := healthpb.NewHealthClient(cc)
	for ctx.Err() == nil {
		_, err := c.Check(ctx, &healthpb.HealthCheckRequest{Service: service})
		if ctx.Err() == nil {
			t.add(grpcstatus.Code(err).String())
		}
	}
}

func rss(pid int) (int64, error) { return status(pid, "VmRSS:") }

// status reads a "kB" field of /proc/<pid>/status, in bytes.
func status(pid int, field string) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, field) {
			var kb int64
			fmt.Sscan(strings.TrimSpace(strings.TrimPrefix(line, field)), &kb)
			return kb << 10, nil
		}
	}
	return 0, fmt.Errorf("no %s in /proc/%d/status", field, pid)
}

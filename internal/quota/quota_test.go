package quota

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"gopkg.in/yaml.v3"
)

// clock is a manual clock for tests.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Date(2026, 12, 7, 0, 0, 0, 0, time.UTC)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func TestBucket(t *testing.T) {
	c := newClock()
	reg := prometheus.NewRegistry()
	m := NewMetrics("test", "log", reg)
	l := New(Options{Limit: Limit{Rate: 2, Burst: 3}, Scope: "per client address", Label: "v1", Metrics: m, Now: c.Now})
	for i := range 3 {
		if ok, _ := l.Allow("a"); !ok {
			t.Fatalf("request %d of the burst refused", i)
		}
	}
	ok, wait := l.Allow("a")
	if ok || wait != 500*time.Millisecond {
		t.Fatalf("after the burst: ok=%v wait=%v, want refused for 500ms", ok, wait)
	}
	// Another key has its own bucket.
	if ok, _ := l.Allow("b"); !ok {
		t.Fatal("an untouched key was refused")
	}
	// Refused requests take nothing: half the wait later there is still
	// no token, and the wait shrank by what passed.
	c.Advance(250 * time.Millisecond)
	if ok, wait := l.Allow("a"); ok || wait != 250*time.Millisecond {
		t.Fatalf("half way: ok=%v wait=%v", ok, wait)
	}
	c.Advance(250 * time.Millisecond)
	if ok, _ := l.Allow("a"); !ok {
		t.Fatal("refused after the announced wait")
	}
	// A long pause refills to the burst, not beyond.
	c.Advance(time.Hour)
	for i := range 3 {
		if ok, _ := l.Allow("a"); !ok {
			t.Fatalf("request %d after a pause refused", i)
		}
	}
	if ok, _ := l.Allow("a"); ok {
		t.Fatal("a pause refilled beyond the burst")
	}
	// A clock going backwards gives nothing.
	c.Advance(-time.Minute)
	if ok, _ := l.Allow("a"); ok {
		t.Fatal("a clock going backwards gave a token")
	}
	if n := testutil.ToFloat64(m.limited.WithLabelValues("per client address", "v1")); n != 4 {
		t.Errorf("limited metric %v, want 4", n)
	}
	if n := testutil.ToFloat64(m.allowed.WithLabelValues("per client address", "v1")); n != 8 {
		t.Errorf("allowed metric %v, want 8", n)
	}
	if n := testutil.ToFloat64(m.keys.WithLabelValues("per client address", "v1")); n != 2 {
		t.Errorf("keys metric %v, want 2", n)
	}

	// Check wraps ErrLimited and says which limit and when.
	err := l.Check("a")
	if !errors.Is(err, ErrLimited) {
		t.Fatalf("Check: %v", err)
	}
	if d, ok := RetryAfter(fmt.Errorf("context: %w", err)); !ok || d <= 0 {
		t.Errorf("RetryAfter through a wrap: %v %v", d, ok)
	}
	if want := "quota exceeded: the per client address limit (2 per 1s, burst 3) is used up, retry after 1s"; err.Error() != want {
		t.Errorf("message %q, want %q", err, want)
	}
}

func TestNilLimiter(t *testing.T) {
	l := New(Options{Limit: Limit{}})
	if l != nil {
		t.Fatal("an unlimited Limit built a Limiter")
	}
	if ok, _ := l.Allow("x"); !ok || l.Check("x") != nil || l.Keys() != 0 || l.Limit().Enabled() {
		t.Fatal("a nil Limiter refused or tracked something")
	}
}

func TestLimitConfig(t *testing.T) {
	var l Limit
	if err := yaml.Unmarshal([]byte("{rate: 30, per: 1m, burst: 10}"), &l); err != nil {
		t.Fatal(err)
	}
	if l != (Limit{Rate: 30, Per: time.Minute, Burst: 10}) || l.perSecond() != 0.5 {
		t.Fatalf("decoded %+v", l)
	}
	for _, tc := range []struct {
		l   Limit
		bad bool
	}{
		{Limit{}, false},
		{Limit{Rate: 1}, false},
		{Limit{Rate: 0.5, Per: time.Hour, Burst: 2}, false},
		{Limit{Rate: -1}, true},
		{Limit{Burst: 3}, true},
		{Limit{Rate: 1, Per: -time.Second}, true},
		{Limit{Rate: 1, Burst: -1}, true},
		{Limit{Rate: 1, Per: 24 * 365 * time.Hour}, true},
	} {
		if err := tc.l.Validate(); (err != nil) != tc.bad {
			t.Errorf("Validate(%+v) = %v", tc.l, err)
		}
	}
	// Default burst: the rate rounded up.
	if b := (Limit{Rate: 2.5}).burst(); b != 3 {
		t.Errorf("default burst %d", b)
	}
	if b := (Limit{Rate: 0.1}).burst(); b != 1 {
		t.Errorf("default burst of a slow rate %d", b)
	}
	// Per replica: rate and burst divided, burst rounded up.
	if got := (Limit{Rate: 10, Burst: 5}).PerReplica(3); got.Rate != 10.0/3 || got.Burst != 2 {
		t.Errorf("PerReplica(3) = %+v", got)
	}
	if got := (Limit{Rate: 10}).PerReplica(4); got.Burst != 3 {
		t.Errorf("PerReplica of the default burst = %+v", got)
	}
	if got := (Limit{Rate: 10, Burst: 2}).PerReplica(8); got.Burst != 1 {
		t.Errorf("PerReplica keeps a burst of at least 1: %+v", got)
	}
	if got := (Limit{}).PerReplica(3); got.Enabled() {
		t.Errorf("PerReplica enabled an unlimited Limit: %+v", got)
	}
	// Or: an override replaces the default whole.
	def := Limit{Rate: 5, Burst: 10}
	if (Limit{}).Or(def) != def || (Limit{Rate: 1}).Or(def) != (Limit{Rate: 1}) {
		t.Error("Or")
	}
	for d, want := range map[time.Duration]string{0: "1", time.Millisecond: "1", 1500 * time.Millisecond: "2", 3 * time.Second: "3"} {
		if got := RetryAfterSeconds(d); got != want {
			t.Errorf("RetryAfterSeconds(%v) = %s, want %s", d, got, want)
		}
	}
}

// TestConcurrent: concurrent callers of one key get exactly the burst.
func TestConcurrent(t *testing.T) {
	c := newClock()
	l := New(Options{Limit: Limit{Rate: 1, Burst: 100}, Now: c.Now})
	var allowed atomic.Int64
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 50 {
				if ok, _ := l.Allow("k"); ok {
					allowed.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	if n := allowed.Load(); n != 100 {
		t.Fatalf("%d allowed, want the burst of 100", n)
	}
}

// TestMemoryBound: a caller cycling through 200,000 keys never makes
// the limiter track more than MaxKeys; the keys it pushed out early are
// counted; once callers go quiet new keys clear the idle ones.
func TestMemoryBound(t *testing.T) {
	c := newClock()
	reg := prometheus.NewRegistry()
	m := NewMetrics("test", "issuer", reg)
	const maxKeys = 4096
	l := New(Options{Limit: Limit{Rate: 1, Per: time.Minute, Burst: 2}, Scope: "per identity", MaxKeys: maxKeys, Metrics: m, Now: c.Now})
	// A victim key used its quota.
	l.Allow("victim")
	l.Allow("victim")
	if ok, _ := l.Allow("victim"); ok {
		t.Fatal("victim not limited")
	}

	runtime.GC()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	const cycled = 200_000
	long := strings.Repeat("x", 1000)
	for i := range cycled {
		key := fmt.Sprint(i)
		if i%2 == 1 {
			key = long + key // long keys cost no more than short ones
		}
		l.Allow(key)
		if i%20_000 == 0 && l.Keys() > maxKeys {
			t.Fatalf("after %d keys the limiter tracks %d > %d", i, l.Keys(), maxKeys)
		}
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	n := l.Keys()
	if n > maxKeys || n < maxKeys*9/10 {
		t.Fatalf("tracks %d keys, want about %d", n, maxKeys)
	}
	perKey := (int64(after.HeapAlloc) - int64(before.HeapAlloc)) / int64(n)
	t.Logf("%d keys tracked after %d cycled, about %d bytes a key", n, cycled, perKey)
	if perKey > 400 {
		t.Errorf("%d bytes a key", perKey)
	}
	if g := testutil.ToFloat64(m.keys.WithLabelValues("per identity", "")); int(g) != n {
		t.Errorf("keys gauge %v, tracked %d", g, n)
	}
	if e := testutil.ToFloat64(m.evicted.WithLabelValues("per identity", "")); e < cycled-maxKeys {
		t.Errorf("evicted metric %v, want at least %d", e, cycled-maxKeys)
	}
	// The victim was forgotten: that is the price of the bound.
	if ok, _ := l.Allow("victim"); !ok {
		t.Error("victim still tracked after 200,000 other keys")
	}
	// Idle keys go as new ones arrive once their buckets refilled.
	c.Advance(2 * time.Minute)
	for i := range 3 * maxKeys {
		l.Allow(fmt.Sprint("late", i%256))
	}
	if n := l.Keys(); n > 256 {
		t.Errorf("after the keys went idle the limiter still tracks %d", n)
	}
	if g := testutil.ToFloat64(m.keys.WithLabelValues("per identity", "")); int(g) != l.Keys() {
		t.Errorf("keys gauge %v, tracked %d", g, l.Keys())
	}
}

// TestLongKeys: keys longer than the stored size stay distinct, and a
// short key cannot stand for a long one.
func TestLongKeys(t *testing.T) {
	c := newClock()
	l := New(Options{Limit: Limit{Rate: 1, Burst: 1}, Now: c.Now})
	a := strings.Repeat("a", 200) + "1"
	b := strings.Repeat("a", 200) + "2"
	if ok, _ := l.Allow(a); !ok {
		t.Fatal("a")
	}
	if ok, _ := l.Allow(b); !ok {
		t.Fatal("b shares a's bucket")
	}
	if ok, _ := l.Allow(a); ok {
		t.Fatal("a's second request allowed")
	}
	if ok, _ := l.Allow(storedKey(a)); !ok {
		t.Fatal("a short key equal to a long key's stored form shares its bucket")
	}
	if len(storedKey(a)) > maxKeyBytes {
		t.Fatalf("stored key of %d bytes", len(storedKey(a)))
	}
}

func TestClient(t *testing.T) {
	proxies, err := ParseProxies([]string{"10.0.0.0/8", "192.0.2.1", "2001:db8::/32"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ParseProxies([]string{"10.0.0.0/40"}); err == nil {
		t.Error("a bad prefix parsed")
	}
	if _, err := ParseProxies([]string{"proxy.example"}); err == nil {
		t.Error("a host name parsed")
	}
	for _, tc := range []struct {
		proxies Proxies
		remote  string
		xff     []string
		want    string
	}{
		{nil, "198.51.100.7:4000", nil, "198.51.100.7"},
		// No trusted proxies: the header is the client's word, ignored.
		{nil, "198.51.100.7:4000", []string{"203.0.113.9"}, "198.51.100.7"},
		// From a peer that is not a trusted proxy: ignored too.
		{proxies, "198.51.100.7:4000", []string{"203.0.113.9"}, "198.51.100.7"},
		// Through a trusted proxy: the address it added.
		{proxies, "10.1.2.3:4000", []string{"203.0.113.9"}, "203.0.113.9"},
		// A forged leftmost value is passed over: the first untrusted hop
		// from the right is the client.
		{proxies, "10.1.2.3:4000", []string{"1.2.3.4, 203.0.113.9, 10.9.9.9"}, "203.0.113.9"},
		{proxies, "10.1.2.3:4000", []string{"1.2.3.4", "203.0.113.9", "10.9.9.9"}, "203.0.113.9"},
		// Garbage behind a trusted hop: the hop that forwarded it.
		{proxies, "10.1.2.3:4000", []string{"garbage, 192.0.2.1"}, "192.0.2.1"},
		// Only trusted proxies: the leftmost.
		{proxies, "10.1.2.3:4000", []string{"10.5.5.5, 192.0.2.1"}, "10.5.5.5"},
		// A trusted proxy with no header is the client.
		{proxies, "10.1.2.3:4000", nil, "10.1.2.3"},
		// Ports in the header, mapped addresses.
		{proxies, "10.1.2.3:4000", []string{"203.0.113.9:555"}, "203.0.113.9"},
		{proxies, "[::ffff:10.1.2.3]:4000", []string{"::ffff:203.0.113.9"}, "203.0.113.9"},
		// IPv6 clients are keyed by their /64.
		{nil, "[2001:db9:1:2:3:4:5:6]:443", nil, "2001:db9:1:2::/64"},
		{proxies, "[2001:db8::1]:443", []string{"2001:db9:1:2:ffff::1"}, "2001:db9:1:2::/64"},
		{nil, "@", nil, "unknown"},
	} {
		if got := AddressKey(tc.proxies.Client(tc.remote, tc.xff)); got != tc.want {
			t.Errorf("Client(%q, %q) with %d proxies = %s, want %s", tc.remote, tc.xff, len(tc.proxies), got, tc.want)
		}
	}
	var cfg struct {
		P Proxies `yaml:"trusted_proxies"`
	}
	if err := yaml.Unmarshal([]byte(`trusted_proxies: ["10.0.0.0/8", "::1"]`), &cfg); err != nil || len(cfg.P) != 2 || cfg.P[1] != netip.MustParsePrefix("::1/128") {
		t.Errorf("YAML: %v %v", cfg.P, err)
	}
	if err := yaml.Unmarshal([]byte(`trusted_proxies: ["10.0.0.0/99"]`), &cfg); err == nil {
		t.Error("YAML accepted a bad prefix")
	}
}

func TestGRPCStatus(t *testing.T) {
	l := New(Options{Limit: Limit{Rate: 1, Burst: 1}, Scope: "total", Now: newClock().Now})
	l.Allow("")
	err := fmt.Errorf("log v2: %w", l.Check(""))
	st := GRPCStatus(context.Background(), err)
	if st == nil || st.Code() != codes.ResourceExhausted || !strings.Contains(st.Message(), "total limit") {
		t.Fatalf("status %v", st)
	}
	var info *errdetails.RetryInfo
	for _, d := range st.Details() {
		if ri, ok := d.(*errdetails.RetryInfo); ok {
			info = ri
		}
	}
	if info == nil || info.RetryDelay.AsDuration() != time.Second {
		t.Errorf("retry info %v", info)
	}
	if GRPCStatus(context.Background(), errors.New("other")) != nil {
		t.Error("a status for an error that is not a refusal")
	}
}

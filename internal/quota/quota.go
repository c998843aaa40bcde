// Package quota limits how much one caller may ask of a Hallmark service:
// token buckets keyed by a string (a client address, an identity, or one
// key for a whole log or CA), in bounded memory, answered before the
// request costs anything.
//
// State is kept per replica. A deployment of N replicas sets replicas: N
// and every limit is divided by N (Limit.PerReplica), so that the limits
// hold for the deployment as long as the load balancer spreads a caller's
// requests over the replicas. Sharing buckets through PostgreSQL would be
// exact, but it would cost a database round trip (or a batching delay) on
// every request, including the refused ones a quota exists to make cheap,
// and it would make the database the place where a flood lands.
//
// A Limiter tracks at most MaxKeys keys. A bucket that refilled is the
// same as no bucket, so idle keys are dropped as they are found and a full
// limiter evicts the least recently used key: a caller cycling through
// keys never grows memory past the bound; what it can gain is a fresh
// burst for keys it made the limiter forget, which the evicted metric
// counts (and the total limit bounds anyway).
package quota

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"hash/maphash"
	"math"
	"strconv"
	"sync"
	"time"

	"github.com/hashicorp/golang-lru/v2/simplelru"
)

// Limit is a token bucket: Rate requests per Per on average, Burst at
// once. A zero Rate means no limit.
type Limit struct {
	// Rate is how many requests are allowed per Per, on average; 0 (the
	// default) means unlimited.
	Rate float64 `yaml:"rate"`
	// Per is the period of Rate (default 1s): rate: 60, per: 1m.
	Per time.Duration `yaml:"per"`
	// Burst is how many requests may come at once after a quiet period
	// (default: Rate rounded up, at least 1).
	Burst int `yaml:"burst"`
}

// Enabled reports whether l limits anything.
func (l Limit) Enabled() bool { return l.Rate > 0 }

// Validate checks l's fields.
func (l Limit) Validate() error {
	switch {
	case l.Rate < 0 || math.IsNaN(l.Rate) || math.IsInf(l.Rate, 0):
		return fmt.Errorf("rate %v must be a positive number (or 0 for no limit)", l.Rate)
	case l.Per < 0:
		return fmt.Errorf("per %v must be positive", l.Per)
	case l.Burst < 0:
		return fmt.Errorf("burst %d must be positive", l.Burst)
	case !l.Enabled() && (l.Per != 0 || l.Burst != 0):
		return errors.New("per and burst need a rate")
	case l.Enabled() && l.perSecond() < 1e-6:
		return fmt.Errorf("rate %v per %v is below one request per 11 days", l.Rate, l.Per)
	}
	return nil
}

// Or returns l if it is set (any field non-zero), else def: a per-log or
// per-issuer Limit overrides the service default.
func (l Limit) Or(def Limit) Limit {
	if l == (Limit{}) {
		return def
	}
	return l
}

// PerReplica returns the share of l one of n replicas enforces: the rate
// divided by n and the burst divided by n, rounded up (at least 1).
func (l Limit) PerReplica(n int) Limit {
	if n <= 1 || !l.Enabled() {
		return l
	}
	b := l.burst()
	return Limit{Rate: l.Rate / float64(n), Per: l.Per, Burst: max(1, int(math.Ceil(float64(b)/float64(n))))}
}

func (l Limit) perSecond() float64 {
	per := l.Per
	if per == 0 {
		per = time.Second
	}
	return l.Rate / per.Seconds()
}

func (l Limit) burst() int {
	if l.Burst > 0 {
		return l.Burst
	}
	return max(1, int(math.Ceil(l.Rate)))
}

// String describes l for error messages: "10 per 1s, burst 20".
func (l Limit) String() string {
	if !l.Enabled() {
		return "unlimited"
	}
	per := l.Per
	if per == 0 {
		per = time.Second
	}
	return fmt.Sprintf("%v per %v, burst %d", l.Rate, per, l.burst())
}

// ErrLimited is wrapped by every refusal (a *LimitedError): the services
// map it to 429 Too Many Requests with Retry-After, and gRPC's
// ResourceExhausted with a RetryInfo.
var ErrLimited = errors.New("quota exceeded")

// LimitedError is a refusal by a Limiter.
type LimitedError struct {
	// Scope says which limit refused: "per client address", "per
	// identity", "total"...
	Scope string
	// Limit is the limit that refused, as enforced by this replica.
	Limit Limit
	// RetryAfter is when the next request would be allowed.
	RetryAfter time.Duration
}

func (e *LimitedError) Error() string {
	return fmt.Sprintf("%v: the %s limit (%v) is used up, retry after %s", ErrLimited, e.Scope, e.Limit, RetryAfterSeconds(e.RetryAfter)+"s")
}

func (e *LimitedError) Unwrap() error { return ErrLimited }

// RetryAfter returns the wait of the *LimitedError in err's chain.
func RetryAfter(err error) (time.Duration, bool) {
	var le *LimitedError
	if errors.As(err, &le) {
		return le.RetryAfter, true
	}
	return 0, false
}

// RetryAfterSeconds formats d for a Retry-After header: whole seconds,
// rounded up, at least 1.
func RetryAfterSeconds(d time.Duration) string {
	return strconv.FormatInt(max(1, int64(math.Ceil(d.Seconds()))), 10)
}

// DefaultMaxKeys is the number of keys a Limiter tracks when Options do
// not say: about 13 MiB at worst (TestMemoryBound measures ~200 bytes a
// key).
const DefaultMaxKeys = 65536

// maxKeyBytes bounds a stored key: longer keys are stored as their
// SHA-256, so a key's memory does not depend on its length.
const maxKeyBytes = 64

const shards = 16

// Options configure a Limiter.
type Options struct {
	Limit Limit
	// Scope names the limit in errors and is the metrics' scope label:
	// "per client address", "per identity", "total".
	Scope string
	// Label is the value of the metrics' second label (the log, or the
	// issuer); may be empty.
	Label string
	// MaxKeys bounds the keys tracked (DefaultMaxKeys when 0).
	MaxKeys int
	// Metrics may be nil.
	Metrics *Metrics
	// Now is the clock (time.Now when nil).
	Now func() time.Time
}

// Limiter is a set of token buckets, one per key. Its methods may be
// called concurrently. A nil *Limiter allows everything.
type Limiter struct {
	limit       Limit
	rate, burst float64 // tokens per second, bucket size
	scope       string
	now         func() time.Time
	seed        maphash.Seed
	shards      [shards]shard
	m           limiterMetrics
}

type shard struct {
	mu  sync.Mutex
	lru *simplelru.LRU[string, *bucket]
	max int // keys; the LRU is one larger, so this code evicts, not it
}

// bucket holds tokens as of last.
type bucket struct {
	tokens float64
	last   time.Time
}

// New returns a Limiter, or nil when o.Limit is not enabled.
func New(o Options) *Limiter {
	if !o.Limit.Enabled() {
		return nil
	}
	if o.MaxKeys <= 0 {
		o.MaxKeys = DefaultMaxKeys
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	l := &Limiter{limit: o.Limit, rate: o.Limit.perSecond(), burst: float64(o.Limit.burst()),
		scope: o.Scope, now: o.Now, seed: maphash.MakeSeed(), m: o.Metrics.forLimiter(o.Scope, o.Label)}
	per := max(1, (o.MaxKeys+shards-1)/shards)
	for i := range l.shards {
		l.shards[i].max = per
		l.shards[i].lru, _ = simplelru.NewLRU[string, *bucket](per+1, nil) // err only for size <= 0
	}
	return l
}

// Limit returns the limit l enforces.
func (l *Limiter) Limit() Limit {
	if l == nil {
		return Limit{}
	}
	return l.limit
}

// Allow takes a token from key's bucket. When there is none it reports
// false and how long until there will be one.
func (l *Limiter) Allow(key string) (ok bool, retryAfter time.Duration) {
	if l == nil {
		return true, 0
	}
	key = storedKey(key)
	s := &l.shards[maphash.String(l.seed, key)%shards]
	now := l.now()

	s.mu.Lock()
	l.dropIdle(s, now)
	b, found := s.lru.Get(key)
	if !found {
		if s.lru.Len() >= s.max {
			if _, old, _ := s.lru.RemoveOldest(); l.refill(old, now) < l.burst {
				l.m.evicted.Inc()
			}
			l.m.keys.Dec()
		}
		b = &bucket{tokens: l.burst, last: now}
		s.lru.Add(key, b)
		l.m.keys.Inc()
	}
	b.tokens = l.refill(b, now)
	b.last = now
	if b.tokens >= 1 {
		b.tokens--
		s.mu.Unlock()
		l.m.allowed.Inc()
		return true, 0
	}
	missing := 1 - b.tokens
	s.mu.Unlock()
	l.m.limited.Inc()
	return false, time.Duration(math.Ceil(missing / l.rate * float64(time.Second)))
}

// Check is Allow as an error: nil, or a *LimitedError wrapping ErrLimited.
func (l *Limiter) Check(key string) error {
	if ok, wait := l.Allow(key); !ok {
		return &LimitedError{Scope: l.scope, Limit: l.limit, RetryAfter: wait}
	}
	return nil
}

// refill returns b's tokens at now, not past the burst. A clock that went
// backwards adds nothing.
func (l *Limiter) refill(b *bucket, now time.Time) float64 {
	if b == nil {
		return l.burst
	}
	elapsed := now.Sub(b.last).Seconds()
	if elapsed <= 0 {
		return b.tokens
	}
	return min(l.burst, b.tokens+elapsed*l.rate)
}

// dropIdle removes up to two least recently used keys whose buckets have
// refilled: they are indistinguishable from keys never seen, so memory
// shrinks back as callers go quiet (each call may drop two, and adds at
// most one). Call with s.mu held.
func (l *Limiter) dropIdle(s *shard, now time.Time) {
	for range 2 {
		_, b, ok := s.lru.GetOldest()
		if !ok || l.refill(b, now) < l.burst {
			return
		}
		s.lru.RemoveOldest()
		l.m.keys.Dec()
	}
}

// Keys returns the number of keys tracked.
func (l *Limiter) Keys() int {
	if l == nil {
		return 0
	}
	n := 0
	for i := range l.shards {
		s := &l.shards[i]
		s.mu.Lock()
		n += s.lru.Len()
		s.mu.Unlock()
	}
	return n
}

// storedKey bounds a key's size: a key longer than maxKeyBytes is kept as
// 0x01 followed by its SHA-256. A short key of that same form is hashed
// too, so a stored hash is never equal to a short key kept as it is.
func storedKey(key string) string {
	if len(key) <= maxKeyBytes && (len(key) != 1+sha256.Size || key[0] != 1) {
		return key
	}
	sum := sha256.Sum256([]byte(key))
	return "\x01" + string(sum[:])
}

// Package admission decides what a Hallmark service lets in, before it
// costs memory: a byte budget for request bodies in flight, shared by the
// HTTP and gRPC listeners of a process; a cap on connections per listener;
// and the timeouts and HTTP/2 limits that close connections which send
// nothing useful. hallmark-log (package api) and hallmark-ca (packages
// fulcioapi and tsaapi) each build one Controller.
//
// The budget is reserved before a body is read: an HTTP request reserves
// its Content-Length (or the route's body limit when the length is not
// declared, i.e. chunked), a gRPC stream reserves the largest message
// (gRPC declares no length) until its request is decoded, then only the
// decoded size. Refusals wrap the service's own overload sentinel, so each
// service turns them into 503 + Retry-After (gRPC Unavailable) in the one
// place where it maps errors.
package admission

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"
)

// SmallBytes is the size up to which a reservation is "small". A quarter
// of the budget is kept for small reservations, so that honest requests
// (hashedrekord entries, certificate and timestamp requests: a few KiB)
// keep being admitted while large bodies, which a slow sender can hold
// until the body timeout, fill the rest.
const SmallBytes = 64 << 10

// errBudget is the detail of a refusal; it is always wrapped with the
// service's overload sentinel.
var errBudget = errors.New("request bodies in flight fill the memory budget")

// budget counts bytes of request bodies in flight. Reservations that fit
// are granted at once, in any order: a small one may pass a large one that
// waits (waits are short and bounded, so the large one is not starved for
// longer than its wait).
type budget struct {
	total    int64 // every reservation
	largeCap int64 // reservations over SmallBytes

	mu        sync.Mutex
	used      int64
	usedLarge int64
	freed     chan struct{} // closed, and replaced, whenever bytes are released
}

func newBudget(total int64) *budget {
	return &budget{total: total, largeCap: total - total/4, freed: make(chan struct{})}
}

// fits reports whether n more bytes fit. Call with mu held.
func (b *budget) fits(n int64) bool {
	if b.used+n > b.total {
		return false
	}
	return n <= SmallBytes || b.usedLarge+n <= b.largeCap
}

// take reserves n bytes if they fit. Call with mu held.
func (b *budget) take(n int64) bool {
	if !b.fits(n) {
		return false
	}
	b.used += n
	if n > SmallBytes {
		b.usedLarge += n
	}
	return true
}

// give returns n bytes reserved with take. Call with mu held.
func (b *budget) give(n int64) {
	b.used -= n
	if n > SmallBytes {
		b.usedLarge -= n
	}
	close(b.freed)
	b.freed = make(chan struct{})
}

// reserve takes n bytes, waiting up to wait for them (not at all if wait
// is 0). It reports whether it had to wait.
func (b *budget) reserve(ctx context.Context, n int64, wait time.Duration) (waited bool, err error) {
	if n > b.total || (n > SmallBytes && n > b.largeCap) {
		return false, fmt.Errorf("%w: %d bytes can never fit a budget of %d", errBudget, n, b.total)
	}
	b.mu.Lock()
	if b.take(n) {
		b.mu.Unlock()
		return false, nil
	}
	freed := b.freed
	b.mu.Unlock()
	if wait <= 0 {
		return false, fmt.Errorf("%w (%d bytes)", errBudget, b.total)
	}
	timer := time.NewTimer(wait)
	defer timer.Stop()
	for {
		select {
		case <-freed:
		case <-timer.C:
			return true, fmt.Errorf("%w (%d bytes) for %v", errBudget, b.total, wait)
		case <-ctx.Done():
			return true, ctx.Err()
		}
		b.mu.Lock()
		if b.take(n) {
			b.mu.Unlock()
			return true, nil
		}
		freed = b.freed
		b.mu.Unlock()
	}
}

// inUse returns the bytes reserved.
func (b *budget) inUse() int64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.used
}

// Reservation is bytes of the budget held by one request. Its methods are
// safe for concurrent use; Release is idempotent.
type Reservation struct {
	b  *budget
	mu sync.Mutex
	n  int64
}

// Shrink lowers the reservation to n bytes (once a body is decoded, only
// what the handler keeps needs counting). It never grows it.
func (r *Reservation) Shrink(n int64) {
	if r == nil {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if n < 0 || n >= r.n {
		return
	}
	r.b.mu.Lock()
	r.b.give(r.n)
	r.b.used += n // cannot fail: the sum only went down
	if n > SmallBytes {
		r.b.usedLarge += n
	}
	r.b.mu.Unlock()
	r.n = n
}

// Release returns the reservation to the budget.
func (r *Reservation) Release() {
	if r == nil {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.n == 0 {
		return
	}
	r.b.mu.Lock()
	r.b.give(r.n)
	r.b.mu.Unlock()
	r.n = 0
}

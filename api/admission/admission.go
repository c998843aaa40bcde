package admission

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Limits are a service's admission limits; zero values take the defaults
// documented on each field (Defaults).
type Limits struct {
	// InflightBytes is the byte budget of request bodies in flight.
	InflightBytes int64
	// InflightWait is how long an HTTP request waits for budget before it
	// is refused; gRPC streams never wait (see GRPCServerOptions).
	InflightWait time.Duration
	// BodyTimeout bounds the time from admission to the whole body read.
	BodyTimeout time.Duration
	// MaxConnections caps open connections per listener.
	MaxConnections int
	// GRPCMaxStreams caps concurrent streams per gRPC connection.
	GRPCMaxStreams uint32
	// IdleTimeout closes connections without a request in flight.
	IdleTimeout time.Duration
	// MaxConnectionAge closes gRPC connections after this long (with
	// GOAWAY, and GRPCAgeGrace for the RPCs in flight).
	MaxConnectionAge time.Duration
}

// Fixed limits, documented in docs/log.md and docs/ca.md.
const (
	// HeaderTimeout bounds reading the request headers (HTTP) and the
	// HTTP/2 preface and settings (gRPC).
	HeaderTimeout = 10 * time.Second
	// MaxHeaderBytes bounds the request headers (HTTP) and header list
	// (gRPC): a token is a few KiB.
	MaxHeaderBytes = 64 << 10
	// GRPCAgeGrace is how long RPCs in flight may finish once a connection
	// reached MaxConnectionAge.
	GRPCAgeGrace = 30 * time.Second
	// GRPCKeepaliveMinTime is the shortest interval between client pings
	// accepted; pings without a stream are refused. Clients that ping
	// more often get GOAWAY (too_many_pings).
	GRPCKeepaliveMinTime = 30 * time.Second
	// GRPCStreamWindow and GRPCConnWindow are fixed HTTP/2 flow-control
	// windows (no BDP growth): what a connection may send beyond what the
	// server read is bounded by GRPCConnWindow.
	GRPCStreamWindow = 64 << 10
	GRPCConnWindow   = 256 << 10
	// WriteTimeout bounds writing an HTTP response.
	WriteTimeout = 60 * time.Second
	// TooLargeDrainBytes is the largest declared body that is read and
	// discarded after a refusal (413, 429) is written (RefuseUnread): most
	// HTTP clients write their whole body before reading the answer, and a
	// connection closed under a body still being written resets, so the
	// client reports the reset instead of the refusal. Reading costs the
	// sender's bandwidth and an 8 KiB buffer, never the budget; larger
	// bodies, and senders that asked for 100-continue, are not read.
	TooLargeDrainBytes = 64 << 20
	// DiscardTimeout bounds RefuseUnread outside the Controller (quota
	// refusals), which uses BodyTimeout.
	DiscardTimeout = 10 * time.Second
)

// Defaults fills zero fields with the defaults: a 64 MiB budget, a 1 s
// wait, a 30 s body timeout, 512 connections per listener, 100 streams per
// gRPC connection, 60 s idle, 30 min gRPC connection age.
func (l Limits) Defaults() Limits {
	if l.InflightBytes == 0 {
		l.InflightBytes = 64 << 20
	}
	if l.InflightWait == 0 {
		l.InflightWait = time.Second
	}
	if l.BodyTimeout == 0 {
		l.BodyTimeout = 30 * time.Second
	}
	if l.MaxConnections == 0 {
		l.MaxConnections = 512
	}
	if l.GRPCMaxStreams == 0 {
		l.GRPCMaxStreams = 100
	}
	if l.IdleTimeout == 0 {
		l.IdleTimeout = 60 * time.Second
	}
	if l.MaxConnectionAge == 0 {
		l.MaxConnectionAge = 30 * time.Minute
	}
	return l
}

// Validate checks limits filled by Defaults against the largest request
// body: the budget must hold two of the largest bodies (so that one waits
// at most for another), and a body larger than SmallBytes may only use
// three quarters of it.
func (l Limits) Validate(maxRequestBytes int64) error {
	switch {
	case l.InflightBytes < 2*maxRequestBytes || l.InflightBytes-l.InflightBytes/4 < maxRequestBytes:
		return fmt.Errorf("the in-flight byte budget (%d) must be at least twice the largest request (%d)", l.InflightBytes, maxRequestBytes)
	case l.InflightWait < 0 || l.InflightWait > time.Minute:
		return errors.New("the in-flight wait must be between 0 and 1m")
	case l.BodyTimeout < time.Second:
		return errors.New("the body timeout must be at least 1s")
	case l.MaxConnections < 1:
		return errors.New("max connections must be positive")
	case l.IdleTimeout < time.Second:
		return errors.New("the idle timeout must be at least 1s")
	case l.MaxConnectionAge < time.Minute:
		return errors.New("the gRPC max connection age must be at least 1m")
	}
	return nil
}

// Options configure a Controller.
type Options struct {
	Limits
	// MaxRequestBytes is the largest body or gRPC message.
	MaxRequestBytes int64
	// Namespace prefixes the metric names: hallmark_log, hallmark_ca.
	Namespace string
	// Registerer for the metrics.
	Registerer prometheus.Registerer
	// Overload is the service's overload sentinel: every refusal for lack
	// of budget wraps it. TooLarge is wrapped by refusals of a declared
	// Content-Length over the route's limit.
	Overload, TooLarge error
}

// Controller holds a service's budget and limits.
type Controller struct {
	opts          Options
	budget        *budget
	m             *metrics
	headerTimeout time.Duration // HeaderTimeout; shorter in tests
}

// New returns a Controller; zero limits take their defaults.
func New(o Options) *Controller {
	o.Limits = o.Limits.Defaults()
	if o.Registerer == nil {
		o.Registerer = prometheus.NewRegistry()
	}
	c := &Controller{opts: o, budget: newBudget(o.InflightBytes), headerTimeout: HeaderTimeout}
	c.m = newMetrics(o.Namespace, o.Registerer, c)
	return c
}

// Limits returns the limits in force.
func (c *Controller) Limits() Limits { return c.opts.Limits }

// Reserve takes n bytes of the budget, waiting up to the configured wait
// if wait is true. Its error wraps the Overload sentinel (or ctx's error).
func (c *Controller) Reserve(ctx context.Context, n int64, wait bool, api string) (*Reservation, error) {
	d := time.Duration(0)
	if wait {
		d = c.opts.InflightWait
	}
	waited, err := c.budget.reserve(ctx, n, d)
	if waited {
		c.m.waits.WithLabelValues(api).Inc()
	}
	if err != nil {
		if ctx.Err() == nil {
			c.m.refused.WithLabelValues(api).Inc()
			err = fmt.Errorf("%w: %w", c.opts.Overload, err)
		}
		return nil, err
	}
	return &Reservation{b: c.budget, n: n}, nil
}

// HTTP admits requests to next: a request with a body reserves its
// Content-Length, or limit when the length is not declared (chunked), and
// holds it until next returns; a declared length over limit is refused
// with TooLarge at once. Either refusal goes to refuse before a byte of
// the body is read. The body must then arrive within BodyTimeout.
// Requests without a body (GET) pass without a reservation.
func (c *Controller) HTTP(limit int64, refuse func(http.ResponseWriter, *http.Request, error), next http.Handler) http.Handler {
	route := Route{MaxBytes: limit, Refuse: refuse}
	return c.HTTPRoutes(func(*http.Request) Route { return route }, next)
}

// Route is what HTTPRoutes admits to one request, decided from its method
// and path before its body is read.
type Route struct {
	// MaxBytes is the largest body: a declared length over it is refused
	// with TooLarge, an undeclared one (chunked) reserves as if it were
	// MaxBytes long.
	MaxBytes int64
	// Reserve, if not nil, returns what a body of n bytes reserves from
	// the budget (for bodies whose decoding holds more than the body);
	// nil reserves n.
	Reserve func(n int64) int64
	// Describe, if not empty, says what MaxBytes is, in TooLarge refusals.
	Describe string
	// Refuse answers a refusal in the route's API's error shape.
	Refuse func(http.ResponseWriter, *http.Request, error)
}

// HTTPRoutes is HTTP with the limit, reservation and error shape of each
// request's route.
func (c *Controller) HTTPRoutes(route func(*http.Request) Route, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := r.ContentLength
		if n == 0 || r.Body == nil || r.Body == http.NoBody {
			next.ServeHTTP(w, r)
			return
		}
		rt := route(r)
		switch {
		case n > rt.MaxBytes:
			c.m.refused.WithLabelValues("http_too_large").Inc()
			what := ""
			if rt.Describe != "" {
				what = " (" + rt.Describe + ")"
			}
			err := fmt.Errorf("%w: Content-Length %d is over the limit of %d bytes%s", c.opts.TooLarge, n, rt.MaxBytes, what)
			RefuseUnread(w, r, c.opts.BodyTimeout, func(w http.ResponseWriter) { rt.Refuse(w, r, err) })
			return
		case n < 0:
			n = rt.MaxBytes // unknown length: the most it may be
		}
		if rt.Reserve != nil {
			n = rt.Reserve(n)
		}
		res, err := c.Reserve(r.Context(), n, true, "http")
		if err != nil {
			SkipBody(w)
			rt.Refuse(w, r, err)
			return
		}
		defer res.Release()
		// A slow sender holds its reservation until the deadline at most;
		// the deadline also ends the request when its body arrived.
		http.NewResponseController(w).SetReadDeadline(time.Now().Add(c.opts.BodyTimeout)) //nolint:errcheck // unsupported only by test recorders
		r.Body = &timedBody{ReadCloser: r.Body, timeouts: c.m.bodyTimeouts.WithLabelValues("http")}
		next.ServeHTTP(w, r)
	})
}

// RefuseUnread answers a request with refuse, which writes a refusal (413,
// 429) without using the body. The answer is written and flushed at once;
// then, on HTTP/1, a declared body of at most TooLargeDrainBytes from a
// sender that did not ask for 100-continue is read and discarded within
// timeout, so that a sender that writes its whole body before reading
// finds the answer instead of a connection reset under its body. Other
// bodies are not read (SkipBody). The connection is closed after.
func RefuseUnread(w http.ResponseWriter, r *http.Request, timeout time.Duration, refuse func(http.ResponseWriter)) {
	n := r.ContentLength
	rc := http.NewResponseController(w)
	if n <= 0 || n > TooLargeDrainBytes || r.ProtoMajor != 1 ||
		strings.EqualFold(r.Header.Get("Expect"), "100-continue") || rc.EnableFullDuplex() != nil {
		SkipBody(w)
		refuse(w)
		return
	}
	// The answer goes out whole, with its length, before the body is read:
	// a client that reads it need not wait for the discarding to end.
	a := &answer{header: w.Header(), code: http.StatusOK}
	refuse(a)
	w.Header().Set("Connection", "close")
	w.Header().Set("Content-Length", strconv.Itoa(a.body.Len()))
	w.WriteHeader(a.code)
	w.Write(a.body.Bytes())                        //nolint:errcheck // a failed write ends the connection anyway
	rc.Flush()                                     //nolint:errcheck // as above
	rc.SetReadDeadline(time.Now().Add(timeout))    //nolint:errcheck // unsupported only by test recorders
	io.Copy(io.Discard, io.LimitReader(r.Body, n)) //nolint:errcheck // the answer is already written
}

// answer holds a refusal until it is written whole.
type answer struct {
	header http.Header
	code   int
	wrote  bool
	body   bytes.Buffer
}

func (a *answer) Header() http.Header { return a.header }

func (a *answer) WriteHeader(code int) {
	if !a.wrote {
		a.code, a.wrote = code, true
	}
}

func (a *answer) Write(p []byte) (int, error) {
	a.wrote = true
	return a.body.Write(p)
}

// SkipBody makes a handler that answers without reading the request body
// close the connection instead: Go's server would otherwise read (and
// discard) up to 256 KiB of it, before the answer or after, waiting for a
// sender that may never send it.
func SkipBody(w http.ResponseWriter) {
	w.Header().Set("Connection", "close")
	http.NewResponseController(w).SetReadDeadline(time.Now()) //nolint:errcheck // unsupported only by test recorders
}

// ReadBody reads r's body, at most limit bytes (beyond that the error is
// an *http.MaxBytesError). A declared length, which HTTP reserved from the
// budget, is read into a buffer of exactly that size, without the doubling
// copies of io.ReadAll, so a body costs the process what it reserved.
func ReadBody(w http.ResponseWriter, r *http.Request, limit int64) ([]byte, error) {
	rd := http.MaxBytesReader(w, r.Body, limit)
	if n := r.ContentLength; n > 0 && n <= limit {
		body := make([]byte, n)
		if _, err := io.ReadFull(rd, body); err != nil {
			return nil, err
		}
		return body, nil
	}
	return io.ReadAll(rd)
}

// timedBody counts bodies that did not arrive before the body deadline.
type timedBody struct {
	io.ReadCloser
	timeouts prometheus.Counter
	counted  bool
}

func (b *timedBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if err != nil && !b.counted && errors.Is(err, os.ErrDeadlineExceeded) {
		b.counted = true
		b.timeouts.Inc()
	}
	return n, err
}

// Listener caps the open connections of l: beyond MaxConnections a new
// connection is closed at once and counted, so that accepted connections
// (and their buffers) stay bounded.
func (c *Controller) Listener(l net.Listener, name string) net.Listener {
	return &capListener{Listener: l, max: int64(c.opts.MaxConnections),
		open: c.m.connsOpen.WithLabelValues(name), refused: c.m.connsRefused.WithLabelValues(name)}
}

type capListener struct {
	net.Listener
	max     int64
	n       atomic.Int64
	open    prometheus.Gauge
	refused prometheus.Counter
}

func (l *capListener) Accept() (net.Conn, error) {
	for {
		conn, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		if l.n.Add(1) > l.max {
			l.n.Add(-1)
			l.refused.Inc()
			conn.Close()
			continue
		}
		l.open.Inc()
		return &countedConn{Conn: conn, l: l}, nil
	}
}

type countedConn struct {
	net.Conn
	l      *capListener
	closed atomic.Bool
}

func (c *countedConn) Close() error {
	if c.closed.CompareAndSwap(false, true) {
		c.l.n.Add(-1)
		c.l.open.Dec()
	}
	return c.Conn.Close()
}

package admission

import (
	"context"
	"crypto/tls"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"time"

	"google.golang.org/grpc"
)

// Servers are the listeners of a service and what they serve. GRPC and
// Metrics are optional.
type Servers struct {
	HTTP    net.Listener
	Handler http.Handler

	GRPC       net.Listener
	GRPCServer *grpc.Server

	Metrics        net.Listener // nil: /metrics is served by Handler
	MetricsHandler http.Handler

	Logger *slog.Logger

	// TLS, if set, serves HTTP over TLS (the GRPCServer brings its own
	// credentials; Metrics stays plain).
	TLS *tls.Config
}

// HTTPServer returns an http.Server for h with c's timeouts: headers
// within HeaderTimeout (and at most MaxHeaderBytes), the whole request
// within HeaderTimeout+BodyTimeout (HTTP reserves a request's budget after
// its headers and then gives its body BodyTimeout), the response within
// WriteTimeout, and idle keep-alive connections closed after IdleTimeout.
func (c *Controller) HTTPServer(h http.Handler, logger *slog.Logger) *http.Server {
	if logger == nil {
		logger = slog.Default()
	}
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: c.headerTimeout,
		ReadTimeout:       c.headerTimeout + c.opts.BodyTimeout,
		WriteTimeout:      WriteTimeout,
		IdleTimeout:       c.opts.IdleTimeout,
		MaxHeaderBytes:    MaxHeaderBytes,
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
	}
}

// Serve serves s until ctx ends or a server fails, with every listener
// capped at MaxConnections, then shuts down gracefully: in-flight requests
// finish (up to 30 s), new ones are refused.
func (c *Controller) Serve(ctx context.Context, s Servers) error {
	logger := s.Logger
	if logger == nil {
		logger = slog.Default()
	}
	errc := make(chan error, 3)
	hs := c.HTTPServer(s.Handler, logger)
	if s.TLS != nil {
		hs.TLSConfig = s.TLS.Clone()
		go func() { errc <- hs.ServeTLS(c.Listener(s.HTTP, "http"), "", "") }()
	} else {
		go func() { errc <- hs.Serve(c.Listener(s.HTTP, "http")) }()
	}
	logger.Info("serving HTTP", "addr", s.HTTP.Addr().String())
	var ms *http.Server
	if s.Metrics != nil {
		ms = c.HTTPServer(s.MetricsHandler, logger)
		go func() { errc <- ms.Serve(c.Listener(s.Metrics, "metrics")) }()
		logger.Info("serving metrics", "addr", s.Metrics.Addr().String())
	}
	g := s.GRPCServer
	if s.GRPC != nil && g != nil {
		go func() { errc <- g.Serve(c.Listener(s.GRPC, "grpc")) }()
		logger.Info("serving gRPC", "addr", s.GRPC.Addr().String())
	}
	var err error
	select {
	case <-ctx.Done():
	case err = <-errc:
	}
	logger.Info("shutting down")
	sctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if g != nil {
		done := make(chan struct{})
		go func() { g.GracefulStop(); close(done) }()
		select {
		case <-done:
		case <-sctx.Done():
			g.Stop()
		}
	}
	if serr := hs.Shutdown(sctx); serr != nil && err == nil {
		err = serr
	}
	if ms != nil {
		ms.Close()
	}
	if errors.Is(err, http.ErrServerClosed) || errors.Is(err, grpc.ErrServerStopped) {
		err = nil
	}
	return err
}

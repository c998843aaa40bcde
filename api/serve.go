package api

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"

	"github.com/hallmark-dev/hallmark/api/admission"
	"github.com/hallmark-dev/hallmark/tlog"
)

// Listeners are the bound sockets of a service; binding before serving lets
// callers learn the real ports when they asked for port 0.
type Listeners struct {
	HTTP    net.Listener
	GRPC    net.Listener // nil when gRPC is off
	Metrics net.Listener // nil: /metrics is on HTTP
}

// Listen binds the HTTP and (unless "off") gRPC addresses.
func Listen(httpAddr, grpcAddr string) (*Listeners, error) {
	return ListenConfig(tlog.ListenConfig{HTTP: httpAddr, GRPC: grpcAddr})
}

// ListenConfig binds the addresses of a listen: block: HTTP, gRPC (unless
// "off") and, if set, metrics.
func ListenConfig(c tlog.ListenConfig) (*Listeners, error) {
	hl, err := net.Listen("tcp", c.HTTP)
	if err != nil {
		return nil, fmt.Errorf("couldn't listen on %s: %w", c.HTTP, err)
	}
	ls := &Listeners{HTTP: hl}
	if c.GRPC != "off" && c.GRPC != "" {
		if ls.GRPC, err = net.Listen("tcp", c.GRPC); err != nil {
			hl.Close()
			return nil, fmt.Errorf("couldn't listen on %s: %w", c.GRPC, err)
		}
	}
	if c.Metrics != "" {
		if ls.Metrics, err = net.Listen("tcp", c.Metrics); err != nil {
			ls.Close()
			return nil, fmt.Errorf("couldn't listen on %s for metrics: %w", c.Metrics, err)
		}
	}
	return ls, nil
}

// Close closes the listeners (Serve closes them itself).
func (ls *Listeners) Close() {
	for _, l := range []net.Listener{ls.HTTP, ls.GRPC, ls.Metrics} {
		if l != nil {
			l.Close()
		}
	}
}

// Serve serves h (the service's Handler, possibly with more routes) on
// ls.HTTP, the gRPC APIs on ls.GRPC and, with listen.metrics, /metrics on
// ls.Metrics, until ctx ends; then it shuts down gracefully: in-flight
// requests finish (up to 30 s), new ones are refused. Every listener is
// capped at limits.max_connections, and the servers apply the limits:
// block's timeouts (package admission).
func (s *LogService) Serve(ctx context.Context, ls *Listeners, h http.Handler) error {
	if s.cfg.Listen.Metrics != "" && ls.Metrics == nil {
		return errors.New("listen.metrics is set but no metrics listener was bound (use ListenConfig)")
	}
	return s.admit.Serve(ctx, admission.Servers{
		HTTP: ls.HTTP, Handler: h,
		GRPC: ls.GRPC, GRPCServer: s.grpc,
		Metrics: ls.Metrics, MetricsHandler: s.MetricsHandler(),
		Logger: s.logger, TLS: s.tls,
	})
}

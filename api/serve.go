package api

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"google.golang.org/grpc"
)

// Listeners are the bound sockets of a service; binding before serving lets
// callers learn the real ports when they asked for port 0.
type Listeners struct {
	HTTP net.Listener
	GRPC net.Listener // nil when gRPC is off
}

// Listen binds the HTTP and (unless "off") gRPC addresses.
func Listen(httpAddr, grpcAddr string) (*Listeners, error) {
	hl, err := net.Listen("tcp", httpAddr)
	if err != nil {
		return nil, fmt.Errorf("couldn't listen on %s: %w", httpAddr, err)
	}
	ls := &Listeners{HTTP: hl}
	if grpcAddr != "off" && grpcAddr != "" {
		if ls.GRPC, err = net.Listen("tcp", grpcAddr); err != nil {
			hl.Close()
			return nil, fmt.Errorf("couldn't listen on %s: %w", grpcAddr, err)
		}
	}
	return ls, nil
}

// Serve serves HTTP and gRPC until ctx ends, then shuts both down
// gracefully: in-flight requests finish (up to 30 s), new ones are refused.
func Serve(ctx context.Context, ls *Listeners, h http.Handler, g *grpc.Server, logger *slog.Logger) error {
	srv := &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       60 * time.Second,
		WriteTimeout:      60 * time.Second,
		IdleTimeout:       120 * time.Second,
	}
	errc := make(chan error, 2)
	go func() { errc <- srv.Serve(ls.HTTP) }()
	logger.Info("serving HTTP", "addr", ls.HTTP.Addr().String())
	if ls.GRPC != nil && g != nil {
		go func() { errc <- g.Serve(ls.GRPC) }()
		logger.Info("serving gRPC", "addr", ls.GRPC.Addr().String())
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
	if serr := srv.Shutdown(sctx); serr != nil && err == nil {
		err = serr
	}
	if errors.Is(err, http.ErrServerClosed) || errors.Is(err, grpc.ErrServerStopped) {
		err = nil
	}
	return err
}

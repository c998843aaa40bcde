package fulcioapi

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"

	fulciopb "github.com/sigstore/fulcio/pkg/generated/protobuf"
	"google.golang.org/grpc"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/hallmark-dev/hallmark/api/admission"
	tsaapi "github.com/hallmark-dev/hallmark/api/tsa"
	"github.com/hallmark-dev/hallmark/ca"
	"github.com/hallmark-dev/hallmark/oidc"
)

// Service is a configured hallmark-ca: the API server and the CA key it
// holds open.
type Service struct {
	*Server
	cfg    *ca.Config
	signer ca.Signer

	tsa       *tsaapi.Server // nil without a tsa: section
	tsaSigner ca.Signer
}

// NewService opens the CA key named by cfg, checks its chain, builds the
// token verifier and returns the service. Close releases the key.
func NewService(cfg *ca.Config, log *slog.Logger) (*Service, error) {
	signer, chain, err := cfg.OpenSigner()
	if err != nil {
		return nil, err
	}
	opts, err := ctOptions(cfg.CT, log)
	if err != nil {
		signer.Close()
		return nil, err
	}
	opts.Validity = cfg.CertificateValidity
	c, err := ca.New(signer, chain, opts)
	if err != nil {
		signer.Close()
		return nil, err
	}
	v, err := oidc.NewVerifier(cfg.Issuers, cfg.VerifierOptions())
	if err != nil {
		signer.Close()
		return nil, err
	}
	srv := New(v, c, Options{MaxRequestBytes: cfg.MaxRequestBytes, MaxInFlight: cfg.MaxInFlight, Logger: log,
		Admission: cfg.Admission(), SeparateMetrics: cfg.Listen.Metrics != "", Quota: cfg.Quota})
	svc := &Service{Server: srv, cfg: cfg, signer: signer}
	if cfg.TSA != nil {
		t, tsaSigner, err := cfg.TSA.OpenTSA()
		if err != nil {
			signer.Close()
			return nil, fmt.Errorf("timestamp authority: %w", err)
		}
		svc.tsa, svc.tsaSigner = tsaapi.New(t, tsaapi.Options{Logger: log, Registerer: srv.opts.Registry}), tsaSigner
		log.Info("timestamp authority enabled", "subject", t.Chain()[0].Subject.String(), "policy", t.Policy().String())
	}
	return svc, nil
}

// Close releases the CA key and the TSA key.
func (s *Service) Close() error {
	err := s.signer.Close()
	if s.tsaSigner != nil {
		err = errors.Join(err, s.tsaSigner.Close())
	}
	return err
}

// Handler serves the Fulcio REST API (Server.Handler) and, when
// configured, the timestamp authority (package tsaapi), both admitted
// within the one in-flight byte budget: a timestamp request reserves at
// most tsaapi.MaxRequestBytes.
func (s *Service) Handler() http.Handler {
	h := s.Server.Handler()
	if s.tsa == nil {
		return h
	}
	tsaMux := http.NewServeMux()
	s.tsa.Register(tsaMux)
	th := s.admit.HTTP(tsaapi.MaxRequestBytes, func(w http.ResponseWriter, r *http.Request, err error) {
		s.tsa.Refuse(w, r, errors.Is(err, errTooLarge), err)
	}, tsaMux)
	mux := http.NewServeMux()
	mux.Handle("/api/v1/timestamp", th)
	mux.Handle("/api/v1/timestamp/", th)
	mux.Handle("/", h)
	return mux
}

// ListenAndServe serves REST on listen.http, gRPC on listen.grpc (unless
// "off") and, with listen.metrics, /metrics on its own listener until ctx
// is done, then drains in-flight requests for up to 30 seconds. Every
// listener is capped at max_connections (package admission). ready, if not
// nil, is called with the bound addresses.
func (s *Service) ListenAndServe(ctx context.Context, ready func(httpAddr, grpcAddr string)) error {
	hln, err := net.Listen("tcp", s.cfg.Listen.HTTP)
	if err != nil {
		return fmt.Errorf("listening for HTTP: %w", err)
	}
	var gln, mln net.Listener
	if s.cfg.Listen.GRPC != "off" {
		if gln, err = net.Listen("tcp", s.cfg.Listen.GRPC); err != nil {
			hln.Close()
			return fmt.Errorf("listening for gRPC: %w", err)
		}
	}
	if s.cfg.Listen.Metrics != "" {
		if mln, err = net.Listen("tcp", s.cfg.Listen.Metrics); err != nil {
			hln.Close()
			if gln != nil {
				gln.Close()
			}
			return fmt.Errorf("listening for metrics: %w", err)
		}
	}
	gs := grpc.NewServer(s.GRPCServerOptions()...)
	fulciopb.RegisterCAServer(gs, s.Server)
	hc := health.NewServer()
	healthpb.RegisterHealthServer(gs, hc)
	defer hc.Shutdown()

	grpcAddr := ""
	if gln != nil {
		grpcAddr = gln.Addr().String()
	}
	s.log.Info("hallmark-ca serving", "http", hln.Addr().String(), "grpc", grpcAddr, "issuers", len(s.verifier.Issuers()))
	if ready != nil {
		ready(hln.Addr().String(), grpcAddr)
	}
	return s.admit.Serve(ctx, admission.Servers{
		HTTP: hln, Handler: s.Handler(),
		GRPC: gln, GRPCServer: gs,
		Metrics: mln, MetricsHandler: s.MetricsHandler(),
		Logger: s.log,
	})
}

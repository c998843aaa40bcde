// Package tsaapi serves hallmark-ca's RFC 3161 timestamp authority with
// the REST surface of sigstore's timestamp-authority:
//
//	POST /api/v1/timestamp            application/timestamp-query (DER TimeStampReq)
//	                                  or application/json (sigstore's JSON form)
//	                                  → 200 application/timestamp-reply (DER TimeStampResp)
//	GET  /api/v1/timestamp/certchain  → 200 application/pem-certificate-chain
//
// A refused request gets a DER TimeStampResp with status rejection and the
// PKIFailureInfo of ca.TimestampFailure, with HTTP 400 (413 when too large,
// 415 for another media type), so that clients checking the HTTP status
// and clients reading the RFC 3161 status both see the refusal. This is
// the one place TSA errors become status codes.
package tsaapi

import (
	"crypto"
	"errors"
	"github.com/hallmark-dev/hallmark/api/admission"
	"log/slog"
	"mime"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/hallmark-dev/hallmark/ca"
)

// MaxRequestBytes bounds a request body. A DER TimeStampReq with a
// SHA-512 imprint, a policy and a nonce is under 150 bytes; the JSON form
// under 300.
const MaxRequestBytes = 8 << 10

// Options configure a Server.
type Options struct {
	// Logger; default slog.Default().
	Logger *slog.Logger
	// Registerer for the metrics; default prometheus.NewRegistry().
	Registerer prometheus.Registerer
}

// Server is the HTTP face of a ca.TSA.
type Server struct {
	tsa      *ca.TSA
	log      *slog.Logger
	chainPEM []byte
	metrics  *metrics
}

// New returns a Server for t.
func New(t *ca.TSA, o Options) *Server {
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Registerer == nil {
		o.Registerer = prometheus.NewRegistry()
	}
	return &Server{tsa: t, log: o.Logger, chainPEM: ca.EncodeChainPEM(t.Chain()), metrics: newMetrics(o.Registerer)}
}

// Register adds the TSA routes to mux.
func (s *Server) Register(mux *http.ServeMux) {
	mux.HandleFunc("POST /api/v1/timestamp", s.handleTimestamp)
	mux.HandleFunc("GET /api/v1/timestamp/certchain", s.handleCertChain)
}

func (s *Server) handleCertChain(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/pem-certificate-chain")
	w.Write(s.chainPEM)
}

var (
	errTooLarge  = errors.New("request body larger than 8 KiB")
	errMediaType = errors.New("Content-Type must be application/timestamp-query or application/json")
)

func (s *Server) handleTimestamp(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	var parse func([]byte) (*tsRequest, error)
	switch mt {
	case "application/timestamp-query":
		parse = parseDER
	case "application/json":
		parse = parseJSON
	default:
		s.reject(w, r, http.StatusUnsupportedMediaType, errMediaType)
		return
	}
	body, err := admission.ReadBody(w, r, MaxRequestBytes)
	if err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			s.reject(w, r, http.StatusRequestEntityTooLarge, errTooLarge)
		} else {
			s.reject(w, r, http.StatusBadRequest, err)
		}
		return
	}
	req, err := parse(body)
	if err != nil {
		s.reject(w, r, http.StatusBadRequest, err)
		return
	}
	resp, err := s.tsa.Timestamp(req.Request)
	if err != nil {
		code := http.StatusBadRequest
		if _, reason := ca.TimestampFailure(err); reason == "system_failure" {
			code = http.StatusInternalServerError
		}
		s.reject(w, r, code, err)
		return
	}
	s.metrics.issued.WithLabelValues(req.form, hashName(req.HashAlgorithm)).Inc()
	s.metrics.latency.Observe(time.Since(start).Seconds())
	w.Header().Set("Content-Type", "application/timestamp-reply")
	w.WriteHeader(http.StatusOK)
	w.Write(resp)
}

// Refuse answers a request refused before its body was read (package
// admission): 413 when its declared length is over MaxRequestBytes,
// otherwise 503 with Retry-After because the requests in flight fill the
// service's byte budget (metric reason "overloaded"). Both carry a DER
// rejection.
func (s *Server) Refuse(w http.ResponseWriter, r *http.Request, tooLarge bool, err error) {
	if tooLarge {
		s.reject(w, r, http.StatusRequestEntityTooLarge, errors.Join(errTooLarge, err))
		return
	}
	s.metrics.rejected.WithLabelValues("overloaded").Inc()
	w.Header().Set("Retry-After", "1")
	w.Header().Set("Content-Type", "application/timestamp-reply")
	w.WriteHeader(http.StatusServiceUnavailable)
	w.Write(ca.RejectionResponse(err)) // systemFailure
}

// reject writes a rejection TimeStampResp. Client errors are logged at
// debug level (they are counted), server errors at error level.
func (s *Server) reject(w http.ResponseWriter, r *http.Request, code int, err error) {
	switch {
	case errors.Is(err, errTooLarge) || errors.Is(err, errMediaType):
		err = errors.Join(ca.ErrTSABadRequest, err)
	case code == http.StatusBadRequest && !isClientError(err):
		err = errors.Join(ca.ErrTSABadRequest, err) // e.g. the body could not be read
	}
	_, reason := ca.TimestampFailure(err)
	s.metrics.rejected.WithLabelValues(reason).Inc()
	level := slog.LevelDebug
	if code >= 500 {
		level = slog.LevelError
	}
	s.log.Log(r.Context(), level, "timestamp request rejected", "reason", reason, "status", code, "err", err)
	w.Header().Set("Content-Type", "application/timestamp-reply")
	w.WriteHeader(code)
	w.Write(ca.RejectionResponse(err))
}

func isClientError(err error) bool {
	_, reason := ca.TimestampFailure(err)
	return reason != "system_failure"
}

func hashName(h crypto.Hash) string {
	switch h {
	case crypto.SHA256:
		return "sha256"
	case crypto.SHA384:
		return "sha384"
	case crypto.SHA512:
		return "sha512"
	}
	return "other"
}

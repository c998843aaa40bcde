package fulcioapi

//lint:file-ignore SA1019 Fulcio deprecates its legacy v1 API, which Hallmark serves for cosign v2.

import (
	"encoding/base64"
	"errors"
	"io"
	"net/http"
	"strings"

	"github.com/prometheus/client_golang/prometheus/promhttp"
	fulciopb "github.com/sigstore/fulcio/pkg/generated/protobuf"
	legacypb "github.com/sigstore/fulcio/pkg/generated/protobuf/legacy"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	"github.com/hallmark-dev/hallmark/api/admission"
)

// The JSON dialect of grpc-gateway's default marshaler: lowerCamelCase
// names, every non-oneof field emitted, unknown fields and unknown enum
// names ignored on input, both camelCase and proto names accepted.
var (
	marshalJSON   = protojson.MarshalOptions{EmitUnpopulated: true}
	unmarshalJSON = protojson.UnmarshalOptions{DiscardUnknown: true}
)

// Handler serves the REST API:
//
//	POST /api/v2/signingCert   200 application/json SigningCertificate
//	GET  /api/v2/trustBundle   200 application/json TrustBundle
//	GET  /api/v2/configuration 200 application/json Configuration
//	POST /api/v1/signingCert   201 application/pem-certificate-chain
//	GET  /api/v1/rootCert      200 application/pem-certificate-chain
//	GET  /healthz, GET /metrics (unless Options.SeparateMetrics)
//
// A request with a body is admitted within the in-flight byte budget, and
// a certificate request takes its issuance slot, before the body is read.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /api/v2/signingCert", s.handleSigningCertV2)
	mux.HandleFunc("GET /api/v2/trustBundle", s.handleTrustBundle)
	mux.HandleFunc("GET /api/v2/configuration", s.handleConfiguration)
	mux.HandleFunc("POST /api/v1/signingCert", s.handleSigningCertV1)
	mux.HandleFunc("GET /api/v1/rootCert", s.handleRootCert)
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte(`{"status":"SERVING"}` + "\n"))
	})
	if !s.opts.SeparateMetrics {
		mux.Handle("GET /metrics", s.MetricsHandler())
	}
	return s.admit.HTTP(s.opts.MaxRequestBytes, func(w http.ResponseWriter, r *http.Request, err error) {
		writeError(w, errorWithMetric(s, "rest", err))
	}, mux)
}

// MetricsHandler serves the Prometheus metrics.
func (s *Server) MetricsHandler() http.Handler {
	return promhttp.HandlerFor(s.opts.Registry, promhttp.HandlerOpts{})
}

// admitIssue applies the per-address and total quotas and takes an
// issuance slot for a REST request before its body is read; on refusal it
// writes the 429 or 503 itself.
func (s *Server) admitIssue(w http.ResponseWriter, r *http.Request, api string) (release func(), ok bool) {
	err := s.quotas.checkCaller(s.quotas.proxies.HTTPKey(r))
	if err == nil {
		release, err = s.acquire()
	}
	if err != nil {
		admission.RefuseUnread(w, r, admission.DiscardTimeout, func(w http.ResponseWriter) { writeError(w, errorWithMetric(s, api, err)) })
		return nil, false
	}
	return release, true
}

// readBody reads a request body up to the size limit (admission.ReadBody).
func (s *Server) readBody(w http.ResponseWriter, r *http.Request) ([]byte, error) {
	body, err := admission.ReadBody(w, r, s.opts.MaxRequestBytes)
	var tooLarge *http.MaxBytesError
	if errors.As(err, &tooLarge) {
		return nil, errorWithMetric(s, "rest", errTooLarge)
	}
	if err != nil {
		return nil, wrapBadRequest("reading body", err)
	}
	return body, nil
}

// errorWithMetric counts a rejection that happens before issue() runs.
func errorWithMetric(s *Server, api string, err error) error {
	s.metrics.rejected.WithLabelValues(api, classify(err).reason).Inc()
	return err
}

func (s *Server) handleSigningCertV2(w http.ResponseWriter, r *http.Request) {
	release, ok := s.admitIssue(w, r, "v2")
	if !ok {
		return
	}
	defer release()
	body, err := s.readBody(w, r)
	if err != nil {
		writeError(w, err)
		return
	}
	req := &fulciopb.CreateSigningCertificateRequest{}
	if err := unmarshalJSON.Unmarshal(body, req); err != nil {
		writeError(w, errorWithMetric(s, "v2", wrapBadRequest("CreateSigningCertificateRequest", err)))
		return
	}
	token := req.GetCredentials().GetOidcIdentityToken()
	if token == "" {
		token = bearer(r.Header.Get("Authorization"))
	}
	resp, err := s.createV2(r.Context(), "v2", token, req)
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, resp)
}

// handleSigningCertV1 serves the legacy endpoint cosign v2 (and v3 with
// --use-signing-config=false) calls. Its body is
// {"publicKey":{"content":<base64 of PEM>,"algorithm":...},
// "signedEmailAddress":<base64 proof>,"certificateSigningRequest":<base64 PEM or null>};
// the token comes from the Authorization header only.
func (s *Server) handleSigningCertV1(w http.ResponseWriter, r *http.Request) {
	release, ok := s.admitIssue(w, r, "v1")
	if !ok {
		return
	}
	defer release()
	body, err := s.readBody(w, r)
	if err != nil {
		writeError(w, err)
		return
	}
	req := &legacypb.CreateSigningCertificateRequest{}
	if err := unmarshalJSON.Unmarshal(body, req); err != nil {
		writeError(w, errorWithMetric(s, "v1", wrapBadRequest("CreateSigningCertificateRequest", err)))
		return
	}
	cert, err := s.issue(r.Context(), "v1", bearer(r.Header.Get("Authorization")), keyRequest{
		publicKey: req.GetPublicKey().GetContent(),
		proof:     req.GetSignedEmailAddress(),
		csr:       req.GetCertificateSigningRequest(),
	})
	if err != nil {
		writeError(w, err)
		return
	}
	var b strings.Builder
	b.WriteString(certPEM(cert.Leaf))
	for _, c := range s.chainPEM {
		b.WriteString("\n")
		b.WriteString(c)
	}
	if len(cert.DetachedSCT) > 0 {
		w.Header().Set("SCT", base64.StdEncoding.EncodeToString(cert.DetachedSCT))
	}
	w.Header().Set("Content-Type", "application/pem-certificate-chain")
	w.WriteHeader(http.StatusCreated)
	io.WriteString(w, strings.TrimSpace(b.String()))
}

func (s *Server) handleTrustBundle(w http.ResponseWriter, r *http.Request) {
	tb, _ := s.GetTrustBundle(r.Context(), nil)
	writeJSON(w, http.StatusOK, tb)
}

func (s *Server) handleConfiguration(w http.ResponseWriter, r *http.Request) {
	c, _ := s.GetConfiguration(r.Context(), nil)
	writeJSON(w, http.StatusOK, c)
}

// handleRootCert returns every certificate of the trust bundle,
// concatenated, as Fulcio does; this is the file users point
// SIGSTORE_ROOT_FILE at.
func (s *Server) handleRootCert(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/pem-certificate-chain")
	io.WriteString(w, strings.Join(s.chainPEM, ""))
}

func writeJSON(w http.ResponseWriter, code int, m proto.Message) {
	body, err := marshalJSON.Marshal(m)
	if err != nil {
		writeError(w, err)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	w.Write(body)
}

// Package fulcioapi serves hallmark-ca's Fulcio-compatible API: the v2
// gRPC service dev.sigstore.fulcio.v2.CA, its REST mapping as
// grpc-gateway emits it, and the legacy v1 REST endpoints cosign v2 uses.
//
// This package is where issuance errors become status codes: errors.go
// holds the one mapping from the oidc and ca packages' sentinels to gRPC
// codes, HTTP statuses and client messages.
package fulcioapi

import (
	"context"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	fulciopb "github.com/sigstore/fulcio/pkg/generated/protobuf"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"

	"github.com/hallmark-dev/hallmark/api/admission"
	"github.com/hallmark-dev/hallmark/ca"
	"github.com/hallmark-dev/hallmark/internal/quota"
	"github.com/hallmark-dev/hallmark/oidc"
)

// Options configure a Server.
type Options struct {
	// MaxRequestBytes bounds REST bodies and gRPC messages; default 4 MiB.
	MaxRequestBytes int64
	// MaxInFlight bounds concurrent issuance requests; beyond it requests
	// are refused at once with ErrPushback, before their body is read
	// (REST) or their message (gRPC, in the admission tap), instead of
	// queueing. Default 256.
	MaxInFlight int
	// Logger; default slog.Default().
	Logger *slog.Logger
	// Registry for the Prometheus metrics; default a new registry. Handler
	// serves it at /metrics unless SeparateMetrics.
	Registry *prometheus.Registry
	// Admission limits: the in-flight byte budget shared by REST, the TSA
	// and gRPC, connection caps and timeouts. Zero fields take their
	// defaults (a budget of ca.DefaultInflightBytes).
	Admission admission.Limits
	// SeparateMetrics leaves /metrics out of Handler: it is served on its
	// own listener (listen.metrics).
	SeparateMetrics bool
	// Quota is the quota: block of the CA's config (all unlimited when
	// zero); its limits are divided among quota.replicas here.
	Quota ca.QuotaConfig
}

// Server implements the Fulcio API over an oidc.Verifier and a ca.CA.
type Server struct {
	fulciopb.UnimplementedCAServer
	verifier *oidc.Verifier
	ca       *ca.CA
	opts     Options
	log      *slog.Logger
	metrics  *metrics
	chainPEM []string // [issuing CA, ..., root]
	inFlight chan struct{}
	admit    *admission.Controller
	quotas   *quotas
}

var _ fulciopb.CAServer = (*Server)(nil)

// New returns a Server.
func New(v *oidc.Verifier, c *ca.CA, opts Options) *Server {
	if opts.MaxRequestBytes == 0 {
		opts.MaxRequestBytes = 4 << 20
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.MaxInFlight == 0 {
		opts.MaxInFlight = 256
	}
	if opts.Registry == nil {
		opts.Registry = prometheus.NewRegistry()
	}
	if opts.Admission.InflightBytes == 0 {
		opts.Admission.InflightBytes = ca.DefaultInflightBytes
	}
	s := &Server{verifier: v, ca: c, opts: opts, log: opts.Logger, metrics: newMetrics(opts.Registry),
		inFlight: make(chan struct{}, opts.MaxInFlight)}
	s.quotas = newQuotas(opts.Quota, opts.Registry)
	s.admit = admission.New(admission.Options{
		Limits: opts.Admission, MaxRequestBytes: opts.MaxRequestBytes,
		Namespace: "hallmark_ca", Registerer: opts.Registry,
		Overload: ErrPushback, TooLarge: errTooLarge,
	})
	for _, cert := range c.Chain() {
		s.chainPEM = append(s.chainPEM, certPEM(cert))
	}
	return s
}

// GRPCServerOptions are the options a grpc.Server hosting this service
// needs: the message size limit, admission within the in-flight byte
// budget, the per-address and total quotas and the issuance cap before a
// message is read, keepalive
// enforcement, idle and age limits and the stream cap (package admission).
func (s *Server) GRPCServerOptions() []grpc.ServerOption {
	refuse := func(ctx context.Context, err error) error {
		return toStatus(ctx, errorWithMetric(s, "grpc", err)).Err()
	}
	admit := func(ctx context.Context, method string) (func(), error) {
		if method != fulciopb.CA_CreateSigningCertificate_FullMethodName {
			return nil, nil
		}
		if err := s.quotas.checkCaller(s.quotas.proxies.GRPCKey(ctx)); err != nil {
			return nil, err
		}
		return s.acquire()
	}
	return s.admit.GRPCServerOptions(refuse, admit)
}

// acquire takes one of MaxInFlight issuance slots, before the request's
// body is read. Overload: refuse at once rather than queue. Clients
// (sigstore-go, cosign) retry 503s with backoff, and the requests already
// admitted keep their latency.
func (s *Server) acquire() (release func(), err error) {
	select {
	case s.inFlight <- struct{}{}:
		return func() { <-s.inFlight }, nil
	default:
		return nil, fmt.Errorf("%w: %d requests in flight", ErrPushback, cap(s.inFlight))
	}
}

// keyRequest is the key half of a signing request, in any API version.
type keyRequest struct {
	publicKey []byte // PEM or DER SPKI
	proof     []byte // signature over the identity's challenge
	csr       []byte // PEM or DER PKCS#10, instead of publicKey+proof
}

// issue is the one issuance path of every API: authenticate the token,
// apply the identity policy (inside Verify), apply the identity's quotas,
// check that a certificate can name the identity, then check the key and
// its proof of possession, then sign. The order matches Fulcio's: a bad token
// is reported as such even when the key is bad too.
func (s *Server) issue(ctx context.Context, api, token string, kr keyRequest) (*ca.Certificate, error) {
	start := time.Now()
	cert, id, err := s.issueInner(ctx, token, kr)
	if err != nil {
		e := classify(err)
		s.metrics.rejected.WithLabelValues(api, e.reason).Inc()
		if errors.Is(err, ErrPushback) || errors.Is(err, quota.ErrLimited) {
			return nil, err // counted, not logged: logging would add to the overload
		}
		level := slog.LevelInfo
		if e.code == codes.Internal {
			level = slog.LevelError
		}
		s.log.Log(ctx, level, "certificate request rejected", "api", api, "reason", e.reason, "err", err)
		return nil, err
	}
	s.metrics.issued.WithLabelValues(api, id.Type).Inc()
	s.metrics.latency.WithLabelValues(api).Observe(time.Since(start).Seconds())
	if s.log.Enabled(ctx, slog.LevelDebug) {
		s.log.Debug("certificate issued", "api", api, "issuer", id.Issuer, "san", id.SAN, "serial", cert.Leaf.SerialNumber.Text(16))
	}
	return cert, nil
}

func (s *Server) issueInner(ctx context.Context, token string, kr keyRequest) (*ca.Certificate, *oidc.Identity, error) {
	// The issuance slot (acquire) was taken before the body was read.
	if token == "" {
		return nil, nil, errNoToken
	}
	id, err := s.verifier.Verify(ctx, token)
	if err != nil {
		return nil, nil, err
	}
	// Verifying the token is the cost a quota cannot avoid; everything
	// after it (the key, the CSR, signing, the CT submission) waits for
	// the identity's quota.
	if err := s.quotas.checkIdentity(s.verifier, id); err != nil {
		return nil, nil, err
	}
	// A token can carry an identity no certificate can name exactly (a
	// non-ASCII email, say): that is the client's 400, found before the
	// proof of possession is checked and long before anything is signed.
	if err := ca.CheckIdentity(id); err != nil {
		return nil, nil, err
	}
	var pub any
	switch {
	case len(kr.csr) > 0:
		if pub, err = ca.ParseCSR(kr.csr); err != nil {
			return nil, nil, err
		}
	case len(kr.publicKey) > 0:
		if pub, err = ca.ParsePublicKey(kr.publicKey); err != nil {
			return nil, nil, err
		}
		if err := ca.VerifyProof(pub, kr.proof, id.Challenges); err != nil {
			return nil, nil, err
		}
	default:
		return nil, nil, ca.ErrNoKeyMaterial
	}
	cert, err := s.ca.Issue(ctx, id, pub)
	if err != nil {
		return nil, nil, err
	}
	return cert, id, nil
}

// CreateSigningCertificate implements dev.sigstore.fulcio.v2.CA. The token
// comes from the request's credentials or, failing that, from the
// `oidcidentitytoken` or `authorization: Bearer` metadata.
func (s *Server) CreateSigningCertificate(ctx context.Context, req *fulciopb.CreateSigningCertificateRequest) (*fulciopb.SigningCertificate, error) {
	token := req.GetCredentials().GetOidcIdentityToken()
	if token == "" {
		token = tokenFromMetadata(ctx)
	}
	resp, err := s.createV2(ctx, "grpc", token, req)
	if err != nil {
		return nil, toStatus(ctx, err).Err()
	}
	return resp, nil
}

func (s *Server) createV2(ctx context.Context, api, token string, req *fulciopb.CreateSigningCertificateRequest) (*fulciopb.SigningCertificate, error) {
	kr := keyRequest{csr: req.GetCertificateSigningRequest()}
	if pkr := req.GetPublicKeyRequest(); pkr != nil {
		kr.publicKey = []byte(pkr.GetPublicKey().GetContent())
		kr.proof = pkr.GetProofOfPossession()
	}
	cert, err := s.issue(ctx, api, token, kr)
	if err != nil {
		return nil, err
	}
	chain := &fulciopb.CertificateChain{Certificates: append([]string{certPEM(cert.Leaf)}, s.chainPEM...)}
	if cert.EmbeddedSCT {
		return &fulciopb.SigningCertificate{Certificate: &fulciopb.SigningCertificate_SignedCertificateEmbeddedSct{
			SignedCertificateEmbeddedSct: &fulciopb.SigningCertificateEmbeddedSCT{Chain: chain},
		}}, nil
	}
	// Without a CT log Fulcio answers with a detached SCT that is empty;
	// clients accept that (sigstore-go#287 is fixed).
	return &fulciopb.SigningCertificate{Certificate: &fulciopb.SigningCertificate_SignedCertificateDetachedSct{
		SignedCertificateDetachedSct: &fulciopb.SigningCertificateDetachedSCT{Chain: chain, SignedCertificateTimestamp: cert.DetachedSCT},
	}}, nil
}

// GetTrustBundle implements dev.sigstore.fulcio.v2.CA: one chain, issuing
// CA first, root last.
func (s *Server) GetTrustBundle(context.Context, *fulciopb.GetTrustBundleRequest) (*fulciopb.TrustBundle, error) {
	return &fulciopb.TrustBundle{Chains: []*fulciopb.CertificateChain{{Certificates: append([]string(nil), s.chainPEM...)}}}, nil
}

// GetConfiguration implements dev.sigstore.fulcio.v2.CA: the configured
// issuers, sorted by URL.
func (s *Server) GetConfiguration(context.Context, *fulciopb.GetConfigurationRequest) (*fulciopb.Configuration, error) {
	out := &fulciopb.Configuration{}
	for _, is := range s.verifier.Issuers() {
		o := &fulciopb.OIDCIssuer{
			Audience:              is.Audience,
			ChallengeClaim:        "sub",
			SpiffeTrustDomain:     is.SPIFFETrustDomain,
			IssuerType:            is.Type,
			SubjectDomain:         is.SubjectDomain,
			SkipEmailVerification: is.SkipEmailVerification,
		}
		if o.Audience == "" {
			o.Audience = oidc.DefaultAudience
		}
		if is.Type == oidc.TypeEmail {
			o.ChallengeClaim = "email"
		}
		if strings.Contains(is.URL, "*") {
			o.Issuer = &fulciopb.OIDCIssuer_WildcardIssuerUrl{WildcardIssuerUrl: is.URL}
		} else {
			o.Issuer = &fulciopb.OIDCIssuer_IssuerUrl{IssuerUrl: is.URL}
		}
		out.Issuers = append(out.Issuers, o)
	}
	return out, nil
}

// tokenFromMetadata reads the token gRPC clients or gateways put in
// metadata: Fulcio's `oidcidentitytoken` key, or `authorization: Bearer`.
func tokenFromMetadata(ctx context.Context) string {
	md, _ := metadata.FromIncomingContext(ctx)
	if v := md.Get("oidcidentitytoken"); len(v) > 0 && v[0] != "" {
		return v[0]
	}
	if v := md.Get("authorization"); len(v) > 0 {
		return bearer(v[0])
	}
	return ""
}

// bearer extracts the token of an "Authorization: Bearer <token>" value.
func bearer(h string) string {
	if len(h) > 7 && strings.EqualFold(h[:7], "bearer ") {
		return strings.TrimSpace(h[7:])
	}
	return ""
}

// certPEM encodes a certificate as PEM, ending with a newline.
func certPEM(c *x509.Certificate) string {
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw}))
}

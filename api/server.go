package api

import (
	"context"
	"crypto"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"slices"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/peer"

	"github.com/hallmark-dev/hallmark/api/access"
	"github.com/hallmark-dev/hallmark/api/admission"
	"github.com/hallmark-dev/hallmark/api/logpb"
	"github.com/hallmark-dev/hallmark/tlog"
	"github.com/hallmark-dev/hallmark/tlog/ct"
	"github.com/hallmark-dev/hallmark/tlog/format"
	"github.com/hallmark-dev/hallmark/tlog/witness"
	rekortilespb "github.com/sigstore/rekor-tiles/v2/pkg/generated/protobuf"
)

// Store is the store hallmark-log serves from: tlog's core contract with
// every capability its personalities use (the search index and history
// for Rekor v1's reads and get-proof-by-hash, blobs for CT issuers, the
// importer for `hallmark adopt`, the search-key writer for `hallmark
// index-v2`). Both tlog stores are one.
type Store interface {
	tlog.Store
	tlog.SearchIndex
	tlog.History
	tlog.Importer
	tlog.BlobStore
	tlog.SearchKeyWriter
}

// LogService is hallmark-log: the store, the logs, and their HTTP and gRPC
// surfaces.
type LogService struct {
	cfg      *tlog.ServiceConfig
	store    Store
	logs     []*servedLog
	mux      *http.ServeMux
	grpc     *grpc.Server
	health   *health.Server
	registry *prometheus.Registry
	logger   *slog.Logger
	admit    *admission.Controller
	quotas   *writeQuotas
	// entryRoutes are the admission routes of entry submissions, by path,
	// and entrySizeRefused counts their refusals (entryRoute).
	entryRoutes      map[string]admission.Route
	entrySizeRefused *prometheus.CounterVec
	keys             []*meteredKey // every log's key, closed last
	tls              *tls.Config   // nil: plain HTTP and gRPC
}

// servedLog is one configured log with its engine and key.
type servedLog struct {
	cfg      tlog.LogConfig
	log      *tlog.Log
	key      crypto.Signer
	ct       *ct.Log           // ct logs only
	cosigner *witness.Cosigner // nil unless the log has witnesses
	access   *access.Policy    // the write policy (open without write:)
}

// OpenStore opens the store the config names.
func OpenStore(ctx context.Context, cfg *tlog.ServiceConfig) (Store, error) {
	if cfg.ReadOnly {
		return OpenStoreReadOnly(ctx, cfg)
	}
	url, err := cfg.DatabaseURL()
	if err != nil {
		return nil, err
	}
	if url != "" {
		return tlog.OpenPG(ctx, url)
	}
	return tlog.OpenSQLite(ctx, cfg.Path(cfg.Database.SQLite))
}

// NewLogService opens the store and every configured log.
func NewLogService(ctx context.Context, cfg *tlog.ServiceConfig, logger *slog.Logger) (*LogService, error) {
	store, err := OpenStore(ctx, cfg)
	if err != nil {
		return nil, err
	}
	s := &LogService{
		cfg:      cfg,
		store:    store,
		mux:      http.NewServeMux(),
		health:   health.NewServer(),
		registry: prometheus.NewRegistry(),
		logger:   logger,
	}
	s.admit = newAdmission(cfg, s.registry)
	s.quotas = newWriteQuotas(cfg, s.registry)
	grpcOpts := s.admit.GRPCServerOptions(grpcError, s.admitGRPC)
	if cfg.Listen.TLS != nil {
		if s.tls, err = serverTLS(cfg, cfg.Listen.TLS); err != nil {
			store.Close()
			return nil, err
		}
		grpcOpts = append(grpcOpts, grpc.Creds(credentials.NewTLS(s.tls.Clone())))
	}
	s.grpc = grpc.NewServer(grpcOpts...)
	s.registry.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	metrics := tlog.NewMetrics(s.registry)
	witnessMetrics := witness.NewMetrics(s.registry)
	keyMetrics := newKeyMetrics(s.registry)
	accessMetrics := access.NewMetrics(s.registry)
	for _, lc := range cfg.Logs {
		// The key is opened where it lives (file, PKCS#11 token, KMS) and
		// checked against the log's kind; it is closed by Close.
		k, err := cfg.OpenKey(&lc)
		if err != nil {
			s.Close()
			return nil, err
		}
		key := keyMetrics.wrap(&lc, k)
		s.keys = append(s.keys, key)
		signerName := lc.CheckpointOrigin()
		if lc.Kind == "rekor-v1" {
			signerName = lc.RekorHostname()
		}
		signer, err := format.NewNoteSigner(signerName, key)
		if err != nil {
			s.Close()
			return nil, fmt.Errorf("log %s: %w", lc.Name, err)
		}
		verifier, err := format.NewNoteVerifier(signerName, key.Public())
		if err != nil {
			s.Close()
			return nil, fmt.Errorf("log %s: %w", lc.Name, err)
		}
		var framing tlog.Framing
		if lc.Kind == "ct" {
			// static-ct-api: RFC 6962 note signatures, TileLeaf data tiles.
			if signer, verifier, err = ctNoteKeys(lc.CheckpointOrigin(), key); err != nil {
				s.Close()
				return nil, fmt.Errorf("log %s: %w", lc.Name, err)
			}
			framing = format.CTDataTiles
		}
		// Witness cosigning: the engine only notifies the cosigner.
		var cosigner *witness.Cosigner
		var onCheckpoint func(*tlog.Checkpoint)
		if lc.Witnesses != nil {
			if cosigner, err = witness.NewCosignerFromConfig(lc.Name, lc.Witnesses, witnessMetrics, logger); err != nil {
				s.Close()
				return nil, fmt.Errorf("log %s: %w", lc.Name, err)
			}
			onCheckpoint = cosigner.Notify
		}
		if err := s.freezeInactiveShard(ctx, lc); err != nil {
			s.Close()
			return nil, err
		}
		l, err := tlog.Open(ctx, store, tlog.Config{
			Name: lc.Name, Origin: lc.CheckpointOrigin(), Signer: signer, Verifier: verifier, Framing: framing,
			BatchMaxSize: lc.Batch.MaxSize, BatchMaxAge: lc.Batch.MaxAge, MaxPending: lc.Batch.MaxPending,
			CacheBytes: lc.CacheBytes, Metrics: metrics, Logger: logger, OnCheckpoint: onCheckpoint,
			Index: store, History: store, Importer: store,
			ReadOnly: cfg.ReadOnly || lc.ReadOnly,
		})
		if err != nil {
			s.Close()
			return nil, err
		}
		if cosigner != nil {
			cosigner.Start(l)
		}
		sl := &servedLog{cfg: lc, log: l, key: key, cosigner: cosigner}
		s.logs = append(s.logs, sl)
		if sl.access, err = s.writePolicy(lc, accessMetrics); err != nil {
			s.Close()
			return nil, fmt.Errorf("log %s: %w", lc.Name, err)
		}
	}
	if err := s.routes(ctx); err != nil {
		s.Close()
		return nil, err
	}
	s.quotaRoutes()
	return s, nil
}

// freezeInactiveShard freezes lc in the store if a Rekor v1 log lists it
// in its rekor.inactive_shards, before the log is opened: the active
// shard's virtual indices start at its size, so that size must be final.
// The freeze is idempotent and waits for a batch in flight (from a replica
// still running the configuration before the rotation); from then on such
// a replica's writes fail with ErrFrozen (503) and its clients retry on
// this one. A read-only service cannot write: it only reads the size.
func (s *LogService) freezeInactiveShard(ctx context.Context, lc tlog.LogConfig) error {
	if s.cfg.ReadOnly {
		return nil
	}
	for _, a := range s.cfg.Logs {
		if a.Kind != "rekor-v1" || !slices.Contains(a.Rekor.InactiveShards, lc.Name) {
			continue
		}
		st, err := s.store.Freeze(ctx, lc.Name)
		if errors.Is(err, tlog.ErrNotFound) {
			return nil // opening it read-only says what is wrong
		}
		if err != nil {
			return fmt.Errorf("log %s: inactive shard %s: %w", a.Name, lc.Name, err)
		}
		s.logger.Info("inactive shard frozen in the database", "log", a.Name, "shard", lc.Name, "size", st.Size)
		return nil
	}
	return nil
}

// servedLogNamed returns the served log with a name, or nil.
func (s *LogService) servedLogNamed(name string) *servedLog {
	for _, sl := range s.logs {
		if sl.cfg.Name == name {
			return sl
		}
	}
	return nil
}

func (s *LogService) routes(ctx context.Context) error {
	ps := &proofService{logs: map[string]*tlog.Log{}, searchable: map[string]bool{}}
	grpcV2 := false
	for _, sl := range s.logs {
		ps.logs[sl.cfg.Name] = sl.log
		if s.cfg.ServedThrough(sl.cfg.Name) != nil {
			continue // an inactive Rekor v1 shard, served by its active log
		}
		p := sl.cfg.Prefix()
		th := tileHandlers{log: sl.log, staticCT: sl.cfg.Kind == "ct"}
		s.mux.HandleFunc("GET "+p+"/checkpoint", th.checkpoint)
		s.mux.HandleFunc("GET "+p+"/tile/{path...}", th.tile)
		s.mux.HandleFunc("GET "+p+"/proof/inclusion", ps.restInclusion(sl.cfg.Name))
		s.mux.HandleFunc("GET "+p+"/proof/consistency", ps.restConsistency(sl.cfg.Name))
		if sl.cosigner != nil {
			s.mux.Handle("GET "+p+"/cosigned-checkpoint", sl.cosigner)
		}
		switch sl.cfg.Kind {
		case "tiles":
			s.mux.HandleFunc("POST "+p+"/entries", s.appendRaw(sl))
		case "rekor-v1":
			var inactive []*servedLog
			for _, name := range sl.cfg.Rekor.InactiveShards {
				inactive = append(inactive, s.servedLogNamed(name))
			}
			v1, err := newRekorV1(ctx, sl, inactive, s.cfg.Limits.MaxRequestBytes)
			if err != nil {
				return err
			}
			v1.mount(s.mux, p)
			v1.sizeRefused = s.entryRoute(p+"/api/v1/log/entries", &sl.cfg, writeV1Error)
		case "rekor-v2":
			v2, err := newRekorV2(sl, s.cfg.Limits.MaxRequestBytes)
			if err != nil {
				return err
			}
			s.mux.HandleFunc("POST "+p+"/api/v2/log/entries", v2.restCreate)
			v2.sizeRefused = s.entryRoute(p+"/api/v2/log/entries", &sl.cfg, writeV2Error)
			s.mux.HandleFunc("POST "+p+"/api/v2/index/retrieve", v2SearchHandler(sl.log, s.cfg.Limits.MaxRequestBytes))
			ps.searchable[sl.cfg.Name] = true
			// Clients differ on where they read tiles: serve both.
			s.mux.HandleFunc("GET "+p+"/api/v2/checkpoint", th.checkpoint)
			s.mux.HandleFunc("GET "+p+"/api/v2/tile/{path...}", th.tile)
			if !grpcV2 {
				// One gRPC service name: the first rekor-v2 log answers it.
				rekortilespb.RegisterRekorServer(s.grpc, s.rekorServer(sl, v2))
				grpcV2 = true
			}
		case "ct":
			h, err := newCTHandlers(sl, s.store, s.cfg)
			if err != nil {
				return err
			}
			h.mount(s.mux, p)
		default:
			return fmt.Errorf("log %s: kind %q is not implemented", sl.cfg.Name, sl.cfg.Kind)
		}
	}
	if err := s.mountConsole(s.mux); err != nil {
		return err
	}
	s.mux.HandleFunc("GET /healthz", s.healthz)
	if s.cfg.Listen.Metrics == "" {
		s.mux.Handle("GET /metrics", s.MetricsHandler())
	}
	logpb.RegisterLogServer(s.grpc, ps)
	healthpb.RegisterHealthServer(s.grpc, s.health)
	return nil
}

// Handler returns the HTTP handler of all logs, /healthz and (unless
// listen.metrics is set) /metrics. Writes pass their log's quotas, then
// requests with a body are admitted within the in-flight byte budget,
// both before the body is read.
func (s *LogService) Handler() http.Handler {
	return s.refuseWrites(s.limitWrites(s.admit.HTTPRoutes(s.admissionRoute, s.mux)))
}

// MetricsHandler serves the Prometheus metrics.
func (s *LogService) MetricsHandler() http.Handler {
	return promhttp.HandlerFor(s.registry, promhttp.HandlerOpts{})
}

// GRPCServer returns the gRPC server with every service registered.
func (s *LogService) GRPCServer() *grpc.Server { return s.grpc }

// Registry returns the service's Prometheus registry.
func (s *LogService) Registry() *prometheus.Registry { return s.registry }

// Log returns the engine of the named log, or nil.
func (s *LogService) Log(name string) *tlog.Log {
	for _, sl := range s.logs {
		if sl.cfg.Name == name {
			return sl.log
		}
	}
	return nil
}

func (s *LogService) healthz(w http.ResponseWriter, r *http.Request) {
	for _, sl := range s.logs {
		if _, err := s.store.State(r.Context(), sl.cfg.Name); err != nil {
			writeError(w, r, fmt.Errorf("store unavailable: %w", err))
			return
		}
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Write([]byte("ok\n")) //nolint:errcheck
}

// Close stops every log (committing queued entries) and closes the store.
// Stop the HTTP and gRPC servers first.
func (s *LogService) Close() {
	s.health.Shutdown()
	for _, sl := range s.logs {
		if sl.cosigner != nil {
			sl.cosigner.Close()
		}
		if sl.access != nil {
			sl.access.Close()
		}
		sl.log.Close()
	}
	if s.store != nil {
		s.store.Close()
	}
	for _, k := range s.keys {
		k.Close()
	}
}

// appendResponse is the JSON answer of a raw append to a tiles log.
type appendResponse struct {
	Index          uint64   `json:"index"`
	Duplicate      bool     `json:"duplicate,omitempty"`
	TreeSize       uint64   `json:"tree_size"`
	Checkpoint     string   `json:"checkpoint"`
	InclusionProof [][]byte `json:"inclusion_proof"`
}

// appendRaw appends the request body as one entry of a plain tiles log and
// answers with its index, a checkpoint and an inclusion proof.
func (s *LogService) appendRaw(sl *servedLog) http.HandlerFunc {
	l := sl.log
	return func(w http.ResponseWriter, r *http.Request) {
		chk, err := sl.access.Begin(r.Context(), httpCredentials(r))
		if err != nil {
			writeError(w, r, err)
			return
		}
		body, err := readBody(w, r, s.cfg.Limits.MaxRequestBytes)
		if err != nil {
			writeError(w, r, err)
			return
		}
		if len(body) == 0 {
			writeError(w, r, fmt.Errorf("%w: empty entry", ErrBadRequest))
			return
		}
		if err := chk.Finish(); err != nil { // entries are opaque: only callers are judged
			writeError(w, r, err)
			return
		}
		rc, err := l.Append(r.Context(), tlog.Entry{Data: body})
		if err != nil {
			writeError(w, r, err)
			return
		}
		proof, err := l.InclusionProof(r.Context(), rc.Index, rc.Checkpoint.Size)
		if err != nil {
			writeError(w, r, err)
			return
		}
		code := http.StatusCreated
		if rc.Duplicate {
			code = http.StatusOK
		}
		writeJSON(w, code, appendResponse{Index: rc.Index, Duplicate: rc.Duplicate, TreeSize: rc.Checkpoint.Size,
			Checkpoint: string(rc.Checkpoint.Note), InclusionProof: proof})
	}
}

// writePolicy compiles a log's write policy. A writable log without one is
// open, as before write policies existed, and says so at every start.
func (s *LogService) writePolicy(lc tlog.LogConfig, m *access.Metrics) (*access.Policy, error) {
	if lc.Write == nil && !s.cfg.ReadOnly && !lc.ReadOnly {
		s.logger.Warn("log accepts writes from anyone: its config has no write: policy; set write: {open: true} to say so, or rules (docs/access.md)",
			"log", lc.Name)
	}
	return access.New(lc.Write, access.Options{
		Log: lc.Name, Kind: lc.Kind, Path: s.cfg.Path, Metrics: m, Logger: s.logger,
		Limit: s.identityLimit(lc),
	})
}

// identityLimit is the per-identity quota hook of a log's write policy:
// the policy calls it once per write with the writer (access.Writer), as
// soon as it knows it (the caller, or the entry's first signer) and before
// any signature is verified; its error refuses the write as it is (a
// quota.ErrLimited: 429 + Retry-After in each API's shape), before the
// entry's signatures are verified. The key is access.Writer's String.
func (s *LogService) identityLimit(lc tlog.LogConfig) func(context.Context, access.Writer) error {
	q := s.identityQuota(lc.Name)
	if q == nil || !q.perIdentity.Limit().Enabled() {
		return nil
	}
	return func(_ context.Context, w access.Writer) error { return q.CheckIdentity(w.String()) }
}

// serverTLS loads listen.tls: the server certificate and, with
// client_ca_file, the CAs verifying client certificates (optional for the
// client: cosign presents none; the write policy decides).
func serverTLS(cfg *tlog.ServiceConfig, t *tlog.TLSConfig) (*tls.Config, error) {
	cert, err := tls.LoadX509KeyPair(cfg.Path(t.CertFile), cfg.Path(t.KeyFile))
	if err != nil {
		return nil, fmt.Errorf("listen.tls: %w", err)
	}
	c := &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	if t.ClientCAFile != "" {
		raw, err := os.ReadFile(cfg.Path(t.ClientCAFile))
		if err != nil {
			return nil, fmt.Errorf("listen.tls.client_ca_file: %w", err)
		}
		certs, err := format.ParseCertificatesPEM(raw)
		if err != nil {
			return nil, fmt.Errorf("listen.tls.client_ca_file: %w", err)
		}
		c.ClientCAs = x509.NewCertPool()
		for _, ca := range certs {
			c.ClientCAs.AddCert(ca)
		}
		c.ClientAuth = tls.VerifyClientCertIfGiven
	}
	return c, nil
}

// httpCredentials are the caller's credentials of an HTTP request.
func httpCredentials(r *http.Request) access.Credentials {
	c := access.Credentials{Authorization: r.Header.Get("Authorization")}
	if r.TLS != nil && len(r.TLS.VerifiedChains) > 0 {
		c.ClientChain = r.TLS.VerifiedChains[0]
	}
	return c
}

// grpcCredentials are the caller's credentials of a gRPC call.
func grpcCredentials(ctx context.Context) access.Credentials {
	var c access.Credentials
	if md, ok := metadata.FromIncomingContext(ctx); ok {
		if v := md.Get("authorization"); len(v) > 0 {
			c.Authorization = v[0]
		}
	}
	if p, ok := peer.FromContext(ctx); ok {
		if ti, ok := p.AuthInfo.(credentials.TLSInfo); ok && len(ti.State.VerifiedChains) > 0 {
			c.ClientChain = ti.State.VerifiedChains[0]
		}
	}
	return c
}

package api

import (
	"context"
	"fmt"
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	rekortilespb "github.com/sigstore/rekor-tiles/v2/pkg/generated/protobuf"

	"github.com/hallmark-dev/hallmark/api/admission"
	"github.com/hallmark-dev/hallmark/internal/quota"
	"github.com/hallmark-dev/hallmark/tlog"
)

// logQuota holds one log's limiters; a nil limiter (an unlimited scope)
// allows everything.
type logQuota struct {
	name        string
	perAddress  *quota.Limiter
	total       *quota.Limiter
	perIdentity *quota.Limiter
}

// check applies the log's per-address limit, then its total: a caller its
// own limit refuses takes nothing from everyone's total.
func (q *logQuota) check(addressKey string) error {
	if err := q.perAddress.Check(addressKey); err != nil {
		return fmt.Errorf("log %s: %w", q.name, err)
	}
	if err := q.total.Check(""); err != nil {
		return fmt.Errorf("log %s: %w", q.name, err)
	}
	return nil
}

// CheckIdentity applies the log's per-identity limit (quota.per_identity)
// to the identity its write policy extracted. The error wraps
// quota.ErrLimited: 429 with Retry-After in every API's error shape.
func (q *logQuota) CheckIdentity(identity string) error {
	if err := q.perIdentity.Check(identity); err != nil {
		return fmt.Errorf("log %s: %w", q.name, err)
	}
	return nil
}

// writeQuotas are the quotas of every log's write APIs, checked before a
// request's body is read (HTTP) or its message (gRPC): per client address
// and per log in total. Read APIs have no quota.
type writeQuotas struct {
	proxies quota.Proxies
	byLog   map[string]*logQuota
	// routes maps the mux pattern of each write endpoint to its log and
	// the error writer of its API (Rekor v1, Rekor v2, CT, tiles).
	routes map[string]quotaRoute
	// grpcCreate is the log answering Rekor v2's gRPC CreateEntry.
	grpcCreate *logQuota
}

type quotaRoute struct {
	q      *logQuota
	refuse func(http.ResponseWriter, *http.Request, error)
}

func newWriteQuotas(cfg *tlog.ServiceConfig, r prometheus.Registerer) *writeQuotas {
	m := quota.NewMetrics("hallmark_log", "log", r)
	wq := &writeQuotas{proxies: cfg.Quota.TrustedProxies, byLog: map[string]*logQuota{}, routes: map[string]quotaRoute{}}
	for i := range cfg.Logs {
		lc := &cfg.Logs[i]
		lq := cfg.LogQuota(lc)
		opts := func(scope string, l quota.Limit) quota.Options {
			return quota.Options{Limit: l, Scope: scope, Label: lc.Name, MaxKeys: cfg.Quota.MaxKeys, Metrics: m}
		}
		wq.byLog[lc.Name] = &logQuota{
			name:        lc.Name,
			perAddress:  quota.New(opts("per client address", lq.PerAddress)),
			total:       quota.New(opts("total", lq.Total)),
			perIdentity: quota.New(opts("per identity", lq.PerIdentity)),
		}
	}
	return wq
}

// identityQuota returns the per-identity limiter of a log (for its write
// policy, which knows the identity), or nil.
func (s *LogService) identityQuota(log string) *logQuota {
	return s.quotas.byLog[log]
}

// addQuotaRoute puts the write endpoint with mux pattern under the
// quotas of log, refused with the API's error writer.
func (wq *writeQuotas) addRoute(pattern, log string, refuse func(http.ResponseWriter, *http.Request, error)) {
	wq.routes[pattern] = quotaRoute{q: wq.byLog[log], refuse: refuse}
}

// quotaRoutes registers the write endpoints of every writable log; call
// after routes.
func (s *LogService) quotaRoutes() {
	for _, sl := range s.logs {
		if s.readOnly(sl) || s.cfg.ServedThrough(sl.cfg.Name) != nil {
			continue
		}
		p, name := sl.cfg.Prefix(), sl.cfg.Name
		switch sl.cfg.Kind {
		case "tiles":
			s.quotas.addRoute("POST "+p+"/entries", name, writeError)
		case "rekor-v1":
			s.quotas.addRoute("POST "+p+"/api/v1/log/entries", name, writeV1Error)
		case "rekor-v2":
			s.quotas.addRoute("POST "+p+"/api/v2/log/entries", name, writeV2Error)
			if s.quotas.grpcCreate == nil {
				s.quotas.grpcCreate = s.quotas.byLog[name] // the first rekor-v2 log serves gRPC
			}
		case "ct":
			s.quotas.addRoute("POST "+p+"/ct/v1/add-chain", name, writeError)
			s.quotas.addRoute("POST "+p+"/ct/v1/add-pre-chain", name, writeError)
		}
	}
}

// limitWrites wraps the service's handler: a request to a write endpoint
// over its log's per-address or total quota gets 429 with Retry-After, in
// its API's error shape, before its body is read or budgeted.
func (s *LogService) limitWrites(next http.Handler) http.Handler {
	if len(s.quotas.routes) == 0 {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost {
			if _, pattern := s.mux.Handler(r); pattern != "" {
				if rt, ok := s.quotas.routes[pattern]; ok {
					if err := rt.q.check(s.quotas.proxies.HTTPKey(r)); err != nil {
						admission.RefuseUnread(w, r, admission.DiscardTimeout, func(w http.ResponseWriter) { rt.refuse(w, r, err) })
						return
					}
				}
			}
		}
		next.ServeHTTP(w, r)
	})
}

// admitGRPC is the gRPC admission check: Rekor v2's CreateEntry is under
// the per-address and total quotas of the log that serves it, checked
// before its message is read.
func (s *LogService) admitGRPC(ctx context.Context, method string) (func(), error) {
	if method != rekortilespb.Rekor_CreateEntry_FullMethodName || s.quotas.grpcCreate == nil {
		return nil, nil
	}
	return nil, s.quotas.grpcCreate.check(s.quotas.proxies.GRPCKey(ctx))
}

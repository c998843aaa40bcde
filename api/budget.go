package api

import (
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/hallmark-dev/hallmark/api/admission"
	"github.com/hallmark-dev/hallmark/tlog"
)

// ErrOverloaded is hallmark-log's refusal of a request that does not fit
// the in-flight byte budget (limits.inflight_bytes) in time; its body was
// not read. classify maps it, with tlog.ErrPushback, to 503 + Retry-After
// (gRPC Unavailable).
var ErrOverloaded = errors.New("hallmark-log is overloaded, retry later")

// newAdmission returns the service's admission controller: one byte budget
// for the HTTP and gRPC listeners of the process, connection caps and
// timeouts, from the limits: block.
func newAdmission(cfg *tlog.ServiceConfig, reg prometheus.Registerer) *admission.Controller {
	return admission.New(admission.Options{
		Limits:          cfg.Limits.Admission(),
		MaxRequestBytes: cfg.Limits.MaxRequestBytes,
		Namespace:       "hallmark_log",
		Registerer:      reg,
		Overload:        ErrOverloaded,
		TooLarge:        errTooLarge,
	})
}

// entryRoute is the admission of a Rekor log's entry submissions (POST to
// path): bodies up to the largest of the log's limits.max_entry_bytes (its
// entry type is known only once the body is parsed; the handler then
// checks the type's own limit), refused in the API's error shape. A body
// over limits.max_request_bytes, which only such a limit allows, reserves
// tlog.EntryReserveFactor times its length: what decoding it holds at
// once.
// Refusals are counted in hallmark_log_entry_size_refused_total{log, kind}:
// kind is the entry type, or "unparsed" for a Content-Length over the
// route's maximum. It returns the log's counter of refusals once parsed.
func (s *LogService) entryRoute(path string, lc *tlog.LogConfig, refuse func(http.ResponseWriter, *http.Request, error)) *prometheus.CounterVec {
	if s.entrySizeRefused == nil {
		s.entrySizeRefused = prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "hallmark_log_entry_size_refused_total",
			Help: "Entry submissions refused with 413 for their size (logs[].limits.max_entry_bytes), by log and entry type (unparsed: by Content-Length, before the body was read).",
		}, []string{"log", "kind"})
		s.registry.MustRegister(s.entrySizeRefused)
	}
	refused := s.entrySizeRefused.MustCurryWith(prometheus.Labels{"log": lc.Name})
	small := s.cfg.Limits.MaxRequestBytes
	limits := lc.EntryLimits(small)
	var kinds []string
	for k, v := range limits {
		kinds = append(kinds, fmt.Sprintf("%s %d", k, v))
	}
	slices.Sort(kinds)
	if s.entryRoutes == nil {
		s.entryRoutes = map[string]admission.Route{}
	}
	s.entryRoutes[path] = admission.Route{
		MaxBytes: lc.MaxEntryRoute(small),
		Reserve: func(n int64) int64 {
			if n <= small {
				return n
			}
			return tlog.EntryReserveFactor * n
		},
		Describe: "this log's largest entry; limits by entry type in bytes: " + strings.Join(kinds, ", "),
		Refuse: func(w http.ResponseWriter, r *http.Request, err error) {
			if errors.Is(err, errTooLarge) {
				refused.WithLabelValues("unparsed").Inc()
			}
			refuse(w, r, err)
		},
	}
	return refused
}

// admissionRoute is the admission of a request: an entry route's, or
// limits.max_request_bytes for everything else.
func (s *LogService) admissionRoute(r *http.Request) admission.Route {
	if rt, ok := s.entryRoutes[r.URL.Path]; ok && r.Method == http.MethodPost {
		return rt
	}
	return admission.Route{MaxBytes: s.cfg.Limits.MaxRequestBytes, Refuse: writeError}
}

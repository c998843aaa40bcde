package api

import (
	"errors"

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

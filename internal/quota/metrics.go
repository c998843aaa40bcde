package quota

import "github.com/prometheus/client_golang/prometheus"

// Metrics are a service's quota metrics, named <namespace>_quota_*, with
// the labels scope (the Limiter's Options.Scope) and one more the service
// names (log at hallmark-log, issuer at hallmark-ca):
//
//	<namespace>_quota_limited_total   requests refused (429)
//	<namespace>_quota_allowed_total   requests that took a token
//	<namespace>_quota_keys            keys tracked
//	<namespace>_quota_evicted_total   keys forgotten before their bucket
//	                                  refilled, because the limiter was full
//
// A nil *Metrics counts nothing.
type Metrics struct {
	limited, allowed, evicted *prometheus.CounterVec
	keys                      *prometheus.GaugeVec
}

// NewMetrics registers the quota metrics with r; label is the name of the
// second label.
func NewMetrics(namespace, label string, r prometheus.Registerer) *Metrics {
	labels := []string{"scope", label}
	m := &Metrics{
		limited: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: namespace + "_quota_limited_total",
			Help: "Requests refused with 429 because a quota was used up, by scope and " + label + ".",
		}, labels),
		allowed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: namespace + "_quota_allowed_total",
			Help: "Requests that passed a quota, by scope and " + label + ".",
		}, labels),
		evicted: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: namespace + "_quota_evicted_total",
			Help: "Quota keys forgotten before their bucket refilled because the limiter tracked its maximum of keys, by scope and " + label + ".",
		}, labels),
		keys: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: namespace + "_quota_keys",
			Help: "Quota keys (client addresses, identities) tracked, by scope and " + label + ".",
		}, labels),
	}
	r.MustRegister(m.limited, m.allowed, m.evicted, m.keys)
	return m
}

// limiterMetrics are one Limiter's series.
type limiterMetrics struct {
	limited, allowed, evicted prometheus.Counter
	keys                      prometheus.Gauge
}

func (m *Metrics) forLimiter(scope, label string) limiterMetrics {
	if m == nil { // unregistered series, read by nobody
		c := func() prometheus.Counter { return prometheus.NewCounter(prometheus.CounterOpts{Name: "unused"}) }
		return limiterMetrics{limited: c(), allowed: c(), evicted: c(), keys: prometheus.NewGauge(prometheus.GaugeOpts{Name: "unused"})}
	}
	return limiterMetrics{
		limited: m.limited.WithLabelValues(scope, label),
		allowed: m.allowed.WithLabelValues(scope, label),
		evicted: m.evicted.WithLabelValues(scope, label),
		keys:    m.keys.WithLabelValues(scope, label),
	}
}

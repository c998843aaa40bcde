package admission

import "github.com/prometheus/client_golang/prometheus"

// metrics are the admission metrics of one service, named
// <namespace>_request_budget_* and <namespace>_connections_*.
type metrics struct {
	// waits counts requests that waited for budget, by api (http, grpc).
	waits *prometheus.CounterVec
	// refused counts requests refused before their body was read, by api:
	// http and grpc (no budget), http_too_large (declared length over
	// the limit), grpc_admit (the service's own admission check).
	refused *prometheus.CounterVec
	// bodyTimeouts counts bodies not received within the body timeout.
	bodyTimeouts *prometheus.CounterVec
	// connsOpen and connsRefused are per listener (http, grpc, metrics).
	connsOpen    *prometheus.GaugeVec
	connsRefused *prometheus.CounterVec
}

func newMetrics(ns string, r prometheus.Registerer, c *Controller) *metrics {
	m := &metrics{
		waits: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: ns + "_request_budget_waits_total",
			Help: "Requests that waited for the in-flight byte budget, by API.",
		}, []string{"api"}),
		refused: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: ns + "_request_budget_refused_total",
			Help: "Requests refused before their body was read (503/429/413, gRPC Unavailable), by API.",
		}, []string{"api"}),
		bodyTimeouts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: ns + "_request_body_timeouts_total",
			Help: "Request bodies or gRPC messages not received within the body timeout, by API.",
		}, []string{"api"}),
		connsOpen: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: ns + "_connections_open",
			Help: "Open connections, by listener.",
		}, []string{"listener"}),
		connsRefused: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: ns + "_connections_refused_total",
			Help: "Connections closed at accept because the listener had max connections open, by listener.",
		}, []string{"listener"}),
	}
	inUse := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: ns + "_request_budget_in_use_bytes",
		Help: "Bytes of the in-flight request budget reserved.",
	}, func() float64 { return float64(c.budget.inUse()) })
	limit := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: ns + "_request_budget_bytes",
		Help: "The in-flight request byte budget.",
	}, func() float64 { return float64(c.budget.total) })
	r.MustRegister(m.waits, m.refused, m.bodyTimeouts, m.connsOpen, m.connsRefused, inUse, limit)
	return m
}

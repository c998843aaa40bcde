package fulcioapi

import "github.com/prometheus/client_golang/prometheus"

// metrics are hallmark-ca's Prometheus metrics.
type metrics struct {
	// issued counts certificates, by API (v1, v2, grpc) and issuer type.
	issued *prometheus.CounterVec
	// rejected counts refused requests, by API and reason (the failed
	// check: expired, wrong_audience, policy_denied, bad_proof, ...).
	rejected *prometheus.CounterVec
	// latency is the time to issue a certificate, by API.
	latency *prometheus.HistogramVec
}

func newMetrics(r prometheus.Registerer) *metrics {
	m := &metrics{
		issued: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "hallmark_ca_certificates_issued_total",
			Help: "Certificates issued, by API and issuer type.",
		}, []string{"api", "issuer_type"}),
		rejected: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "hallmark_ca_requests_rejected_total",
			Help: "Certificate requests refused, by API and reason.",
		}, []string{"api", "reason"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "hallmark_ca_issue_duration_seconds",
			Help:    "Time to verify a request and issue its certificate.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5},
		}, []string{"api"}),
	}
	r.MustRegister(m.issued, m.rejected, m.latency)
	return m
}

package tsaapi

import (
	"github.com/digitorus/timestamp"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/hallmark-dev/hallmark/ca"
)

// metrics are the TSA's Prometheus metrics.
type metrics struct {
	// issued counts timestamps, by request form (der, json) and hash.
	issued *prometheus.CounterVec
	// rejected counts rejections, by reason (bad_alg, bad_data_format,
	// bad_request, unaccepted_policy, unaccepted_extension, system_failure,
	// overloaded: refused by the in-flight byte budget).
	rejected *prometheus.CounterVec
	// latency is the time from request to signed response.
	latency prometheus.Histogram
}

func newMetrics(r prometheus.Registerer) *metrics {
	m := &metrics{
		issued: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "hallmark_tsa_timestamps_issued_total",
			Help: "RFC 3161 timestamps issued, by request form and hash algorithm.",
		}, []string{"form", "hash"}),
		rejected: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "hallmark_tsa_requests_rejected_total",
			Help: "Timestamp requests rejected, by PKIFailureInfo reason.",
		}, []string{"reason"}),
		latency: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "hallmark_tsa_issue_duration_seconds",
			Help:    "Time to parse a timestamp request and sign its token.",
			Buckets: []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .1},
		}),
	}
	r.MustRegister(m.issued, m.rejected, m.latency)
	return m
}

// tsRequest is a parsed request and the form it came in.
type tsRequest struct {
	*timestamp.Request
	form string
}

func parseDER(b []byte) (*tsRequest, error) {
	r, err := ca.ParseTimestampQuery(b)
	if err != nil {
		return nil, err
	}
	return &tsRequest{r, "der"}, nil
}

func parseJSON(b []byte) (*tsRequest, error) {
	r, err := ca.ParseTimestampJSON(b)
	if err != nil {
		return nil, err
	}
	return &tsRequest{r, "json"}, nil
}

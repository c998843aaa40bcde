package api

import (
	"crypto"
	"io"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/hallmark-dev/hallmark/internal/signer"
	"github.com/hallmark-dev/hallmark/tlog"
)

// keyMetrics count the signatures made with the logs' keys: checkpoints,
// Rekor v1 SETs, CT SCTs. With a key in an HSM or a KMS every one is a
// round trip to the device, so their latency is part of the write path.
type keyMetrics struct {
	info    *prometheus.GaugeVec
	latency *prometheus.HistogramVec
	errors  *prometheus.CounterVec
}

func newKeyMetrics(reg prometheus.Registerer) *keyMetrics {
	m := &keyMetrics{
		info: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "hallmark_log_key_info",
			Help: "Always 1: where each log's key lives (signer: file, pkcs11 or kms) and its type (ed25519, ecdsa-p256, ml-dsa-44).",
		}, []string{"log", "signer", "key_type"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "hallmark_log_key_sign_seconds",
			Help:    "Time to make one signature with the log's key (checkpoint, SET or SCT), device round trip included.",
			Buckets: prometheus.ExponentialBuckets(0.00002, 2, 18),
		}, []string{"log"}),
		errors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "hallmark_log_key_sign_errors_total",
			Help: "Signatures the log's key failed to make (HSM or KMS unreachable, session errors); each fails its batch or request.",
		}, []string{"log"}),
	}
	reg.MustRegister(m.info, m.latency, m.errors)
	return m
}

// meteredKey is a log key whose signatures are timed and counted. Close
// releases the key (PKCS#11 sessions) when the service stops.
type meteredKey struct {
	signer.Signer
	latency prometheus.Observer
	errors  prometheus.Counter
}

func (m *keyMetrics) wrap(lc *tlog.LogConfig, k signer.Signer) *meteredKey {
	m.info.WithLabelValues(lc.Name, lc.SignerConfig().Type, tlog.KeyTypeName(k.Public())).Set(1)
	return &meteredKey{Signer: k, latency: m.latency.WithLabelValues(lc.Name), errors: m.errors.WithLabelValues(lc.Name)}
}

func (k *meteredKey) Sign(r io.Reader, digest []byte, opts crypto.SignerOpts) ([]byte, error) {
	start := time.Now()
	sig, err := k.Signer.Sign(r, digest, opts)
	k.latency.Observe(time.Since(start).Seconds())
	if err != nil {
		k.errors.Inc()
	}
	return sig, err
}

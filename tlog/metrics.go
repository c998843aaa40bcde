package tlog

import "github.com/prometheus/client_golang/prometheus"

// Metrics are the engine's Prometheus metrics, labelled by log name.
type Metrics struct {
	batchSize      *prometheus.HistogramVec
	commitLatency  *prometheus.HistogramVec
	submitToCommit *prometheus.HistogramVec
	queueDepth     *prometheus.GaugeVec
	treeSize       *prometheus.GaugeVec
	pushbacks      *prometheus.CounterVec
	commitErrors   *prometheus.CounterVec
	proofFailures  *prometheus.CounterVec
	appends        *prometheus.CounterVec
	entryErrors    *prometheus.CounterVec
}

// NewMetrics creates the engine metrics and registers them with reg, if
// reg is not nil. Share one Metrics between all logs of a process.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		batchSize: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "hallmark_log_batch_entries", Help: "Entries per committed batch.",
			Buckets: prometheus.ExponentialBuckets(1, 2, 14),
		}, []string{"log"}),
		commitLatency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "hallmark_log_commit_seconds", Help: "Time to commit one batch transaction.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 16),
		}, []string{"log"}),
		submitToCommit: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "hallmark_log_submit_to_commit_seconds", Help: "Time from Append to the commit of its batch.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 16),
		}, []string{"log"}),
		queueDepth: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "hallmark_log_queue_depth", Help: "Entries waiting for a batch.",
		}, []string{"log"}),
		treeSize: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "hallmark_log_tree_size", Help: "Tree size of the latest committed checkpoint.",
		}, []string{"log"}),
		pushbacks: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "hallmark_log_pushbacks_total", Help: "Appends refused because the queue was full.",
		}, []string{"log"}),
		commitErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "hallmark_log_commit_errors_total", Help: "Batches that failed to commit.",
		}, []string{"log"}),
		proofFailures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "hallmark_log_proof_failures_total", Help: "Proofs that failed self-verification before being served.",
		}, []string{"log", "kind"}),
		appends: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "hallmark_log_appends_total", Help: "Appended entries, new or duplicate.",
		}, []string{"log", "result"}),
		entryErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "hallmark_log_entry_errors_total",
			Help: "Entries that failed alone while the rest of their batch committed, by reason: finish (building the entry failed), store_refused (the store refused a value the entry carries).",
		}, []string{"log", "reason"}),
	}
	if reg != nil {
		reg.MustRegister(m.batchSize, m.commitLatency, m.submitToCommit, m.queueDepth, m.treeSize,
			m.pushbacks, m.commitErrors, m.proofFailures, m.appends, m.entryErrors)
	}
	return m
}

package tufrepo

import (
	"github.com/prometheus/client_golang/prometheus"
)

// WriteMetrics writes each role's expiry and version as Prometheus text
// to path (replaced atomically), for node_exporter's textfile collector:
//
//	hallmark_tuf_metadata_expiry_timestamp_seconds{role}  when the newest metadata expires
//	hallmark_tuf_metadata_version{role}                   its version
//	hallmark_tuf_role_offline{role}                       1 if its keys are held offline
//
// An alert rule such as
// `hallmark_tuf_metadata_expiry_timestamp_seconds - time() < 3*86400`
// warns before clients start refusing the repository; `hallmark monitor`
// raises the same warning from the client side (audit.TUFConfig).
func (r *Repo) WriteMetrics(path string) error {
	reg := prometheus.NewRegistry()
	expiry := prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "hallmark_tuf_metadata_expiry_timestamp_seconds",
		Help: "When the role's newest published metadata expires (Unix time)."}, []string{"role"})
	version := prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "hallmark_tuf_metadata_version",
		Help: "Version of the role's newest published metadata."}, []string{"role"})
	offline := prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "hallmark_tuf_role_offline",
		Help: "1 if the role is signed offline by its key holders, 0 if by a key in the keys directory."}, []string{"role"})
	reg.MustRegister(expiry, version, offline)
	v := r.Versions()
	for role, t := range r.Expires() {
		expiry.WithLabelValues(role).Set(float64(t.Unix()))
		version.WithLabelValues(role).Set(float64(v[role]))
		o := 1.0
		if r.Online(role) {
			o = 0
		}
		offline.WithLabelValues(role).Set(o)
	}
	return prometheus.WriteToTextfile(path, reg)
}

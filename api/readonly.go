package api

import (
	"context"
	"net/http"

	protorekor "github.com/sigstore/protobuf-specs/gen/pb-go/rekor/v1"
	rekortilespb "github.com/sigstore/rekor-tiles/v2/pkg/generated/protobuf"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/hallmark-dev/hallmark/tlog"
)

// OpenStoreReadOnly opens the store the config names without applying
// migrations or writing anything (PostgreSQL sessions are read-only), for
// read-only replicas and `hallmark fsck`. SQLite files are opened as
// usual: they have no standby to protect.
func OpenStoreReadOnly(ctx context.Context, cfg *tlog.ServiceConfig) (Store, error) {
	url, err := cfg.DatabaseURL()
	if err != nil {
		return nil, err
	}
	if url != "" {
		return tlog.OpenPGReadOnly(ctx, url)
	}
	return tlog.OpenSQLite(ctx, cfg.Path(cfg.Database.SQLite))
}

// readOnly reports whether a log refuses writes: the whole service is a
// read-only replica, or the log is frozen.
func (s *LogService) readOnly(sl *servedLog) bool { return s.cfg.ReadOnly || sl.cfg.ReadOnly }

// refuseWrites wraps the service's handler: the write endpoints of every
// read-only log answer 405 with a message that says where writes go.
// Everything else (including the POST searches of Rekor v1, which only
// read) passes through.
func (s *LogService) refuseWrites(next http.Handler) http.Handler {
	writes := map[string]bool{}
	for _, sl := range s.logs {
		if !s.readOnly(sl) || s.cfg.ServedThrough(sl.cfg.Name) != nil {
			continue
		}
		p := sl.cfg.Prefix()
		switch sl.cfg.Kind {
		case "tiles":
			writes[p+"/entries"] = true
		case "rekor-v1":
			writes[p+"/api/v1/log/entries"] = true
		case "rekor-v2":
			writes[p+"/api/v2/log/entries"] = true
		}
	}
	if len(writes) == 0 {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost && writes[r.URL.Path] {
			w.Header().Set("Allow", "GET, HEAD")
			writeJSON(w, http.StatusMethodNotAllowed, map[string]any{"code": http.StatusMethodNotAllowed, "message": tlog.ErrReadOnly.Error()})
			return
		}
		next.ServeHTTP(w, r)
	})
}

// rekorServer returns the Rekor v2 gRPC service of sl: v2 itself, or for
// a read-only log a wrapper whose CreateEntry fails with
// FAILED_PRECONDITION.
func (s *LogService) rekorServer(sl *servedLog, v2 *rekorV2) rekortilespb.RekorServer {
	if !s.readOnly(sl) {
		return v2
	}
	return readOnlyRekor{v2}
}

type readOnlyRekor struct{ *rekorV2 }

func (readOnlyRekor) CreateEntry(context.Context, *rekortilespb.CreateEntryRequest) (*protorekor.TransparencyLogEntry, error) {
	return nil, status.Error(codes.FailedPrecondition, tlog.ErrReadOnly.Error())
}

package api

import (
	"context"

	"github.com/hallmark-dev/hallmark/tlog"
)

// OpenStoreReadOnly opens the store the config names without applying
// migrations or writing anything (PostgreSQL sessions are read-only), for
// read-only replicas and `hallmark fsck`. SQLite files are opened as
// usual: they have no standby to protect.
func OpenStoreReadOnly(ctx context.Context, cfg *tlog.ServiceConfig) (tlog.Store, error) {
	url, err := cfg.DatabaseURL()
	if err != nil {
		return nil, err
	}
	if url != "" {
		return tlog.OpenPGReadOnly(ctx, url)
	}
	return tlog.OpenSQLite(ctx, cfg.Path(cfg.Database.SQLite))
}

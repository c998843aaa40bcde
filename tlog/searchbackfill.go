package tlog

import (
	"context"
	"fmt"
)

// SearchKeyWriter is a store that can index entries already in a log: the
// backfill of search keys for entries logged before their log kind had a
// search index (`hallmark index-v2` for Rekor v2 logs). Batches write the
// keys of their own entries in their transaction (BatchWrite.SearchKeys);
// this is only for the past.
//
// AddSearchKeys stores rows in one transaction: when it returns nil all of
// them are durable, on error none is. A row the log already has is left as
// it is, so a backfill that stopped half way can run again. It takes no log
// lock: it writes rows for existing entries only, which no batch writes,
// and a search running at the same time sees the rows before or after.
type SearchKeyWriter interface {
	AddSearchKeys(ctx context.Context, log string, rows []SearchRow) error
}

var (
	_ SearchKeyWriter = (*PGStore)(nil)
	_ SearchKeyWriter = (*SQLiteStore)(nil)
)

// AddSearchKeys indexes entries of log already in s under the rows' keys
// (any strings, as Entry.SearchKeys), with w, the store's SearchKeyWriter
// (usually s itself). Every index must be below the log's size.
func AddSearchKeys(ctx context.Context, s Store, w SearchKeyWriter, log string, rows []SearchRow) error {
	st, err := s.State(ctx, log)
	if err != nil {
		return fmt.Errorf("log %s: %w", log, err)
	}
	stored := make([]SearchRow, len(rows))
	for i, r := range rows {
		if r.Index >= st.Size {
			return fmt.Errorf("%w: log %s has %d entries, no index %d to index", ErrInvalidRequest, log, st.Size, r.Index)
		}
		stored[i] = SearchRow{Key: storedSearchKey(r.Key), Index: r.Index}
	}
	if len(stored) == 0 {
		return nil
	}
	if err := w.AddSearchKeys(ctx, log, stored); err != nil {
		return fmt.Errorf("couldn't add search keys to log %s: %w", log, err)
	}
	return nil
}

// AddSearchKeys implements SearchKeyWriter.
func (s *PGStore) AddSearchKeys(ctx context.Context, log string, rows []SearchRow) error {
	hs, idx, keys := make([]int64, len(rows)), make([]int64, len(rows)), make([]string, len(rows))
	for i, r := range rows {
		hs[i], idx[i], keys[i] = searchHash(log, r.Key), int64(r.Index), r.Key
	}
	_, err := s.pool.Exec(ctx, `INSERT INTO search_keys (h, idx, log, key)
		SELECT h, idx, $1, key FROM unnest($2::bigint[], $3::bigint[], $4::text[]) AS r(h, idx, key)
		ON CONFLICT DO NOTHING`, log, hs, idx, keys)
	return err
}

// AddSearchKeys implements SearchKeyWriter, on the writer connection
// batches use.
func (s *SQLiteStore) AddSearchKeys(ctx context.Context, log string, rows []SearchRow) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	tx, err := s.writer.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback() //nolint:errcheck // after Commit, a no-op
	for _, r := range rows {
		if _, err := tx.ExecContext(ctx, `INSERT INTO search_keys (log, key, idx) VALUES (?, ?, ?) ON CONFLICT DO NOTHING`, log, r.Key, int64(r.Index)); err != nil {
			return err
		}
	}
	return tx.Commit()
}

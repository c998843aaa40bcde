package tlog

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"sync"
	"time"

	_ "modernc.org/sqlite" // registers the pure-Go "sqlite" driver

	"github.com/hallmark-dev/hallmark/migrations"
)

// SQLiteStore is the embedded Store, for laptops, `hallmark dev` and tests.
// It runs in one process: writers are serialised by a mutex and SQLite's
// write lock (BEGIN IMMEDIATE), and commits are durable (WAL with
// synchronous=FULL).
type SQLiteStore struct {
	db *sql.DB
	mu sync.Mutex // one write transaction at a time, on writer
	// writer is the one connection batches run on: its page cache stays
	// warm from batch to batch.
	writer *sql.Conn
}

var _ Store = (*SQLiteStore)(nil)

// OpenSQLite opens (creating if needed) the database file at path and
// applies pending migrations.
func OpenSQLite(ctx context.Context, path string) (*SQLiteStore, error) {
	q := url.Values{}
	for _, p := range []string{"journal_mode(WAL)", "synchronous(FULL)", "busy_timeout(10000)", "foreign_keys(1)", "cache_size(-131072)", "mmap_size(4294967296)"} {
		q.Add("_pragma", p)
	}
	db, err := sql.Open("sqlite", "file:"+path+"?"+q.Encode())
	if err != nil {
		return nil, fmt.Errorf("couldn't open %s: %w", path, err)
	}
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("couldn't open %s: %w", path, err)
	}
	if _, err := migrations.Up(ctx, db, migrations.SQLite); err != nil {
		db.Close()
		return nil, err
	}
	writer, err := db.Conn(ctx)
	if err != nil {
		db.Close()
		return nil, err
	}
	return &SQLiteStore{db: db, writer: writer}, nil
}

func (s *SQLiteStore) Close() error {
	s.mu.Lock()
	s.writer.Close()
	s.mu.Unlock()
	return s.db.Close()
}

func (s *SQLiteStore) CreateLog(ctx context.Context, log string) error {
	_, err := s.db.ExecContext(ctx, `INSERT INTO logs (name) VALUES (?) ON CONFLICT (name) DO NOTHING`, log)
	return err
}

type sqlQuerier interface {
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
}

func sqliteState(ctx context.Context, q sqlQuerier, log string) (*TreeState, error) {
	var (
		st      TreeState
		size    int64
		compact []byte
	)
	err := q.QueryRowContext(ctx, `SELECT size, root, compact, checkpoint FROM logs WHERE name = ?`, log).Scan(&size, &st.Root, &compact, &st.Checkpoint)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, err
	}
	st.Size = uint64(size)
	if st.Range, err = splitHashes(compact); err != nil {
		return nil, err
	}
	return &st, nil
}

func (s *SQLiteStore) State(ctx context.Context, log string) (*TreeState, error) {
	return sqliteState(ctx, s.db, log)
}

func (s *SQLiteStore) Commit(ctx context.Context, log string, fn func(Tx) error) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	conn := s.writer
	if _, err := conn.ExecContext(ctx, "BEGIN IMMEDIATE"); err != nil {
		return fmt.Errorf("couldn't begin transaction: %w", err)
	}
	committed := false
	defer func() {
		if !committed {
			conn.ExecContext(context.Background(), "ROLLBACK") //nolint:errcheck
		}
	}()
	if err := fn(&sqliteTx{ctx: ctx, conn: conn, log: log}); err != nil {
		return err
	}
	if _, err := conn.ExecContext(ctx, "COMMIT"); err != nil {
		return fmt.Errorf("couldn't commit transaction: %w", err)
	}
	committed = true
	return nil
}

type sqliteTx struct {
	ctx  context.Context
	conn *sql.Conn
	log  string
}

func (t *sqliteTx) State() (*TreeState, error) {
	if err := t.checkNotFrozen(); err != nil {
		return nil, err
	}
	return sqliteState(t.ctx, t.conn, t.log)
}

func (t *sqliteTx) LookupKeys(keys [][32]byte) (map[[32]byte]uint64, error) {
	out := map[[32]byte]uint64{}
	const chunk = 500
	for start := 0; start < len(keys); start += chunk {
		part := keys[start:min(start+chunk, len(keys))]
		args := []any{t.log}
		for i := range part {
			args = append(args, part[i][:])
		}
		q := `SELECT key, idx FROM entry_keys WHERE log = ? AND key IN (?` + strings.Repeat(",?", len(part)-1) + `)`
		rows, err := t.conn.QueryContext(t.ctx, q, args...)
		if err != nil {
			return nil, err
		}
		for rows.Next() {
			var k []byte
			var idx int64
			if err := rows.Scan(&k, &idx); err != nil {
				rows.Close()
				return nil, err
			}
			out[[32]byte(k)] = uint64(idx)
		}
		if err := rows.Close(); err != nil {
			return nil, err
		}
	}
	return out, nil
}

func sqliteBytes(row *sql.Row) ([]byte, error) {
	var b []byte
	if err := row.Scan(&b); err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			return nil, ErrNotFound
		}
		return nil, err
	}
	return b, nil
}

func (t *sqliteTx) ReadTile(level, index uint64) ([]byte, error) {
	return sqliteBytes(t.conn.QueryRowContext(t.ctx, `SELECT data FROM tiles WHERE log = ? AND level = ? AND idx = ?`, t.log, int64(level), int64(index)))
}

func (t *sqliteTx) ReadEntryBundle(index uint64) ([]byte, error) {
	return sqliteBytes(t.conn.QueryRowContext(t.ctx, `SELECT data FROM bundles WHERE log = ? AND idx = ?`, t.log, int64(index)))
}

func (t *sqliteTx) Write(b *BatchWrite) error {
	exec := func(what, q string, rows int, args func(i int) []any) error {
		if rows == 0 {
			return nil
		}
		st, err := t.conn.PrepareContext(t.ctx, q)
		if err != nil {
			return fmt.Errorf("couldn't write %s: %w", what, err)
		}
		defer st.Close()
		for i := 0; i < rows; i++ {
			if _, err := st.ExecContext(t.ctx, args(i)...); err != nil {
				return fmt.Errorf("couldn't write %s: %w", what, err)
			}
		}
		return nil
	}
	if err := exec("entry keys", `INSERT INTO entry_keys (log, key, idx) VALUES (?, ?, ?)`, len(b.Keys), func(i int) []any {
		return []any{t.log, b.Keys[i].Key[:], int64(b.Keys[i].Index)}
	}); err != nil {
		return err
	}
	if err := exec("search keys", `INSERT INTO search_keys (log, key, idx) VALUES (?, ?, ?) ON CONFLICT DO NOTHING`, len(b.SearchKeys), func(i int) []any {
		return []any{t.log, b.SearchKeys[i].Key, int64(b.SearchKeys[i].Index)}
	}); err != nil {
		return err
	}
	if err := exec("tiles", `INSERT INTO tiles (log, level, idx, data) VALUES (?, ?, ?, ?)
		ON CONFLICT (log, level, idx) DO UPDATE SET data = excluded.data`, len(b.Tiles), func(i int) []any {
		return []any{t.log, int64(b.Tiles[i].Level), int64(b.Tiles[i].Index), b.Tiles[i].Data}
	}); err != nil {
		return err
	}
	if err := exec("entry bundles", `INSERT INTO bundles (log, idx, data) VALUES (?, ?, ?)
		ON CONFLICT (log, idx) DO UPDATE SET data = excluded.data`, len(b.Bundles), func(i int) []any {
		return []any{t.log, int64(b.Bundles[i].Index), b.Bundles[i].Data}
	}); err != nil {
		return err
	}
	if _, err := t.conn.ExecContext(t.ctx, `UPDATE logs SET size = ?, root = ?, compact = ?, checkpoint = ? WHERE name = ?`,
		int64(b.State.Size), b.State.Root, joinHashes(b.State.Range), b.State.Checkpoint, t.log); err != nil {
		return fmt.Errorf("couldn't write state: %w", err)
	}
	if _, err := t.conn.ExecContext(t.ctx, `INSERT INTO checkpoints (log, size, time_ms, checkpoint) VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING`,
		t.log, int64(b.State.Size), b.Time.UnixMilli(), b.State.Checkpoint); err != nil {
		return fmt.Errorf("couldn't write checkpoint: %w", err)
	}
	return nil
}

func (s *SQLiteStore) ReadTile(ctx context.Context, log string, level, index uint64) ([]byte, error) {
	return sqliteBytes(s.db.QueryRowContext(ctx, `SELECT data FROM tiles WHERE log = ? AND level = ? AND idx = ?`, log, int64(level), int64(index)))
}

func (s *SQLiteStore) ReadEntryBundle(ctx context.Context, log string, index uint64) ([]byte, error) {
	return sqliteBytes(s.db.QueryRowContext(ctx, `SELECT data FROM bundles WHERE log = ? AND idx = ?`, log, int64(index)))
}

func (s *SQLiteStore) Lookup(ctx context.Context, log string, key [32]byte) (uint64, error) {
	var idx int64
	err := s.db.QueryRowContext(ctx, `SELECT idx FROM entry_keys WHERE log = ? AND key = ?`, log, key[:]).Scan(&idx)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, ErrNotFound
	}
	return uint64(idx), err
}

func (s *SQLiteStore) Search(ctx context.Context, log string, keys []string, limit int) ([]uint64, error) {
	if len(keys) == 0 {
		return nil, nil
	}
	args := []any{log}
	for _, k := range keys {
		args = append(args, k)
	}
	args = append(args, limit)
	rows, err := s.db.QueryContext(ctx, `SELECT DISTINCT idx FROM search_keys WHERE log = ? AND key IN (?`+strings.Repeat(",?", len(keys)-1)+`) ORDER BY idx LIMIT ?`, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []uint64
	for rows.Next() {
		var i int64
		if err := rows.Scan(&i); err != nil {
			return nil, err
		}
		out = append(out, uint64(i))
	}
	return out, rows.Err()
}

func (s *SQLiteStore) BatchTime(ctx context.Context, log string, index uint64) (time.Time, error) {
	var ms int64
	err := s.db.QueryRowContext(ctx, `SELECT time_ms FROM checkpoints WHERE log = ? AND size > ? ORDER BY size LIMIT 1`, log, int64(index)).Scan(&ms)
	if errors.Is(err, sql.ErrNoRows) {
		return time.Time{}, ErrNotFound
	}
	return time.UnixMilli(ms), err
}

func (s *SQLiteStore) Checkpoints(ctx context.Context, log string, from, to uint64) ([]StoredCheckpoint, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT size, time_ms, checkpoint FROM checkpoints WHERE log = ? AND size >= ? AND size <= ? ORDER BY size`, log, int64(from), int64(to))
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []StoredCheckpoint
	for rows.Next() {
		var c StoredCheckpoint
		var size, ms int64
		if err := rows.Scan(&size, &ms, &c.Checkpoint); err != nil {
			return nil, err
		}
		c.Size, c.Time = uint64(size), time.UnixMilli(ms)
		out = append(out, c)
	}
	return out, rows.Err()
}

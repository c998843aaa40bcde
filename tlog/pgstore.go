package tlog

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/pressly/goose/v3/lock"

	"github.com/hallmark-dev/hallmark/migrations"
)

// PGStore is the PostgreSQL Store. Batches are serialised per log by a row
// lock on the log's state row; reads run on the pool without locks.
type PGStore struct {
	pool *pgxpool.Pool
}

// PGStore implements the whole storage contract (store.go).
var (
	_ Store       = (*PGStore)(nil)
	_ SearchIndex = (*PGStore)(nil)
	_ History     = (*PGStore)(nil)
	_ Importer    = (*PGStore)(nil)
)

// OpenPG connects to PostgreSQL and applies pending migrations.
func OpenPG(ctx context.Context, url string) (*PGStore, error) {
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("invalid database URL: %w", err)
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("couldn't connect to PostgreSQL: %w", err)
	}
	if err := pool.Ping(ctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("couldn't reach PostgreSQL: %w", err)
	}
	if _, err := MigratePG(ctx, pool); err != nil {
		pool.Close()
		return nil, err
	}
	return &PGStore{pool: pool}, nil
}

// MigratePG applies pending migrations, holding a session lock so that
// replicas starting together do not race.
func MigratePG(ctx context.Context, pool *pgxpool.Pool) (int64, error) {
	db := stdlib.OpenDBFromPool(pool)
	defer db.Close()
	locker, err := lock.NewPostgresSessionLocker()
	if err != nil {
		return 0, err
	}
	return migrations.Up(ctx, db, migrations.Postgres, migrations.WithSessionLocker(locker))
}

func (s *PGStore) Close() error { s.pool.Close(); return nil }

func (s *PGStore) CreateLog(ctx context.Context, log string) error {
	_, err := s.pool.Exec(ctx, `INSERT INTO logs (name) VALUES ($1) ON CONFLICT (name) DO NOTHING`, log)
	return err
}

// scanState scans size, root, compact, checkpoint, then any extra columns.
func scanState(row pgx.Row, extra ...any) (*TreeState, error) {
	var (
		st      TreeState
		size    int64
		compact []byte
	)
	if err := row.Scan(append([]any{&size, &st.Root, &compact, &st.Checkpoint}, extra...)...); err != nil {
		if errors.Is(err, pgx.ErrNoRows) {
			return nil, ErrNotFound
		}
		return nil, err
	}
	st.Size = uint64(size)
	var err error
	if st.Range, err = splitHashes(compact); err != nil {
		return nil, err
	}
	return &st, nil
}

func (s *PGStore) State(ctx context.Context, log string) (*TreeState, error) {
	return scanState(s.pool.QueryRow(ctx, `SELECT size, root, compact, checkpoint FROM logs WHERE name = $1`, log))
}

func (s *PGStore) Commit(ctx context.Context, log string, fn func(Tx) error) error {
	return s.commit(ctx, log, func(t *pgTx) error { return fn(t) })
}

// commit is Commit with the store's own transaction type.
func (s *PGStore) commit(ctx context.Context, log string, fn func(*pgTx) error) error {
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return fmt.Errorf("couldn't begin transaction: %w", err)
	}
	defer tx.Rollback(context.Background()) //nolint:errcheck // no-op after Commit
	if err := fn(&pgTx{ctx: ctx, tx: tx, log: log}); err != nil {
		return err
	}
	if err := tx.Commit(ctx); err != nil {
		// The commit may or may not have happened (connection lost while
		// committing). The next batch rereads the state under the lock, so
		// either way the log stays consistent; the waiters get an error and
		// their retries are deduplicated.
		return fmt.Errorf("couldn't commit transaction: %w", err)
	}
	return nil
}

type pgTx struct {
	ctx context.Context
	tx  pgx.Tx
	log string
}

func (t *pgTx) State() (*TreeState, error) {
	var frozen bool
	// FOR NO KEY UPDATE, not FOR UPDATE: writers exclude each other just
	// the same, but an import transaction that has inserted rows
	// referencing the log (and so holds a KEY SHARE lock on its row)
	// while it waits for the transaction before it does not block it.
	st, err := scanState(t.tx.QueryRow(t.ctx, `SELECT size, root, compact, checkpoint, frozen FROM logs WHERE name = $1 FOR NO KEY UPDATE`, t.log), &frozen)
	if err == nil && frozen {
		return nil, fmt.Errorf("log %s: %w", t.log, ErrFrozen) // see freeze.go
	}
	return st, err
}

func (t *pgTx) LookupKeys(keys [][32]byte) (map[[32]byte]uint64, error) {
	raw := make([][]byte, len(keys))
	for i := range keys {
		raw[i] = keys[i][:]
	}
	// Planned for each batch (QueryExecModeExec: PostgreSQL's unnamed
	// statement, never a cached generic plan). A cached statement switches
	// to a generic plan after five executions; made while a new log's
	// table was small, that plan is a sequential scan comparing every row
	// with every key of the batch, and it stays until the table is next
	// analysed: on a new log it cost 48 ms a batch, half the machine, after
	// 20,000 entries (docs/BENCHMARKS.md). Planning with the batch's keys
	// and the table's current size takes a fraction of a millisecond.
	rows, err := t.tx.Query(t.ctx, `SELECT key, idx FROM entry_keys WHERE log = $1 AND key = ANY($2)`, pgx.QueryExecModeExec, t.log, raw)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[[32]byte]uint64{}
	for rows.Next() {
		var k []byte
		var idx int64
		if err := rows.Scan(&k, &idx); err != nil {
			return nil, err
		}
		out[[32]byte(k)] = uint64(idx)
	}
	return out, rows.Err()
}

func (t *pgTx) ReadTile(level, index uint64) ([]byte, error) {
	return readBytes(t.tx.QueryRow(t.ctx, `SELECT data FROM tiles WHERE log = $1 AND level = $2 AND idx = $3`, t.log, int64(level), int64(index)))
}

func (t *pgTx) ReadEntryBundle(index uint64) ([]byte, error) {
	return readBytes(t.tx.QueryRow(t.ctx, `SELECT data FROM bundles WHERE log = $1 AND idx = $2`, t.log, int64(index)))
}

func (t *pgTx) Write(b *BatchWrite) error {
	if err := t.writeKeys(b); err != nil {
		return err
	}
	batch := &pgx.Batch{}
	for _, tl := range b.Tiles {
		batch.Queue(`INSERT INTO tiles (log, level, idx, data) VALUES ($1, $2, $3, $4)
			ON CONFLICT (log, level, idx) DO UPDATE SET data = EXCLUDED.data`, t.log, int64(tl.Level), int64(tl.Index), tl.Data)
	}
	if len(b.Bundles) < bundlesToCopy {
		for _, bu := range b.Bundles {
			batch.Queue(`INSERT INTO bundles (log, idx, data) VALUES ($1, $2, $3)
			ON CONFLICT (log, idx) DO UPDATE SET data = EXCLUDED.data`, t.log, int64(bu.Index), bu.Data)
		}
	} else if err := t.copyBundles(b.Bundles, true); err != nil {
		return err
	}
	batch.Queue(`UPDATE logs SET size = $2, root = $3, compact = $4, checkpoint = $5 WHERE name = $1`,
		t.log, int64(b.State.Size), b.State.Root, joinHashes(b.State.Range), b.State.Checkpoint)
	t.queueCheckpoints(batch, b.Checkpoints)
	batch.Queue(`INSERT INTO checkpoints (log, size, time_ms, checkpoint) VALUES ($1, $2, $3, $4)
		ON CONFLICT (log, size) DO NOTHING`, t.log, int64(b.State.Size), b.Time.UnixMilli(), b.State.Checkpoint)
	if err := t.tx.SendBatch(t.ctx, batch).Close(); err != nil {
		return fmt.Errorf("couldn't write tiles and state: %w", err)
	}
	return nil
}

// CommitImport implements [Importer]: rows go in first, before the
// transaction locks the log, so that a batch writes them while the one
// before it commits; then wait, then fn under the lock. The rows are new:
// a key the log has fails it with ErrKeyExists (entry_keys' unique index
// checks each key as it inserts it, so imports skip LookupKeys, which
// would make the same B-tree descents twice), a bundle that exists with
// ErrRowExists.
func (s *PGStore) CommitImport(ctx context.Context, log string, rows *BatchWrite, wait func() error, fn func(Tx) error) error {
	return s.commit(ctx, log, func(t *pgTx) error {
		if err := t.writeImportRows(rows); err != nil {
			return err
		}
		if err := wait(); err != nil {
			return err
		}
		return fn(t)
	})
}

// writeImportRows writes an import batch's keys, search keys, whole entry
// bundles and checkpoints, before the transaction locks the log.
func (t *pgTx) writeImportRows(b *BatchWrite) error {
	// The transaction will wait for the one before it outside the
	// database, where PostgreSQL cannot see a deadlock: bound every lock
	// wait, so a conflict with another writer fails instead of hanging.
	if _, err := t.tx.Exec(t.ctx, `SET LOCAL lock_timeout = '`+importLockTimeout+`'`); err != nil {
		return err
	}
	if err := t.writeKeys(b); err != nil {
		return err
	}
	if err := t.copyBundles(b.Bundles, false); err != nil {
		return err
	}
	batch := &pgx.Batch{}
	t.queueCheckpoints(batch, b.Checkpoints)
	if err := t.tx.SendBatch(t.ctx, batch).Close(); err != nil {
		return fmt.Errorf("couldn't write checkpoints: %w", err)
	}
	return nil
}

// writeKeys writes the batch's deduplication and search keys.
func (t *pgTx) writeKeys(b *BatchWrite) error {
	if len(b.Keys) > 0 {
		_, err := t.tx.CopyFrom(t.ctx, pgx.Identifier{"entry_keys"}, []string{"log", "key", "idx"},
			pgx.CopyFromSlice(len(b.Keys), func(i int) ([]any, error) {
				return []any{t.log, b.Keys[i].Key[:], int64(b.Keys[i].Index)}, nil
			}))
		if detail, ok := uniqueViolation(err); ok {
			return fmt.Errorf("couldn't write entry keys: %w: %s", ErrKeyExists, detail)
		}
		if err != nil {
			return fmt.Errorf("couldn't write entry keys: %w", err)
		}
	}
	if len(b.SearchKeys) > 0 {
		// In index order (hash, entry), without repeats: an entry may
		// list a key twice.
		rows := make([]hashedSearchRow, len(b.SearchKeys))
		for i, r := range b.SearchKeys {
			rows[i] = hashedSearchRow{searchHash(t.log, r.Key), r}
		}
		slices.SortFunc(rows, func(a, b hashedSearchRow) int {
			return cmp.Or(cmp.Compare(a.h, b.h), compareSearchRows(a.row, b.row))
		})
		rows = slices.Compact(rows)
		_, err := t.tx.CopyFrom(t.ctx, pgx.Identifier{"search_keys"}, []string{"h", "idx", "log", "key"},
			pgx.CopyFromSlice(len(rows), func(i int) ([]any, error) {
				return []any{rows[i].h, int64(rows[i].row.Index), t.log, rows[i].row.Key}, nil
			}))
		if err != nil {
			return fmt.Errorf("couldn't write search keys: %w", err)
		}
	}
	return nil
}

// hashedSearchRow is a search row with its searchHash.
type hashedSearchRow struct {
	h   int64
	row SearchRow
}

// searchHash is what search_keys is indexed by: the first 8 bytes of
// SHA-256(log, 0x00, key), big-endian (migration 00006 computes the same
// in SQL for the rows it upgrades).
func searchHash(log, key string) int64 {
	h := sha256.New()
	h.Write([]byte(log))
	h.Write([]byte{0})
	h.Write([]byte(key))
	var sum [sha256.Size]byte
	return int64(binary.BigEndian.Uint64(h.Sum(sum[:0])))
}

// queueCheckpoints queues the insertion of extra checkpoint rows.
func (t *pgTx) queueCheckpoints(batch *pgx.Batch, cps []StoredCheckpoint) {
	if len(cps) == 0 {
		return
	}
	sizes, times, notes := make([]int64, len(cps)), make([]int64, len(cps)), make([][]byte, len(cps))
	for i, c := range cps {
		sizes[i], times[i], notes[i] = int64(c.Size), c.Time.UnixMilli(), c.Checkpoint
	}
	batch.Queue(`INSERT INTO checkpoints (log, size, time_ms, checkpoint)
		SELECT $1, * FROM unnest($2::bigint[], $3::bigint[], $4::bytea[])
		ON CONFLICT (log, size) DO NOTHING`, t.log, sizes, times, notes)
}

// uniqueViolation reports whether err is PostgreSQL refusing a row that a
// unique index has, with the server's detail (which key).
func uniqueViolation(err error) (detail string, ok bool) {
	pgErr, ok := errors.AsType[*pgconn.PgError](err)
	if !ok || pgErr.Code != "23505" { // unique_violation
		return "", false
	}
	return pgErr.Detail, true
}

// importLockTimeout bounds each lock wait of an import transaction that
// writes rows early. Its waits are normally for one batch to commit.
const importLockTimeout = "60s"

// bundlesToCopy is how many bundles one write takes before it streams them
// with COPY instead of queueing an upsert for each (an import's large
// transactions): pgx builds a batch's messages in one buffer, which for
// megabytes of bundles it regrows many times, and COPY streams in chunks.
const bundlesToCopy = 8

// copyBundles writes bundles with COPY. With replace, it first deletes the
// rows of those that exist (the partial bundle the batch extends); without,
// a bundle that exists fails it with ErrRowExists.
func (t *pgTx) copyBundles(bundles []TileData, replace bool) error {
	if len(bundles) == 0 {
		return nil
	}
	idx := make([]int64, len(bundles))
	for i, bu := range bundles {
		idx[i] = int64(bu.Index)
	}
	if replace {
		if _, err := t.tx.Exec(t.ctx, `DELETE FROM bundles WHERE log = $1 AND idx = ANY($2)`, t.log, idx); err != nil {
			return fmt.Errorf("couldn't write entry bundles: %w", err)
		}
	}
	_, err := t.tx.CopyFrom(t.ctx, pgx.Identifier{"bundles"}, []string{"log", "idx", "data"},
		pgx.CopyFromSlice(len(bundles), func(i int) ([]any, error) {
			return []any{t.log, idx[i], bundles[i].Data}, nil
		}))
	if detail, ok := uniqueViolation(err); ok {
		return fmt.Errorf("couldn't write entry bundles: %w: %s", ErrRowExists, detail)
	}
	if err != nil {
		return fmt.Errorf("couldn't write entry bundles: %w", err)
	}
	return nil
}

func readBytes(row pgx.Row) ([]byte, error) {
	var b []byte
	if err := row.Scan(&b); err != nil {
		if errors.Is(err, pgx.ErrNoRows) {
			return nil, ErrNotFound
		}
		return nil, err
	}
	return b, nil
}

func (s *PGStore) ReadTile(ctx context.Context, log string, level, index uint64) ([]byte, error) {
	return readBytes(s.pool.QueryRow(ctx, `SELECT data FROM tiles WHERE log = $1 AND level = $2 AND idx = $3`, log, int64(level), int64(index)))
}

func (s *PGStore) ReadEntryBundle(ctx context.Context, log string, index uint64) ([]byte, error) {
	return readBytes(s.pool.QueryRow(ctx, `SELECT data FROM bundles WHERE log = $1 AND idx = $2`, log, int64(index)))
}

func (s *PGStore) Lookup(ctx context.Context, log string, key [32]byte) (uint64, error) {
	var idx int64
	err := s.pool.QueryRow(ctx, `SELECT idx FROM entry_keys WHERE log = $1 AND key = $2`, log, key[:]).Scan(&idx)
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, ErrNotFound
	}
	return uint64(idx), err
}

func (s *PGStore) Search(ctx context.Context, log string, keys []string, limit int) ([]uint64, error) {
	return searchEach(keys, limit, func(key string) ([]uint64, error) {
		// Planned for this key (QueryExecModeExec, not a cached
		// statement): a generic plan does not know a key is common, and
		// reads and sorts all its rows instead of walking the index.
		return collectIndices(s.pool.Query(ctx, `SELECT idx FROM search_keys WHERE h = $1 AND log = $2 AND key = $3 ORDER BY idx LIMIT $4`,
			pgx.QueryExecModeExec, searchHash(log, key), log, key, limit))
	})
}

func (s *PGStore) SearchAmong(ctx context.Context, log string, keys []string, among []uint64) ([]uint64, error) {
	idx := make([]int64, len(among))
	for i, x := range among {
		idx[i] = int64(x)
	}
	return searchEach(keys, len(among), func(key string) ([]uint64, error) {
		return collectIndices(s.pool.Query(ctx, `SELECT idx FROM search_keys WHERE h = $1 AND log = $2 AND key = $3 AND idx = ANY($4)`,
			pgx.QueryExecModeExec, searchHash(log, key), log, key, idx))
	})
}

// collectIndices reads a query's entry indices.
func collectIndices(rows pgx.Rows, err error) ([]uint64, error) {
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (uint64, error) {
		var i int64
		err := r.Scan(&i)
		return uint64(i), err
	})
}

func (s *PGStore) BatchTime(ctx context.Context, log string, index uint64) (time.Time, error) {
	var ms int64
	err := s.pool.QueryRow(ctx, `SELECT time_ms FROM checkpoints WHERE log = $1 AND size > $2 ORDER BY size LIMIT 1`, log, int64(index)).Scan(&ms)
	if errors.Is(err, pgx.ErrNoRows) {
		return time.Time{}, ErrNotFound
	}
	return time.UnixMilli(ms), err
}

func (s *PGStore) Checkpoints(ctx context.Context, log string, from, to uint64) ([]StoredCheckpoint, error) {
	rows, err := s.pool.Query(ctx, `SELECT size, time_ms, checkpoint FROM checkpoints WHERE log = $1 AND size >= $2 AND size <= $3 ORDER BY size`, log, int64(from), int64(to))
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (StoredCheckpoint, error) {
		var c StoredCheckpoint
		var size, ms int64
		err := r.Scan(&size, &ms, &c.Checkpoint)
		c.Size, c.Time = uint64(size), time.UnixMilli(ms)
		return c, err
	})
}

func splitHashes(b []byte) ([][]byte, error) {
	if len(b)%32 != 0 {
		return nil, fmt.Errorf("stored compact range has %d bytes, not a multiple of 32", len(b))
	}
	out := make([][]byte, 0, len(b)/32)
	for i := 0; i < len(b); i += 32 {
		out = append(out, b[i:i+32:i+32])
	}
	return out, nil
}

func joinHashes(h [][]byte) []byte {
	out := make([]byte, 0, 32*len(h))
	for _, x := range h {
		out = append(out, x...)
	}
	return out
}

package tlog

import (
	"cmp"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"sync"
	"time"

	_ "modernc.org/sqlite" // registers the pure-Go "sqlite" driver (store.go names its errors)

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

	keysMu sync.Mutex             // guards recent
	recent map[string]*recentKeys // per log: see sqlitekeys.go
	// A generation of recent keys is merged into entry_keys once it holds
	// a quarter of the tree, within [mergeMin, mergeMax] keys.
	mergeMin, mergeMax uint64

	// The checkpointer copies the WAL into the database file in the
	// background, so that commits do not wait for it.
	committed chan struct{} // a batch committed: time to checkpoint
	stop      chan struct{}
	stopped   chan struct{}
}

// SQLiteStore implements the whole storage contract (store.go).
var (
	_ Store       = (*SQLiteStore)(nil)
	_ SearchIndex = (*SQLiteStore)(nil)
	_ History     = (*SQLiteStore)(nil)
	_ Importer    = (*SQLiteStore)(nil)
)

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
	// Batches never checkpoint themselves: see checkpointer.
	if _, err := writer.ExecContext(ctx, "PRAGMA wal_autocheckpoint = 0"); err != nil {
		writer.Close()
		db.Close()
		return nil, err
	}
	checkpoints, err := db.Conn(ctx)
	if err == nil {
		// Restarting the WAL waits for readers while batches wait for
		// it: give up quickly and try again later instead.
		if _, err = checkpoints.ExecContext(ctx, "PRAGMA busy_timeout = 100"); err != nil {
			checkpoints.Close()
		}
	}
	if err != nil {
		writer.Close()
		db.Close()
		return nil, err
	}
	s := &SQLiteStore{db: db, writer: writer, recent: map[string]*recentKeys{},
		mergeMin: defaultMergeMin, mergeMax: defaultMergeMax,
		committed: make(chan struct{}, 1), stop: make(chan struct{}), stopped: make(chan struct{})}
	go s.checkpointer(checkpoints)
	return s, nil
}

// Checkpointing. In WAL mode a commit is durable once its frames are in the
// WAL and the WAL is synced (synchronous=FULL); copying them into the
// database file (a checkpoint) can happen any time later. SQLite's
// automatic checkpoint runs inside the commit that crosses the threshold,
// which made every few batches wait for megabytes of writes and an fsync
// of the database file. The checkpointer runs passive checkpoints on its
// own connection instead, concurrently with batches. When a passive
// checkpoint has copied every frame, the next batch starts the WAL over
// from its beginning; when it could not (a batch kept appending), the WAL
// would only grow, so once it holds walRestartPages the checkpointer holds
// batches back for the moment it takes to copy the last frames and restart
// the WAL.
const (
	checkpointEvery = 200 * time.Millisecond
	walRestartPages = 4096 // 16 MiB of 4 KiB pages
)

func (s *SQLiteStore) checkpointer(conn *sql.Conn) {
	defer close(s.stopped)
	defer conn.Close()
	ctx := context.Background()
	for {
		select {
		case <-s.stop:
			conn.ExecContext(ctx, "PRAGMA wal_checkpoint(TRUNCATE)") //nolint:errcheck
			return
		case <-s.committed:
		}
		var busy, walPages, done int
		err := conn.QueryRowContext(ctx, "PRAGMA wal_checkpoint(PASSIVE)").Scan(&busy, &walPages, &done)
		// When a passive checkpoint copied every frame, the next batch
		// restarts the WAL itself (unless a reader still uses it).
		if err == nil && walPages > walRestartPages && (done < walPages || walPages > 4*walRestartPages) {
			s.mu.Lock()
			conn.ExecContext(ctx, "PRAGMA wal_checkpoint(RESTART)") //nolint:errcheck
			s.mu.Unlock()
		}
		select {
		case <-s.stop:
		case <-time.After(checkpointEvery):
		}
	}
}

func (s *SQLiteStore) Close() error {
	s.mu.Lock()
	if s.stop != nil {
		select {
		case <-s.stop:
		default:
			close(s.stop)
		}
	}
	s.mu.Unlock()
	if s.stopped != nil {
		<-s.stopped
	}
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
	st, _, err := sqliteReadState(ctx, q, log, false)
	return st, err
}

// sqliteReadState reads a log's state and, with withFrozen, whether it is
// frozen, in one query: a batch checks the freeze where it reads the
// state. Readers leave the flag alone (a read-only open of a database
// migrated before the flag existed still reads).
func sqliteReadState(ctx context.Context, q sqlQuerier, log string, withFrozen bool) (*TreeState, bool, error) {
	var (
		st      TreeState
		size    int64
		compact []byte
		frozen  bool
	)
	query, dest := `SELECT size, root, compact, checkpoint FROM logs WHERE name = ?`, []any{&size, &st.Root, &compact, &st.Checkpoint}
	if withFrozen {
		query, dest = `SELECT size, root, compact, checkpoint, frozen FROM logs WHERE name = ?`, append(dest, &frozen)
	}
	err := q.QueryRowContext(ctx, query, log).Scan(dest...)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, false, ErrNotFound
	}
	if err != nil {
		return nil, false, err
	}
	st.Size = uint64(size)
	if st.Range, err = splitHashes(compact); err != nil {
		return nil, false, err
	}
	return &st, frozen, nil
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
	tx := &sqliteTx{s: s, ctx: ctx, conn: conn, log: log}
	if err := fn(tx); err != nil {
		return err
	}
	if _, err := conn.ExecContext(ctx, "COMMIT"); err != nil {
		return fmt.Errorf("couldn't commit transaction: %w", err)
	}
	committed = true
	select {
	case s.committed <- struct{}{}:
	default:
	}
	if tx.wrote > 0 {
		s.committedSize(log, tx.wrote)
	}
	if tx.prune > 0 {
		s.pruneRecent(log, tx.prune)
	}
	return nil
}

type sqliteTx struct {
	s     *SQLiteStore
	ctx   context.Context
	conn  *sql.Conn
	log   string
	prune uint64 // after commit, drop recent keys below this from memory

	size     uint64 // tree size the transaction started from
	haveSize bool
	wrote    uint64 // tree size it writes (0: none)
}

func (t *sqliteTx) State() (*TreeState, error) {
	st, frozen, err := sqliteReadState(t.ctx, t.conn, t.log, true)
	if err != nil {
		return nil, err
	}
	if frozen {
		return nil, fmt.Errorf("log %s: %w", t.log, ErrFrozen)
	}
	t.size, t.haveSize = st.Size, true
	return st, nil
}

func (t *sqliteTx) LookupKeys(keys [][32]byte) (map[[32]byte]uint64, error) {
	if !t.haveSize {
		var size int64
		if err := t.conn.QueryRowContext(t.ctx, `SELECT size FROM logs WHERE name = ?`, t.log).Scan(&size); err != nil {
			return nil, err
		}
		t.size, t.haveSize = uint64(size), true
	}
	return t.s.lookupKeys(t.ctx, t.conn, t.log, keys, t.s.txFilter(t.log, t.size))
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
	prune, err := t.s.writeKeys(t, b.Keys)
	if err != nil {
		return err
	}
	t.prune, t.wrote = prune, b.State.Size
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
	if err := exec("checkpoints", `INSERT INTO checkpoints (log, size, time_ms, checkpoint) VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING`, len(b.Checkpoints), func(i int) []any {
		return []any{t.log, int64(b.Checkpoints[i].Size), b.Checkpoints[i].Time.UnixMilli(), b.Checkpoints[i].Checkpoint}
	}); err != nil {
		return err
	}
	if _, err := t.conn.ExecContext(t.ctx, `INSERT INTO checkpoints (log, size, time_ms, checkpoint) VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING`,
		t.log, int64(b.State.Size), b.Time.UnixMilli(), b.State.Checkpoint); err != nil {
		return fmt.Errorf("couldn't write checkpoint: %w", err)
	}
	return nil
}

// CommitImport implements [Importer]. SQLite runs one write transaction
// at a time, so wait comes first, before the transaction begins. The rows
// are checked against the log's keys once fn has the lock (ErrKeyExists)
// and written with the rest of the batch by fn's Write.
func (s *SQLiteStore) CommitImport(ctx context.Context, log string, rows *BatchWrite, wait func() error, fn func(Tx) error) error {
	if err := wait(); err != nil {
		return err
	}
	return s.Commit(ctx, log, func(tx Tx) error { return fn(&sqliteImportTx{Tx: tx, rows: rows}) })
}

// sqliteImportTx is the transaction of an import batch: State also checks
// the batch's keys, Write also writes its rows.
type sqliteImportTx struct {
	Tx
	rows *BatchWrite
}

func (t *sqliteImportTx) State() (*TreeState, error) {
	st, err := t.Tx.State()
	if err != nil {
		return nil, err
	}
	keys := make([][32]byte, len(t.rows.Keys))
	for i, k := range t.rows.Keys {
		keys[i] = k.Key
	}
	found, err := t.Tx.LookupKeys(keys)
	if err != nil {
		return nil, fmt.Errorf("couldn't look up the import's keys: %w", err)
	}
	for _, k := range t.rows.Keys {
		if idx, ok := found[k.Key]; ok {
			return nil, fmt.Errorf("%w: %x is at index %d", ErrKeyExists, k.Key, idx)
		}
	}
	return st, nil
}

func (t *sqliteImportTx) Write(b *BatchWrite) error {
	w := *b
	w.Keys = concatRows(t.rows.Keys, b.Keys)
	w.SearchKeys = concatRows(t.rows.SearchKeys, b.SearchKeys)
	w.Checkpoints = concatRows(t.rows.Checkpoints, b.Checkpoints)
	w.Bundles = slices.SortedFunc(slices.Values(slices.Concat(t.rows.Bundles, b.Bundles)), func(x, y TileData) int { return cmp.Compare(x.Index, y.Index) })
	return t.Tx.Write(&w)
}

// concatRows is a followed by b, a or b itself when the other is empty.
func concatRows[T any](a, b []T) []T {
	switch {
	case len(b) == 0:
		return a
	case len(a) == 0:
		return b
	}
	return slices.Concat(a, b)
}

func (s *SQLiteStore) ReadTile(ctx context.Context, log string, level, index uint64) ([]byte, error) {
	return sqliteBytes(s.db.QueryRowContext(ctx, `SELECT data FROM tiles WHERE log = ? AND level = ? AND idx = ?`, log, int64(level), int64(index)))
}

func (s *SQLiteStore) ReadEntryBundle(ctx context.Context, log string, index uint64) ([]byte, error) {
	return sqliteBytes(s.db.QueryRowContext(ctx, `SELECT data FROM bundles WHERE log = ? AND idx = ?`, log, int64(index)))
}

func (s *SQLiteStore) Lookup(ctx context.Context, log string, key [32]byte) (uint64, error) {
	found, err := s.lookupKeys(ctx, s.db, log, [][32]byte{key}, nil)
	if err != nil {
		return 0, err
	}
	idx, ok := found[key]
	if !ok {
		return 0, ErrNotFound
	}
	return idx, nil
}

func (s *SQLiteStore) Search(ctx context.Context, log string, keys []string, limit int) ([]uint64, error) {
	return searchEach(keys, limit, func(key string) ([]uint64, error) {
		return s.searchQuery(ctx, `SELECT idx FROM search_keys WHERE log = ? AND key = ? ORDER BY idx LIMIT ?`, log, key, limit)
	})
}

func (s *SQLiteStore) SearchAmong(ctx context.Context, log string, keys []string, among []uint64) ([]uint64, error) {
	list, err := json.Marshal(among)
	if err != nil {
		return nil, err
	}
	return searchEach(keys, len(among), func(key string) ([]uint64, error) {
		return s.searchQuery(ctx, `SELECT idx FROM search_keys WHERE log = ? AND key = ? AND idx IN (SELECT value FROM json_each(?))`, log, key, string(list))
	})
}

// searchQuery runs a query answering entry indices.
func (s *SQLiteStore) searchQuery(ctx context.Context, q string, args ...any) ([]uint64, error) {
	rows, err := s.db.QueryContext(ctx, q, args...)
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

package audit

import (
	"context"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"sync"

	"github.com/hallmark-dev/hallmark/internal/fileutil"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/lock"
)

// State is what a monitor remembers of a log between polls.
//
// Invariants: Checkpoint is a checkpoint the monitor verified (signature,
// and consistency with every earlier State of this log); Scanned <=
// Checkpoint's size; Range is the compact range of the tree of size
// Scanned, so scanning can resume without re-reading earlier entries.
type State struct {
	// Origin pins the log's origin (learnt on first contact for Rekor v1
	// logs configured without one).
	Origin string `json:"origin"`
	// Checkpoint is the last verified checkpoint, as served.
	Checkpoint string `json:"checkpoint"`
	// Scanned is how many entries, from index 0 or from where scanning
	// started, have been read and checked.
	Scanned uint64 `json:"scanned"`
	// Range is the compact range of the tree of size Scanned.
	Range [][]byte `json:"range"`
}

// StateStore keeps each followed log's State.
//
// Load returns the state saved for log, or nil and no error if there is
// none. Save replaces it; when Save returns nil the state is durable. A
// store is used by one monitor process; calls may be concurrent for
// different logs.
type StateStore interface {
	Load(ctx context.Context, log string) (*State, error)
	Save(ctx context.Context, log string, st *State) error
	Close() error
}

// FileStateStore keeps states in one JSON file, rewritten atomically
// (temporary file, fsync, rename, directory fsync) on each Save.
type FileStateStore struct {
	path   string
	mu     sync.Mutex
	states map[string]*State
	// alertsMu serialises the alerts file (alertstore.go).
	alertsMu sync.Mutex
}

var _ StateStore = (*FileStateStore)(nil)

// OpenFileStateStore reads path, or starts empty if it does not exist.
func OpenFileStateStore(path string) (*FileStateStore, error) {
	s := &FileStateStore{path: path, states: map[string]*State{}}
	raw, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return s, nil
	}
	if err != nil {
		return nil, fmt.Errorf("couldn't read monitor state: %w", err)
	}
	if err := json.Unmarshal(raw, &s.states); err != nil {
		return nil, fmt.Errorf("monitor state %s is corrupt: %w", path, err)
	}
	return s, nil
}

func (s *FileStateStore) Load(_ context.Context, log string) (*State, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	st, ok := s.states[log]
	if !ok {
		return nil, nil
	}
	c := *st
	return &c, nil
}

func (s *FileStateStore) Save(_ context.Context, log string, st *State) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	c := *st
	s.states[log] = &c
	raw, err := json.MarshalIndent(s.states, "", "  ")
	if err != nil {
		return err
	}
	return writeFileAtomic(s.path, append(raw, '\n'))
}

func (s *FileStateStore) Close() error { return nil }

func writeFileAtomic(path string, data []byte) error {
	if err := fileutil.WriteFileAtomic(path, data, 0o600); err != nil {
		return fmt.Errorf("couldn't write %s: %w", path, err)
	}
	return nil
}

//go:embed migrations/*.sql
var migrationFiles embed.FS

// PGStateStore keeps states in PostgreSQL, in the table
// hallmark_monitor_state (its own goose version table, so it can share a
// database with hallmark-log).
type PGStateStore struct {
	pool *pgxpool.Pool
}

var _ StateStore = (*PGStateStore)(nil)

// monitorLockID serialises the monitor's migrations without waiting on
// hallmark-log's (goose's default lock ID).
const monitorLockID = 4097083627

// OpenPGStateStore connects and applies the monitor's migrations.
func OpenPGStateStore(ctx context.Context, url string) (*PGStateStore, error) {
	pool, err := pgxpool.New(ctx, url)
	if err != nil {
		return nil, fmt.Errorf("invalid database URL: %w", err)
	}
	if err := pool.Ping(ctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("couldn't reach PostgreSQL: %w", err)
	}
	db := stdlib.OpenDBFromPool(pool)
	defer db.Close()
	locker, err := lock.NewPostgresSessionLocker(lock.WithLockID(monitorLockID))
	if err != nil {
		pool.Close()
		return nil, err
	}
	sub, _ := fs.Sub(migrationFiles, "migrations")
	p, err := goose.NewProvider(goose.DialectPostgres, db, sub,
		goose.WithTableName("hallmark_monitor_goose_version"), goose.WithSessionLocker(locker))
	if err == nil {
		_, err = p.Up(ctx)
	}
	if err != nil {
		pool.Close()
		return nil, fmt.Errorf("couldn't apply monitor migrations: %w", err)
	}
	return &PGStateStore{pool: pool}, nil
}

func (s *PGStateStore) Load(ctx context.Context, log string) (*State, error) {
	var raw []byte
	err := s.pool.QueryRow(ctx, `SELECT state FROM hallmark_monitor_state WHERE log = $1`, log).Scan(&raw)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("couldn't load monitor state of %s: %w", log, err)
	}
	var st State
	if err := json.Unmarshal(raw, &st); err != nil {
		return nil, fmt.Errorf("monitor state of %s is corrupt: %w", log, err)
	}
	return &st, nil
}

func (s *PGStateStore) Save(ctx context.Context, log string, st *State) error {
	raw, err := json.Marshal(st)
	if err != nil {
		return err
	}
	_, err = s.pool.Exec(ctx, `INSERT INTO hallmark_monitor_state (log, state, updated_at) VALUES ($1, $2, now())
		ON CONFLICT (log) DO UPDATE SET state = EXCLUDED.state, updated_at = now()`, log, raw)
	if err != nil {
		return fmt.Errorf("couldn't save monitor state of %s: %w", log, err)
	}
	return nil
}

func (s *PGStateStore) Close() error { s.pool.Close(); return nil }

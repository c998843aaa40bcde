package tlog

import (
	"context"
	"errors"
	"slices"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"modernc.org/sqlite"
)

// The storage contract. A log lives in a store through one core interface,
// [Store], which is everything the sequencer and the tile readers need: a
// log is created, its batches committed under its write lock, it is
// frozen when rotated, and its state, hash tiles and entry bundles are
// read back. Three capabilities sit beside it, each a named interface with
// its own guarantees, which a store declares it implements with
// compile-time assertions and which the code that uses one asks for by
// type (a [Config] field, a constructor parameter):
//
//   - [SearchIndex]: the entries by deduplication key and by search key
//     (Rekor v1's index, CT's get-proof-by-hash, fsck). Written by Commit,
//     with the batch.
//   - [History]: each batch's commit time and signed checkpoint, for
//     integrated times and for auditing the log's past.
//   - [Importer]: import batches (Log.Import), whose rows may be written
//     before the log's write lock is taken.
//
// Blobs shared by all logs (a CT log's issuers) are a fourth, [BlobStore].
// [PGStore] and [SQLiteStore] implement all of them; the conformance suite
// (store_test.go, differential_test.go, import_test.go) runs each on both.
//
// Freeze is in the core, not beside it: every Tx.State must fail with
// ErrFrozen on a frozen log, so a store that commits batches already keeps
// the flag, under the same lock.

// ErrNotFound is returned by store reads when the requested tile, bundle,
// key or log does not exist.
var ErrNotFound = errors.New("not found")

// TreeState is a log's committed state: the tree size, its root, the compact
// range of [0, Size) that lets the next batch extend the tree without reading
// it, and the signed checkpoint that commits to Size and Root.
type TreeState struct {
	Size       uint64
	Root       []byte   // RFC 6962 root hash of the first Size leaves
	Range      [][]byte // compact range hashes of [0, Size), left to right
	Checkpoint []byte   // signed note for (Size, Root)
}

// A Store holds any number of logs, each identified by a short stable name.
//
// Every method is safe for concurrent use, also from several processes on
// the same database. Reads see only committed batches: a batch is visible
// entirely or not at all.
type Store interface {
	// CreateLog registers the log if it does not exist yet. It is
	// idempotent, and the log starts empty.
	CreateLog(ctx context.Context, log string) error

	// Commit runs fn in a single transaction that holds the log's exclusive
	// write lock, so that across all processes at most one Commit for the
	// same log runs at a time. If fn or the commit fails, nothing fn wrote
	// is ever visible. When Commit returns nil, everything fn wrote is
	// durable. When the database refuses a value fn wrote (not its own
	// failure), the error must say so in a way rowRefused recognises, so
	// that the Log can commit the batch without the entry that carries it.
	Commit(ctx context.Context, log string, fn func(Tx) error) error

	// Freeze marks the log frozen, if it is not already, in a transaction
	// that holds the log's exclusive write lock, and returns its state,
	// which is final: every Commit that committed before is in it, and in
	// every later Commit, across all processes, Tx.State fails with
	// ErrFrozen, so nothing can be written. Freezing is idempotent and
	// permanent. Reads are unaffected.
	Freeze(ctx context.Context, log string) (*TreeState, error)

	// State returns the latest committed state of the log.
	State(ctx context.Context, log string) (*TreeState, error)

	// ReadTile returns the stored hash tile at (level, index): 32-byte
	// hashes, fewer than 256 of them while the tile is partial.
	ReadTile(ctx context.Context, log string, level, index uint64) ([]byte, error)

	// ReadEntryBundle returns the stored entry bundle at index, in C2SP
	// tlog-tiles format (uint16 length-prefixed entries).
	ReadEntryBundle(ctx context.Context, log string, index uint64) ([]byte, error)

	// Close releases the store's connections. No method may be called
	// after it.
	Close() error
}

// Tx is a batch transaction. Its methods may only be used inside the fn
// passed to [Store.Commit] (or [Importer.CommitImport]).
type Tx interface {
	// State returns the log's state, locked against other writers. It
	// fails with ErrFrozen if the log is frozen.
	State() (*TreeState, error)
	// LookupKeys returns the indices of those keys already in the log.
	LookupKeys(keys [][32]byte) (map[[32]byte]uint64, error)
	// ReadTile and ReadEntryBundle read as their Store counterparts, inside
	// the transaction.
	ReadTile(level, index uint64) ([]byte, error)
	ReadEntryBundle(index uint64) ([]byte, error)
	// Write stores a whole batch. It is called at most once per Tx.
	Write(b *BatchWrite) error
}

// A SearchIndex finds a log's entries by key. Its rows are written by the
// batch that commits the entries (BatchWrite.Keys and SearchKeys), so an
// entry is findable exactly when it is readable. Every method is safe for
// concurrent use and sees only committed batches.
type SearchIndex interface {
	// Lookup returns the index of the entry with the given deduplication
	// key (usually the leaf hash), or ErrNotFound.
	Lookup(ctx context.Context, log string, key [32]byte) (uint64, error)

	// Search returns the indices of entries carrying any of the search
	// keys, ascending, at most limit of them.
	Search(ctx context.Context, log string, keys []string, limit int) ([]uint64, error)

	// SearchAmong returns those of the indices among (ascending, at most
	// 10,000) that carry any of the search keys, ascending: an "and" of
	// searches whose one side has too many entries to list.
	SearchAmong(ctx context.Context, log string, keys []string, among []uint64) ([]uint64, error)
}

// A History keeps, for every committed batch, its commit time and the
// checkpoint it signed (the rows BatchWrite.Time, State.Checkpoint and
// Checkpoints write). Rows are never changed once committed. Every method
// is safe for concurrent use and sees only committed batches.
type History interface {
	// BatchTime returns when the batch that integrated index committed.
	BatchTime(ctx context.Context, log string, index uint64) (time.Time, error)

	// Checkpoints returns the signed checkpoints stored for tree sizes in
	// [from, to], ascending by size.
	Checkpoints(ctx context.Context, log string, from, to uint64) ([]StoredCheckpoint, error)
}

// An Importer commits import batches (Log.Import): runs of another log's
// entries at fixed indices, most of whose rows do not depend on the log's
// state and so can be written before the log's write lock is taken.
type Importer interface {
	// CommitImport is Commit for an import batch. In one transaction it
	// stores rows' Keys, SearchKeys, Bundles (whole ones, none of which
	// exists yet) and Checkpoints, and nothing else of rows; calls wait,
	// exactly once; then calls fn as Commit does, which takes the log's
	// write lock in Tx.State, and whose Tx.Write stores the rest of the
	// batch (its state, tiles, the bundles rows does not hold).
	// Atomicity and durability are Commit's: when it returns nil all of it
	// is durable, on error none of it is ever visible.
	//
	// A key of rows the log already has fails it with an error wrapping
	// ErrKeyExists; a store may also fail with ErrRowExists for any other
	// row of rows that exists (the log grew past the batch's start). The
	// caller then finds out which it was.
	//
	// A store may write rows before calling wait, so that a batch writes
	// them while the batch before it still commits (PostgreSQL, on another
	// connection), or call wait before it begins (SQLite, whose
	// transactions cannot overlap). So wait must only wait for an earlier
	// CommitImport of the same log, and only one that does not share a key
	// with rows (the two transactions would wait for each other). If wait
	// fails, nothing is written and CommitImport returns its error.
	CommitImport(ctx context.Context, log string, rows *BatchWrite, wait func() error, fn func(Tx) error) error
}

// StoredCheckpoint is a checkpoint as recorded when its batch committed.
type StoredCheckpoint struct {
	Size       uint64
	Time       time.Time
	Checkpoint []byte
}

// ErrRowRefused marks a store error caused by a value the batch writes,
// which the database refuses whatever its state: another batch without the
// entry that carries it can commit. A Store (or a test's wrapper) may wrap
// its errors with it; rowRefused also recognises the databases' own.
var ErrRowRefused = errors.New("the store refused a row of the batch")

// rowRefused reports whether a failed Commit may be the doing of one of
// the batch's entries rather than of the store: ErrRowRefused, a
// PostgreSQL data exception (class 22: invalid text, value out of range),
// integrity constraint violation (23) or program limit (54: a row too
// large), or SQLite's SQLITE_TOOBIG, SQLITE_CONSTRAINT or SQLITE_MISMATCH.
// Everything else (lost connections, timeouts, a full disk, a frozen log)
// fails the whole batch: retrying its entries apart would only multiply
// the load on a store that is already failing.
func rowRefused(err error) bool {
	if errors.Is(err, ErrRowRefused) {
		return true
	}
	if pgErr, ok := errors.AsType[*pgconn.PgError](err); ok {
		switch pgErr.Code[:min(2, len(pgErr.Code))] {
		case "22", "23", "54":
			return true
		}
		return false
	}
	if sqlErr, ok := errors.AsType[*sqlite.Error](err); ok {
		switch sqlErr.Code() & 0xff { // the primary code of an extended one
		case 18, 19, 20: // SQLITE_TOOBIG, SQLITE_CONSTRAINT, SQLITE_MISMATCH
			return true
		}
	}
	return false
}

// lostLockConflict reports whether a failed Commit was chosen by the
// database to resolve a conflict with a concurrent writer: PostgreSQL's
// deadlock_detected (40P01) or serialization_failure (40001). The
// transaction rolled back and wrote nothing; the same batch may simply be
// tried again, and will then wait for the other writer instead. (Two
// sequencers never deadlock with each other: they queue on the log's row.
// An import's transaction, which writes rows before it takes that lock,
// can deadlock with a sequencer appending to the same log.)
func lostLockConflict(err error) bool {
	if pgErr, ok := errors.AsType[*pgconn.PgError](err); ok {
		return pgErr.Code == "40P01" || pgErr.Code == "40001"
	}
	return false
}

var (
	// ErrKeyExists is what Importer.CommitImport wraps when the log
	// already has one of the batch's deduplication keys.
	ErrKeyExists = errors.New("deduplication key already in the log")
	// ErrRowExists is what Importer.CommitImport may wrap when another row
	// it would create already exists (the log has grown past where the
	// import expects it).
	ErrRowExists = errors.New("row already in the log")
)

// BatchWrite is everything one batch adds to a log.
type BatchWrite struct {
	State      TreeState   // the new state, replacing the old one
	Time       time.Time   // commit time: the entries' integrated time
	Tiles      []TileData  // changed hash tiles, full current content
	Bundles    []TileData  // changed entry bundles, full current content (Level 0)
	Keys       []KeyRow    // deduplication keys of the new entries
	SearchKeys []SearchRow // search keys of the new entries
	// Checkpoints are extra checkpoint rows for sizes inside the batch
	// (between the old and the new State.Size, ascending), stored as the
	// batch's own (State.Size, Time, State.Checkpoint) is. Only imports
	// write them: one imported batch carries many of another log's.
	Checkpoints []StoredCheckpoint
}

// TileData is the full current content of a hash tile or entry bundle.
type TileData struct {
	Level, Index uint64
	Data         []byte
}

// KeyRow maps a deduplication key to an entry index.
type KeyRow struct {
	Key   [32]byte
	Index uint64
}

// SearchRow maps a search key to an entry index. The Log writes keys in
// their stored form (searchkey.go): valid UTF-8 without NUL, which every
// store's text column holds; Search and SearchAmong get keys in that form.
type SearchRow struct {
	Key   string
	Index uint64
}

// searchEach answers a search for several keys with one query per key:
// each walks its key's index entries in index order and stops at limit,
// however many entries carry the key, where one query for all the keys
// would read and sort every matching row. It returns the union, ascending,
// each index once, cut at limit.
func searchEach(keys []string, limit int, search func(key string) ([]uint64, error)) ([]uint64, error) {
	var out []uint64
	for _, k := range slices.Compact(slices.Sorted(slices.Values(keys))) {
		idx, err := search(k)
		if err != nil {
			return nil, err
		}
		out = append(out, idx...)
	}
	slices.Sort(out)
	out = slices.Compact(out)
	return out[:min(len(out), limit)], nil
}

package tlog

import (
	"bytes"
	"cmp"
	"context"
	"database/sql"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/maphash"
	"slices"
	"strings"
)

// Deduplication keys in the SQLite store.
//
// Leaf hashes are random, so inserting a batch's keys straight into the
// entry_keys B-tree touches one leaf page per key once the tree is larger
// than the batch, and SQLite's WAL writes each touched page whole: at a
// million entries a 1,000-entry batch wrote ~4 MB of dedup pages. Instead:
//
//   - A batch appends its keys to entry_keys_recent, ordered by index: a
//     few sequential pages per batch.
//   - The store keeps those recent keys in memory (recentKeys), loaded
//     from the table and refreshed from it, never from uncommitted writes.
//   - When a generation of recent keys has grown large enough, the keys of
//     [recent_from, merge_to) are sorted and inserted into entry_keys one
//     slice of the key space per batch (mergeSlices slices), so a batch
//     touches 1/mergeSlices of entry_keys' pages instead of one per key.
//     Then they are deleted from entry_keys_recent, a chunk of indices per
//     batch.
//
// A key is always in entry_keys, in entry_keys_recent, or in both with the
// same index: rows leave entry_keys_recent only after they are in
// entry_keys, and entry_keys only grows. Lookups therefore consult the
// in-memory recent keys first (confirming a hit against the table), then
// entry_keys, then refresh and consult both again.

// mergeSlices is how many slices of the key space a generation of recent
// keys is moved in (by the first two bytes of the key).
const mergeSlices = 64

// Generation bounds: a merge starts once this many keys are recent. A
// quarter of the tree, within [min, max], keeps the amortised cost of a
// merge to a few entry_keys pages per hundred entries while bounding the
// memory the recent keys take (about 100 bytes each, up to twice max).
const (
	defaultMergeMin = 16384
	defaultMergeMax = 1 << 19
)

// recentKeys is the in-memory copy of one log's entry_keys_recent.
type recentKeys struct {
	idx map[[32]byte]uint64
	// loadedTo: every row of entry_keys_recent with idx < loadedTo has been
	// read into idx (rows are committed in index order).
	loadedTo uint64
	// The generation being merged, sorted by key, for [from, to).
	frozen              []KeyRow
	frozenFrom, frozen2 uint64

	// filter holds the keys of entry_keys while this store is the log's
	// only writer: wrote is the tree size its last batch committed, and
	// a batch that finds another size drops the filter.
	filter   *keyFilter
	building bool
	wrote    uint64
	mainKeys uint64 // rough count of entry_keys rows, to size filters
}

func (s *SQLiteStore) recentOf(log string) *recentKeys {
	rk := s.recent[log]
	if rk == nil {
		rk = &recentKeys{idx: map[[32]byte]uint64{}}
		s.recent[log] = rk
	}
	return rk
}

// refreshRecent reads the rows of entry_keys_recent added since the last
// refresh with idx < upTo. Inside a write transaction upTo is the size the
// batch started from, so the batch's own uncommitted rows are never read.
// s.keysMu must be held.
func (s *SQLiteStore) refreshRecent(ctx context.Context, q sqlQuerier, log string, upTo uint64) error {
	rk := s.recentOf(log)
	if rk.loadedTo >= upTo {
		return nil
	}
	rows, err := q.QueryContext(ctx, `SELECT idx, key FROM entry_keys_recent WHERE log = ? AND idx >= ? AND idx < ? ORDER BY idx`, log,
		int64(rk.loadedTo), int64(min(upTo, 1<<63-1)))
	if err != nil {
		return err
	}
	defer rows.Close()
	next := rk.loadedTo
	for rows.Next() {
		var idx int64
		var key []byte
		if err := rows.Scan(&idx, &key); err != nil {
			return err
		}
		if len(key) != 32 {
			return fmt.Errorf("entry_keys_recent: entry %d has a %d-byte key", idx, len(key))
		}
		rk.idx[[32]byte(key)] = uint64(idx)
		next = max(next, uint64(idx)+1)
	}
	if err := rows.Err(); err != nil {
		return err
	}
	if upTo != 1<<64-1 {
		next = max(next, upTo)
	}
	rk.loadedTo = next
	return nil
}

// recentHit confirms that key is in entry_keys_recent at idx.
func recentHit(ctx context.Context, q sqlQuerier, log string, key [32]byte, idx uint64) (bool, error) {
	var k []byte
	err := q.QueryRowContext(ctx, `SELECT key FROM entry_keys_recent WHERE log = ? AND idx = ?`, log, int64(idx)).Scan(&k)
	if errors.Is(err, sql.ErrNoRows) {
		return false, nil
	}
	return err == nil && bytes.Equal(k, key[:]), err
}

// lookupMain looks keys up in entry_keys, adding what it finds to out.
func lookupMain(ctx context.Context, q sqlQuerier, log string, keys [][32]byte, out map[[32]byte]uint64) error {
	const chunk = 500
	for start := 0; start < len(keys); start += chunk {
		part := keys[start:min(start+chunk, len(keys))]
		args := []any{log}
		for i := range part {
			args = append(args, part[i][:])
		}
		rows, err := q.QueryContext(ctx, `SELECT key, idx FROM entry_keys WHERE log = ? AND key IN (?`+strings.Repeat(",?", len(part)-1)+`)`, args...)
		if err != nil {
			return err
		}
		for rows.Next() {
			var k []byte
			var idx int64
			if err := rows.Scan(&k, &idx); err != nil {
				rows.Close()
				return err
			}
			out[[32]byte(k)] = uint64(idx)
		}
		if err := rows.Close(); err != nil {
			return err
		}
	}
	return nil
}

// lookupKeys finds the indices of keys, in the recent keys or entry_keys.
// Hits in memory are confirmed against the table (they are rare: they are
// duplicates), so a row changed behind the store's back is not trusted.
//
// filter, if not nil, is the log's key filter: keys it does not contain
// are not looked up in entry_keys.
func (s *SQLiteStore) lookupKeys(ctx context.Context, q sqlQuerier, log string, keys [][32]byte, filter *keyFilter) (map[[32]byte]uint64, error) {
	out := map[[32]byte]uint64{}
	lookup := func() ([][32]byte, error) {
		var rest [][32]byte
		for _, k := range keys {
			if _, ok := out[k]; ok {
				continue
			}
			s.keysMu.Lock()
			idx, ok := s.recentOf(log).idx[k]
			s.keysMu.Unlock()
			if ok {
				hit, err := recentHit(ctx, q, log, k, idx)
				if err != nil {
					return nil, err
				}
				if hit {
					out[k] = idx
					continue
				}
			}
			rest = append(rest, k)
		}
		main := rest
		if filter != nil {
			main = nil
			s.keysMu.Lock()
			for i := range rest {
				if filter.mayContain(&rest[i]) {
					main = append(main, rest[i])
				}
			}
			s.keysMu.Unlock()
		}
		if err := lookupMain(ctx, q, log, main, out); err != nil {
			return nil, err
		}
		rest = slices.DeleteFunc(rest, func(k [32]byte) bool { _, ok := out[k]; return ok })
		return rest, nil
	}
	rest, err := lookup()
	if err != nil || len(rest) == 0 {
		return out, err
	}
	// Keys committed since the last refresh; and keys that left
	// entry_keys_recent between the two reads above are in entry_keys now.
	s.keysMu.Lock()
	err = s.refreshRecent(ctx, q, log, 1<<64-1)
	s.keysMu.Unlock()
	if err != nil {
		return nil, err
	}
	keys = rest
	if rest, err = lookup(); err != nil {
		return nil, err
	}
	for _, k := range rest {
		// A key the memory copy maps to a row that is not there: only if the
		// table was changed behind the store's back. Scan for it.
		s.keysMu.Lock()
		_, stale := s.recentOf(log).idx[k]
		s.keysMu.Unlock()
		if !stale {
			continue
		}
		var idx int64
		err := q.QueryRowContext(ctx, `SELECT idx FROM entry_keys_recent WHERE log = ? AND key = ?`, log, k[:]).Scan(&idx)
		if errors.Is(err, sql.ErrNoRows) {
			continue
		}
		if err != nil {
			return nil, err
		}
		out[k] = uint64(idx)
	}
	return out, nil
}

// txFilter returns the key filter a batch may use, given the tree size the
// batch started from, or nil. It drops the filter if another writer
// committed since this store's last batch, and starts building one if
// there is none.
func (s *SQLiteStore) txFilter(log string, size uint64) *keyFilter {
	s.keysMu.Lock()
	defer s.keysMu.Unlock()
	rk := s.recentOf(log)
	if rk.filter != nil && (rk.wrote != size || rk.filter.n > rk.filter.limit) {
		rk.filter = nil
	}
	rk.wrote = size
	if rk.filter == nil {
		rk.mainKeys = size
		s.buildFilter(log, rk)
	}
	if rk.filter != nil && rk.filter.ready { // nil while an abandoned build finishes
		return rk.filter
	}
	return nil
}

// committed records the tree size a batch of this store committed.
func (s *SQLiteStore) committedSize(log string, size uint64) {
	s.keysMu.Lock()
	defer s.keysMu.Unlock()
	s.recentOf(log).wrote = size
}

// mergeState is a log's progress moving recent keys (columns of logs).
type mergeState struct {
	size, recentFrom, mergeTo uint64
	slice                     sql.NullInt64
}

// writeKeys stores a batch's deduplication keys and does one step of
// moving recent keys into entry_keys. It returns the index below which the
// in-memory recent keys may be dropped once the transaction commits (0:
// none).
func (s *SQLiteStore) writeKeys(t *sqliteTx, keys []KeyRow) (uint64, error) {
	ctx := t.ctx
	if err := insertRows(ctx, t.conn, `INSERT INTO entry_keys_recent (log, idx, key) VALUES `, 3, len(keys), func(i int, args []any) []any {
		return append(args, t.log, int64(keys[i].Index), keys[i].Key[:])
	}); err != nil {
		return 0, fmt.Errorf("couldn't write entry keys: %w", err)
	}

	var st mergeState
	var size, from, to int64
	if err := t.conn.QueryRowContext(ctx, `SELECT size, recent_from, merge_to, merge_slice FROM logs WHERE name = ?`, t.log).Scan(&size, &from, &to, &st.slice); err != nil {
		return 0, fmt.Errorf("couldn't read key merge state: %w", err)
	}
	st.size, st.recentFrom, st.mergeTo = uint64(size), uint64(from), uint64(to)
	// st.size must be the size the batch started from: the rows below it
	// are committed, the batch's own are not and must never be read into
	// memory. Do not rely on the state row not being updated yet.
	if t.haveSize {
		st.size = min(st.size, t.size)
	}
	for _, k := range keys {
		st.size = min(st.size, k.Index)
	}
	gen := min(max(st.size/4, s.mergeMin), s.mergeMax)
	n := uint64(len(keys))
	var prune uint64

	switch {
	case st.slice.Valid:
		// Move enough slices that the merge keeps pace with new keys.
		steps := max(1, (2*n*mergeSlices+gen-1)/gen)
		frozen, err := s.frozenKeys(t, st)
		if err != nil {
			return 0, err
		}
		var move []KeyRow
		for ; steps > 0 && st.slice.Int64 < mergeSlices; steps-- {
			move = append(move, keySlice(frozen, int(st.slice.Int64))...)
			st.slice.Int64++
		}
		s.keysMu.Lock()
		if f := s.recentOf(t.log).filter; f != nil {
			for i := range move {
				f.add(&move[i].Key)
			}
		}
		s.keysMu.Unlock()
		if err := insertRows(ctx, t.conn, `INSERT INTO entry_keys (log, key, idx) VALUES `, 3, len(move), func(i int, args []any) []any {
			return append(args, t.log, move[i].Key[:], int64(move[i].Index))
		}); err != nil {
			return 0, fmt.Errorf("couldn't move recent keys: %w", err)
		}
		if st.slice.Int64 >= mergeSlices {
			st.slice = sql.NullInt64{}
		}
	case st.recentFrom < st.mergeTo:
		// Moved: delete them from entry_keys_recent, a chunk at a time.
		end := min(st.mergeTo, st.recentFrom+max(gen/mergeSlices, 2*n))
		if _, err := t.conn.ExecContext(ctx, `DELETE FROM entry_keys_recent WHERE log = ? AND idx >= ? AND idx < ?`, t.log, int64(st.recentFrom), int64(end)); err != nil {
			return 0, fmt.Errorf("couldn't delete moved keys: %w", err)
		}
		st.recentFrom = end
		if end == st.mergeTo {
			prune = end
		}
	case st.size-st.mergeTo >= gen:
		// Freeze the keys committed so far; start moving them next batch.
		st.mergeTo, st.slice = st.size, sql.NullInt64{Valid: true}
	default:
		return 0, nil
	}
	if _, err := t.conn.ExecContext(ctx, `UPDATE logs SET recent_from = ?, merge_to = ?, merge_slice = ? WHERE name = ?`,
		int64(st.recentFrom), int64(st.mergeTo), st.slice, t.log); err != nil {
		return 0, fmt.Errorf("couldn't write key merge state: %w", err)
	}
	return prune, nil
}

// frozenKeys returns the keys of [recentFrom, mergeTo) sorted by key.
func (s *SQLiteStore) frozenKeys(t *sqliteTx, st mergeState) ([]KeyRow, error) {
	s.keysMu.Lock()
	defer s.keysMu.Unlock()
	rk := s.recentOf(t.log)
	if rk.frozen != nil && rk.frozenFrom == st.recentFrom && rk.frozen2 == st.mergeTo {
		return rk.frozen, nil
	}
	// Rows below the batch's starting size are committed.
	if err := s.refreshRecent(t.ctx, t.conn, t.log, st.size); err != nil {
		return nil, fmt.Errorf("couldn't read recent keys: %w", err)
	}
	frozen := make([]KeyRow, 0, st.mergeTo-st.recentFrom)
	for k, idx := range rk.idx {
		if idx >= st.recentFrom && idx < st.mergeTo {
			frozen = append(frozen, KeyRow{Key: k, Index: idx})
		}
	}
	if uint64(len(frozen)) != st.mergeTo-st.recentFrom {
		// Every entry has exactly one key: the memory copy is incomplete
		// (rows changed behind the store's back). Read them from the table.
		frozen = frozen[:0]
		rows, err := t.conn.QueryContext(t.ctx, `SELECT idx, key FROM entry_keys_recent WHERE log = ? AND idx >= ? AND idx < ?`, t.log, int64(st.recentFrom), int64(st.mergeTo))
		if err != nil {
			return nil, err
		}
		defer rows.Close()
		for rows.Next() {
			var idx int64
			var key []byte
			if err := rows.Scan(&idx, &key); err != nil {
				return nil, err
			}
			if len(key) != 32 {
				return nil, fmt.Errorf("entry_keys_recent: entry %d has a %d-byte key", idx, len(key))
			}
			frozen = append(frozen, KeyRow{Key: [32]byte(key), Index: uint64(idx)})
		}
		if err := rows.Err(); err != nil {
			return nil, err
		}
	}
	slices.SortFunc(frozen, func(a, b KeyRow) int {
		// Keys are hashes: the first eight bytes nearly always decide.
		if c := cmp.Compare(binary.BigEndian.Uint64(a.Key[:8]), binary.BigEndian.Uint64(b.Key[:8])); c != 0 {
			return c
		}
		return bytes.Compare(a.Key[8:], b.Key[8:])
	})
	rk.frozen, rk.frozenFrom, rk.frozen2 = frozen, st.recentFrom, st.mergeTo
	return frozen, nil
}

// keySlice returns the keys of sorted whose first two bytes fall in slice i
// of mergeSlices.
func keySlice(sorted []KeyRow, i int) []KeyRow {
	first := func(s int) int {
		if s >= mergeSlices {
			return len(sorted)
		}
		lo := uint16(s * (65536 / mergeSlices))
		j, _ := slices.BinarySearchFunc(sorted, lo, func(r KeyRow, v uint16) int {
			return int(uint16(r.Key[0])<<8|uint16(r.Key[1])) - int(v)
		})
		return j
	}
	return sorted[first(i):first(i+1)]
}

// pruneRecent drops from memory the recent keys below idx, which are in
// entry_keys and no longer in entry_keys_recent.
func (s *SQLiteStore) pruneRecent(log string, below uint64) {
	s.keysMu.Lock()
	defer s.keysMu.Unlock()
	rk := s.recentOf(log)
	for k, idx := range rk.idx {
		if idx < below {
			delete(rk.idx, k)
		}
	}
	if rk.frozen2 <= below {
		rk.frozen = nil
	}
}

// insertRows inserts n rows of width columns with multi-row INSERTs (a
// statement per 100 rows), args appending row i's values.
func insertRows(ctx context.Context, conn *sql.Conn, prefix string, width, n int, args func(i int, args []any) []any) error {
	const per = 100
	one := "(?" + strings.Repeat(",?", width-1) + ")"
	var full *sql.Stmt
	defer func() {
		if full != nil {
			full.Close()
		}
	}()
	buf := make([]any, 0, per*width)
	for start := 0; start < n; start += per {
		end := min(start+per, n)
		buf = buf[:0]
		for i := start; i < end; i++ {
			buf = args(i, buf)
		}
		q := prefix + one + strings.Repeat(","+one, end-start-1)
		if end-start == per {
			if full == nil {
				var err error
				if full, err = conn.PrepareContext(ctx, q); err != nil {
					return err
				}
			}
			if _, err := full.ExecContext(ctx, buf...); err != nil {
				return err
			}
			continue
		}
		if _, err := conn.ExecContext(ctx, q, buf...); err != nil {
			return err
		}
	}
	return nil
}

// A keyFilter is a Bloom filter over a log's keys in entry_keys, used by
// batches to skip looking up in entry_keys the keys that cannot be there
// (nearly all of them: duplicates are rare). Looking up a batch's keys in
// entry_keys took about 40% of a batch's time. A false positive only costs
// a lookup; there are no false negatives because every key a batch moves
// into entry_keys is added first, and a filter is only trusted while this
// store is the log's only writer (see lookupKeys).
type keyFilter struct {
	bits     []uint64
	seed     maphash.Seed
	n, limit int  // keys added; keys it was sized for
	ready    bool // holds every key of entry_keys
}

const filterHashes = 7 // with 10 bits per key: ~1% false positives

func newKeyFilter(keys int) *keyFilter {
	limit := max(1<<20, 2*keys)
	return &keyFilter{bits: make([]uint64, (limit*10+63)/64), seed: maphash.MakeSeed(), limit: limit}
}

func (f *keyFilter) positions(key *[32]byte, do func(word int, bit uint64) bool) bool {
	h := maphash.Bytes(f.seed, key[:])
	h1, h2 := uint32(h), uint32(h>>32)|1
	m := uint32(len(f.bits) * 64)
	for i := uint32(0); i < filterHashes; i++ {
		p := (h1 + i*h2) % m
		if !do(int(p/64), 1<<(p%64)) {
			return false
		}
	}
	return true
}

func (f *keyFilter) add(key *[32]byte) {
	f.n++
	f.positions(key, func(w int, b uint64) bool { f.bits[w] |= b; return true })
}

func (f *keyFilter) mayContain(key *[32]byte) bool {
	return f.positions(key, func(w int, b uint64) bool { return f.bits[w]&b != 0 })
}

// buildFilter reads every key of the log's entry_keys into a new filter,
// in the background; batches look keys up in the table until it is ready.
// s.keysMu must be held.
func (s *SQLiteStore) buildFilter(log string, rk *recentKeys) {
	if rk.building {
		return
	}
	rk.building = true
	f := newKeyFilter(int(rk.mainKeys))
	rk.filter = f // merges add to it from now on
	go func() {
		ok := s.scanKeys(log, f)
		s.keysMu.Lock()
		defer s.keysMu.Unlock()
		rk.building = false
		if rk.filter == f {
			if ok {
				f.ready = true
			} else {
				rk.filter = nil
			}
		}
	}()
}

func (s *SQLiteStore) scanKeys(log string, f *keyFilter) bool {
	ctx := context.Background()
	rows, err := s.db.QueryContext(ctx, `SELECT key FROM entry_keys WHERE log = ?`, log)
	if err != nil {
		return false
	}
	defer rows.Close()
	var batch [][32]byte
	flush := func() {
		s.keysMu.Lock()
		for i := range batch {
			f.add(&batch[i])
		}
		s.keysMu.Unlock()
		batch = batch[:0]
	}
	for rows.Next() {
		var k []byte
		if err := rows.Scan(&k); err != nil || len(k) != 32 {
			return false
		}
		batch = append(batch, [32]byte(k))
		if len(batch) == 4096 {
			flush()
		}
	}
	flush()
	return rows.Err() == nil
}

package tlog

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/transparency-dev/merkle/rfc6962"
)

// hostileKeys are search keys with bytes PostgreSQL's text refuses, or
// that look like the escaped form of such keys.
var hostileKeys = []string{
	"evil\x00@example.com",        // issue 16: an email SAN with a NUL
	"a\x00b.example.com",          // issue 16: a DNS SAN with a NUL
	"a\x00b",                      // issue 16: the subject query
	"\xff\xfe invalid utf-8",      // not UTF-8 at all
	"\xed\xa0\x80",                // a UTF-16 surrogate, encoded
	"HEX:" + "610062",             // what "a\x00b" is stored as, as a key of its own
	"HEX:",                        // the bare prefix
	strings.Repeat("long", 15000), // 60,000 bytes
	"\x00",
}

func TestStoredSearchKey(t *testing.T) {
	for _, c := range []struct{ key, want string }{
		{"alice@example.com", "alice@example.com"},
		{"sha256:" + strings.Repeat("ab", 32), "sha256:" + strings.Repeat("ab", 32)},
		{"jörg@bücher.example", "jörg@bücher.example"},
		{"", ""},
		{"a\x00b", "HEX:610062"},
		{"\xff", "HEX:ff"},
		{"HEX:610062", "HEX:4845583a363130303632"},
		{"hex:610062", "hex:610062"}, // Rekor keys are lower-cased: never escaped
	} {
		if got := storedSearchKey(c.key); got != c.want {
			t.Errorf("storedSearchKey(%q) = %q, want %q", c.key, got, c.want)
		}
	}
	seen := map[string]string{}
	for _, k := range append(slices.Clone(hostileKeys), "a", "610062") {
		s := storedSearchKey(k)
		if prev, ok := seen[s]; ok {
			t.Errorf("%q and %q are both stored as %q", prev, k, s)
		}
		seen[s] = k
		if strings.ContainsRune(s, 0) || !strings.HasPrefix(s, escapedKeyPrefix) && s != k {
			t.Errorf("stored form of %q is %q", k, s)
		}
	}
	keys := []string{"a", "b"}
	if got := storedSearchKeys(keys); &got[0] != &keys[0] {
		t.Error("storedSearchKeys copied keys that need no change")
	}
	keys = []string{"a", "b\x00"}
	if got := storedSearchKeys(keys); got[0] != "a" || got[1] != "HEX:6200" || keys[1] != "b\x00" {
		t.Errorf("storedSearchKeys = %q, and the caller's slice is %q", got, keys)
	}
}

// TestStoresRefuseRawKeys shows what storedSearchKey is for: PostgreSQL
// refuses a search key with a NUL, and the refusal is classified as the
// row's doing, not an outage.
func TestStoresRefuseRawKeys(t *testing.T) {
	stores(t, func(t *testing.T, open func(t *testing.T) testStore) {
		s := open(t)
		ctx := context.Background()
		if err := s.CreateLog(ctx, "raw"); err != nil {
			t.Fatal(err)
		}
		var writeErr error
		errRollback := errors.New("roll back")
		err := s.Commit(ctx, "raw", func(tx Tx) error {
			st, err := tx.State()
			if err != nil {
				return err
			}
			st.Checkpoint, st.Root = []byte("checkpoint"), make([]byte, 32)
			writeErr = tx.Write(&BatchWrite{State: *st, Time: time.Now(), SearchKeys: []SearchRow{{Key: "a\x00b", Index: 0}}})
			if writeErr != nil {
				return writeErr
			}
			return errRollback
		})
		switch s := s.(type) {
		case *PGStore:
			if writeErr == nil || !rowRefused(err) {
				t.Fatalf("PostgreSQL took a NUL key, or its error is not a refused row: %v", err)
			}
		case *SQLiteStore:
			if writeErr != nil || !errors.Is(err, errRollback) {
				t.Fatalf("SQLite refused a NUL key: %v", err)
			}
			_, err := s.db.ExecContext(ctx, `INSERT INTO search_keys (log, key, idx) VALUES ('raw', NULL, 1)`)
			if err == nil || !rowRefused(err) {
				t.Fatalf("a NOT NULL violation is not a refused row: %v", err)
			}
		}
		if rowRefused(context.DeadlineExceeded) || rowRefused(errors.New("connection reset")) || rowRefused(&pgconn.PgError{Code: "08006"}) {
			t.Fatal("an outage is classified as a refused row")
		}
	})
}

// TestHostileSearchKeys appends entries whose search keys carry bytes a
// store refuses beside honest entries, in the same batches: every entry
// commits, and searching for each key finds exactly its entry, on both
// stores; so do imports.
func TestHostileSearchKeys(t *testing.T) {
	stores(t, func(t *testing.T, open func(t *testing.T) testStore) {
		s := open(t)
		l := openTestLog(t, s, "hostile", func(c *Config) { c.BatchMaxAge = 50 * time.Millisecond })
		ctx := context.Background()
		var wg sync.WaitGroup
		idx := make([]uint64, len(hostileKeys))
		for i, k := range hostileKeys {
			wg.Add(1)
			go func() {
				defer wg.Done()
				r, err := l.Append(ctx, Entry{Data: []byte(fmt.Sprintf("hostile %d", i)), SearchKeys: []string{k, "shared"}})
				if err != nil {
					t.Errorf("entry with key %.20q: %v", k, err)
					return
				}
				idx[i] = r.Index
			}()
		}
		appendAll(t, l.Log, 0, 40)
		wg.Wait()
		if t.Failed() {
			return
		}
		if cp := checkLog(t, l); cp.Size != uint64(40+len(hostileKeys)) {
			t.Fatalf("size %d, want %d", cp.Size, 40+len(hostileKeys))
		}
		for i, k := range hostileKeys {
			got, err := l.Search(ctx, []string{k}, 100)
			if err != nil || !slices.Equal(got, []uint64{idx[i]}) {
				t.Errorf("Search(%.20q) = %v, %v; want [%d]", k, got, err, idx[i])
			}
			if got, err := l.SearchAmong(ctx, []string{k}, []uint64{0, idx[i]}); err != nil || !slices.Contains(got, idx[i]) {
				t.Errorf("SearchAmong(%.20q) = %v, %v; want %d", k, got, err, idx[i])
			}
		}
		if got, err := l.Search(ctx, []string{"shared"}, 100); err != nil || len(got) != len(hostileKeys) {
			t.Errorf("Search(shared) = %v, %v", got, err)
		}
		for _, k := range []string{"a\x00", "\x00\x00", "HEX:00", "ab", "a"} {
			if got, err := l.Search(ctx, []string{k}, 100); err != nil || len(got) != 0 {
				t.Errorf("Search(%q) = %v, %v; want nothing", k, got, err)
			}
		}

		// Imports store the same form.
		il := openTestLog(t, s, "hostile-import", nil)
		b := ImportBatch{Time: time.Now()}
		for i, k := range hostileKeys {
			b.Entries = append(b.Entries, Entry{Data: []byte(fmt.Sprintf("imported %d", i)), SearchKeys: []string{k}})
		}
		if _, err := il.Import(ctx, b); err != nil {
			t.Fatal(err)
		}
		for i, k := range hostileKeys {
			if got, err := il.Search(ctx, []string{k}, 100); err != nil || !slices.Equal(got, []uint64{uint64(i)}) {
				t.Errorf("imported: Search(%.20q) = %v, %v; want [%d]", k, got, err, i)
			}
		}
	})
}

// refusingStore is a fault-injecting wrapper: a batch holding a poisoned
// entry (by deduplication key) fails to write, as PostgreSQL failed
// batches holding a NUL search key, or, with outage set, as a store that
// is down fails.
type refusingStore struct {
	testStore
	poison   map[[32]byte]bool
	outage   atomic.Bool
	commits  atomic.Int64 // Commit calls
	poisoned atomic.Int64 // writes refused because of a poisoned entry
}

func (s *refusingStore) Commit(ctx context.Context, log string, fn func(Tx) error) error {
	s.commits.Add(1)
	return s.testStore.Commit(ctx, log, func(tx Tx) error { return fn(&refusingTx{Tx: tx, s: s}) })
}

type refusingTx struct {
	Tx
	s *refusingStore
}

func (t *refusingTx) Write(b *BatchWrite) error {
	for _, k := range b.Keys {
		if t.s.poison[k.Key] {
			t.s.poisoned.Add(1)
			if t.s.outage.Load() {
				return errors.New("injected outage: connection reset by peer")
			}
			return fmt.Errorf("couldn't write search keys: %w", &pgconn.PgError{Severity: "ERROR", Code: "22021",
				Message: `invalid byte sequence for encoding "UTF8": 0x00`})
		}
	}
	return t.Tx.Write(b)
}

// TestCommitApart: when the store refuses a batch for a row one entry
// carries, that entry gets its own error and the rest of the batch
// commits; an outage fails the batch at once, without retries.
func TestCommitApart(t *testing.T) {
	stores(t, func(t *testing.T, open func(t *testing.T) testStore) {
		ctx := context.Background()
		bad := [][]byte{[]byte("poisoned 1"), []byte("poisoned 2")}
		rs := &refusingStore{testStore: open(t), poison: map[[32]byte]bool{}}
		for _, b := range bad {
			rs.poison[[32]byte(rfc6962.DefaultHasher.HashLeaf(b))] = true
		}
		// One batch gathers everything appended within 200 ms.
		l := openTestLog(t, rs, "apart", func(c *Config) { c.BatchMaxAge = 200 * time.Millisecond; c.BatchMaxSize = 1024 })
		honest := appendAll(t, l.Log, 0, 10)

		commits := rs.commits.Load()
		var wg sync.WaitGroup
		badErrs := make([]error, len(bad))
		for i, b := range bad {
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, badErrs[i] = l.Append(ctx, Entry{Data: b, SearchKeys: []string{"bad"}})
			}()
		}
		// Honest entries beside them, one a duplicate of a committed entry
		// and two a duplicate pair within the batch.
		more := appendAll(t, l.Log, 10, 30)
		dupOld, errOld := l.Append(ctx, Entry{Data: entryData(3)})
		wg.Wait()
		if errOld != nil || !dupOld.Duplicate || dupOld.Index != honest[3].Index {
			t.Fatalf("duplicate of a committed entry: %+v, %v", dupOld, errOld)
		}
		for i, err := range badErrs {
			if !errors.Is(err, ErrInvalidRequest) {
				t.Fatalf("poisoned entry %d: %v, want ErrInvalidRequest", i, err)
			}
			if _, ok := errors.AsType[*pgconn.PgError](err); !ok {
				t.Fatalf("poisoned entry %d: the store's error is not wrapped: %v", i, err)
			}
		}
		seen := map[uint64]bool{}
		for _, r := range append(honest, more...) {
			if r == nil || seen[r.Index] || r.Index >= 40 {
				t.Fatalf("honest receipts %+v", r)
			}
			seen[r.Index] = true
		}
		if cp := checkLog(t, l); cp.Size != 40 {
			t.Fatalf("size %d, want 40", cp.Size)
		}
		for _, b := range bad {
			if _, err := l.Lookup(ctx, [32]byte(rfc6962.DefaultHasher.HashLeaf(b))); !errors.Is(err, ErrNotFound) {
				t.Fatalf("a poisoned entry is in the log: %v", err)
			}
		}
		if got, err := l.Search(ctx, []string{"bad"}, 10); err != nil || len(got) != 0 {
			t.Fatalf("poisoned search keys stored: %v %v", got, err)
		}
		t.Logf("%d commits for 32 appends with 2 poisoned entries", rs.commits.Load()-commits)

		// An outage is not an entry's doing: the batch fails at once.
		rs.outage.Store(true)
		refused := rs.poisoned.Load()
		if _, err := l.Append(ctx, Entry{Data: bad[0]}); err == nil || errors.Is(err, ErrInvalidRequest) {
			t.Fatalf("during an outage: %v", err)
		}
		if n := rs.poisoned.Load() - refused; n != 1 {
			t.Fatalf("a batch failing with an outage was retried: %d attempts", n)
		}
		rs.outage.Store(false)
		appendAll(t, l.Log, 100, 5)
		if cp := checkLog(t, l); cp.Size != 45 {
			t.Fatalf("size %d, want 45", cp.Size)
		}
	})
}

// TestFinishFailsAlone: an entry whose Finish fails gets that error and
// takes no index; the entries batched with it commit.
func TestFinishFailsAlone(t *testing.T) {
	stores(t, func(t *testing.T, open func(t *testing.T) testStore) {
		l := openTestLog(t, open(t), "finish", func(c *Config) { c.BatchMaxAge = 100 * time.Millisecond })
		ctx := context.Background()
		errBuild := errors.New("cannot build")
		var wg sync.WaitGroup
		got := make([]uint64, 20)
		errs := make([]error, 20)
		for i := range 20 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				r, err := l.Append(ctx, Entry{DedupKey: [32]byte{byte(i), 1}, Finish: func(idx uint64, _ time.Time) ([]byte, [32]byte, error) {
					switch i {
					case 7:
						return nil, [32]byte{}, errBuild
					case 8:
						return make([]byte, MaxEntrySize+1), [32]byte{}, nil
					}
					d := fmt.Appendf(nil, "entry %d at %d", i, idx)
					return d, [32]byte(rfc6962.DefaultHasher.HashLeaf(d)), nil
				}})
				errs[i] = err
				if err == nil {
					got[i] = r.Index
				}
			}()
		}
		wg.Wait()
		for i, err := range errs {
			switch {
			case i == 7 && !errors.Is(err, errBuild), i == 8 && !errors.Is(err, ErrEntryTooLarge):
				t.Fatalf("entry %d: %v", i, err)
			case i != 7 && i != 8 && err != nil:
				t.Fatalf("entry %d failed beside a failing entry: %v", i, err)
			}
		}
		cp := checkLog(t, l)
		if cp.Size != 18 {
			t.Fatalf("size %d, want 18", cp.Size)
		}
		for i, idx := range got {
			if i == 7 || i == 8 {
				continue
			}
			data, err := l.EntryAt(ctx, idx, cp.Size)
			if err != nil || string(data) != fmt.Sprintf("entry %d at %d", i, idx) {
				t.Fatalf("entry %d at %d reads %q, %v", i, idx, data, err)
			}
		}
	})
}

// TestLogNameMustBeText: a log's name is a key in every table, so it must
// be text both stores hold.
func TestLogNameMustBeText(t *testing.T) {
	for _, name := range []string{`"a\0b"`, `"a\x01b"`, `"a\u007fb"`, `"a b"`, `""`} {
		_, err := ParseServiceConfig(fmt.Appendf(nil, "database: {sqlite: x.db}\nlogs:\n  - {name: %s, kind: tiles, url: https://l.example.com/x, key_file: k.pem}\n", name))
		if err == nil || !strings.Contains(err.Error(), "must be non-empty UTF-8") {
			t.Errorf("log name %s: %v", name, err)
		}
	}
}

package shards

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/transparency-dev/merkle/rfc6962"

	"github.com/hallmark-dev/hallmark/tlog"
	"github.com/hallmark-dev/hallmark/tlog/format"
	"github.com/hallmark-dev/hallmark/tlog/rekorv1"
)

// openShard opens the log name in s as a shard with tree ID treeID.
func openShard(t *testing.T, s *tlog.SQLiteStore, name string, treeID int64) *Shard {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	signer, err := format.NewNoteSigner("rekor.example.com", key)
	if err != nil {
		t.Fatal(err)
	}
	l, err := tlog.Open(context.Background(), s, tlog.Config{Name: name, Origin: fmt.Sprintf("rekor.example.com - %d", treeID),
		Signer: signer, BatchMaxAge: time.Millisecond, Index: s, History: s, Importer: s})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(l.Close)
	sh, err := NewShard(name, l, treeID, key)
	if err != nil {
		t.Fatal(err)
	}
	return sh
}

func openStore(t *testing.T) *tlog.SQLiteStore {
	t.Helper()
	s, err := tlog.OpenSQLite(context.Background(), filepath.Join(t.TempDir(), "log.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func appendEntry(t *testing.T, sh *Shard, data string) *tlog.Receipt {
	t.Helper()
	rc, err := sh.Log.Append(context.Background(), tlog.Entry{Data: []byte(data)})
	if err != nil {
		t.Fatal(err)
	}
	return rc
}

// TestShards: Rekor's virtual log index runs across an inactive shard and
// the active one; lookups find entries in either, the active one first;
// LogEntries carry the virtual index, the tree's index in their proof and
// their shard's log ID; and an inactive shard that grows is caught.
func TestShards(t *testing.T) {
	ctx := context.Background()
	s := openStore(t)
	a, b := openShard(t, s, "a", 1), openShard(t, s, "b", 2)
	appendEntry(t, a, "a0")
	appendEntry(t, a, "a1")
	appendEntry(t, b, "b0")
	appendEntry(t, a, "shared")
	appendEntry(t, b, "shared")
	// a is frozen at 3 entries from here on.
	log, err := New(ctx, b, []*Shard{a})
	if err != nil {
		t.Fatal(err)
	}
	if log.Active() != b || len(log.Inactive()) != 1 || log.ByTreeID(1) != a || log.ByTreeID(3) != nil {
		t.Fatal("shards in the wrong places")
	}
	for _, c := range []struct {
		virtual uint64
		shard   *Shard
		local   uint64
	}{{0, a, 0}, {2, a, 2}, {3, b, 0}, {4, b, 1}, {9, b, 6}} {
		sh, idx := log.Resolve(c.virtual)
		if sh != c.shard || idx != c.local {
			t.Errorf("Resolve(%d) = %s/%d, want %s/%d", c.virtual, sh.Name, idx, c.shard.Name, c.local)
		}
	}
	for virtual, want := range []struct {
		body  string
		shard *Shard
		local uint64
	}{{"a0", a, 0}, {"a1", a, 1}, {"shared", a, 2}, {"b0", b, 0}, {"shared", b, 1}} {
		id, e, err := log.EntryAt(ctx, uint64(virtual))
		if err != nil {
			t.Fatal(err)
		}
		leaf := [32]byte(rfc6962.DefaultHasher.HashLeaf([]byte(want.body)))
		if string(e.Body) != want.body || e.LogIndex != uint64(virtual) || e.Verification.InclusionProof.LogIndex != want.local ||
			e.LogID != want.shard.LogID() || id != rekorv1.EntryID(want.shard.TreeID, leaf) || len(e.Verification.SignedEntryTimestamp) == 0 {
			t.Errorf("EntryAt(%d) = %s %+v", virtual, id, e)
		}
	}
	if _, _, err := log.EntryAt(ctx, 5); !errors.Is(err, tlog.ErrNotFound) {
		t.Errorf("EntryAt past the end: %v", err)
	}

	shared := [32]byte(rfc6962.DefaultHasher.HashLeaf([]byte("shared")))
	if sh, idx, err := log.LookupLeaf(ctx, shared); err != nil || sh != b || idx != 1 {
		t.Errorf("LookupLeaf(shared) = %v/%d, %v; want the active shard's b/1", sh, idx, err)
	}
	a0 := [32]byte(rfc6962.DefaultHasher.HashLeaf([]byte("a0")))
	if sh, idx, err := log.LookupUUID(ctx, rekorv1.EntryID(1, a0)); err != nil || sh != a || idx != 0 {
		t.Errorf("LookupUUID(tree 1, a0) = %v/%d, %v", sh, idx, err)
	}
	if _, _, err := log.LookupUUID(ctx, rekorv1.EntryID(2, a0)); !errors.Is(err, tlog.ErrNotFound) {
		t.Errorf("LookupUUID(tree 2, a0): %v, want not found", err)
	}
	if _, _, err := log.LookupUUID(ctx, rekorv1.EntryID(7, a0)); !errors.Is(err, tlog.ErrNotFound) {
		t.Errorf("LookupUUID(tree 7): %v, want not found", err)
	}
	var in *rekorv1.InputError
	if _, _, err := log.LookupUUID(ctx, "xyz"); !errors.As(err, &in) {
		t.Errorf("LookupUUID(xyz): %v, want an input error", err)
	}

	if err := log.CheckFrozen(ctx); err != nil {
		t.Fatal(err)
	}
	appendEntry(t, a, "late")
	if err := log.CheckFrozen(ctx); err == nil || !strings.Contains(err.Error(), "inactive shard a grew from 3 to 4 entries") {
		t.Errorf("CheckFrozen after a grew: %v", err)
	}
}

// TestSearchAndWithCommonKey: an "and" search in which one key is carried
// by more entries than a search lists (an identity that signs everything)
// still finds every entry carrying both keys, not only those among the
// common key's first 10,000.
func TestSearchAndWithCommonKey(t *testing.T) {
	ctx := context.Background()
	s := openStore(t)
	sh := openShard(t, s, "v1", 7)
	log, err := New(ctx, sh, nil)
	if err != nil {
		t.Fatal(err)
	}

	const n = 12000
	hash := "sha256:" + strings.Repeat("ab", 32)
	both := []uint64{5, 11000} // carry the email and the hash
	b := tlog.ImportBatch{Time: time.Unix(1700000000, 0)}
	ids := map[uint64]string{}
	for i := range uint64(n) {
		e := tlog.Entry{Data: fmt.Appendf(nil, `{"entry":%d}`, i), SearchKeys: []string{"ci@example.com"}}
		if i%3 == 0 {
			e.SearchKeys = append(e.SearchKeys, "other@example.com")
		}
		if i%6 != 5 {
			e.SearchKeys = append(e.SearchKeys, "many@example.com")
		}
		if slices.Contains(both, i) {
			e.SearchKeys = append(e.SearchKeys, hash)
		}
		ids[i] = rekorv1.EntryID(7, [32]byte(rfc6962.DefaultHasher.HashLeaf(e.Data)))
		b.Entries = append(b.Entries, e)
	}
	if _, err := sh.Log.Import(ctx, b); err != nil {
		t.Fatal(err)
	}

	search := func(query string) []string {
		t.Helper()
		var q rekorv1.SearchQuery
		if err := json.Unmarshal([]byte(query), &q); err != nil {
			t.Fatal(err)
		}
		keysets, op, err := q.Keys()
		if err != nil {
			t.Fatal(err)
		}
		got, err := log.Search(ctx, keysets, op)
		if err != nil {
			t.Fatalf("%s: %v", query, err)
		}
		return got
	}
	want := func(idx ...uint64) []string {
		var out []string
		for _, i := range idx {
			out = append(out, ids[i])
		}
		return out
	}
	for _, c := range []struct {
		query string
		want  []string
	}{
		{`{"email":"ci@example.com","hash":"` + hash + `","operator":"and"}`, want(both...)},
		{`{"hash":"` + strings.ToUpper(hash[7:]) + `","email":"CI@example.com","operator":"and"}`, want(both...)},
		{`{"hash":"` + hash + `"}`, want(both...)},
		{`{"email":"nobody@example.com","hash":"` + hash + `","operator":"and"}`, []string{}},
	} {
		if got := search(c.query); !slices.Equal(got, c.want) {
			t.Errorf("%s: %d results %v, want %v", c.query, len(got), got[:min(len(got), 4)], c.want)
		}
	}
	// A common key and one of 4,000 entries: all 4,000.
	if got := search(`{"email":"ci@example.com","operator":"and","subject":"other@example.com"}`); len(got) != 4000 || got[0] != ids[0] || got[3999] != ids[11997] {
		t.Errorf("and of a common key and one of 4,000 entries: %d results", len(got))
	}
	// Two keys on more than 10,000 entries each: the intersection of
	// their first 10,000 (documented).
	if got := search(`{"email":"ci@example.com","operator":"and","subject":"many@example.com"}`); len(got) != 10000-10000/6 {
		t.Errorf("and of two common keys: %d results", len(got))
	}
	// "or" lists at most 10,000, the lowest indices first.
	if got := search(`{"email":"ci@example.com","hash":"` + hash + `","operator":"or"}`); len(got) != 10000 || got[0] != ids[0] || got[9999] != ids[9999] {
		t.Errorf("or: %d results", len(got))
	}
}

// TestSearchAcrossShards: a search answers the active shard's entries
// first, then the inactive ones', each under its own tree's UUID.
func TestSearchAcrossShards(t *testing.T) {
	ctx := context.Background()
	s := openStore(t)
	a, b := openShard(t, s, "a", 1), openShard(t, s, "b", 2)
	for _, sh := range []*Shard{a, b} {
		if _, err := sh.Log.Append(ctx, tlog.Entry{Data: []byte(sh.Name), SearchKeys: []string{"ci@example.com"}}); err != nil {
			t.Fatal(err)
		}
	}
	log, err := New(ctx, b, []*Shard{a})
	if err != nil {
		t.Fatal(err)
	}
	got, err := log.Search(ctx, [][]string{{"ci@example.com"}}, rekorv1.OperatorOr)
	want := []string{
		rekorv1.EntryID(2, [32]byte(rfc6962.DefaultHasher.HashLeaf([]byte("b")))),
		rekorv1.EntryID(1, [32]byte(rfc6962.DefaultHasher.HashLeaf([]byte("a")))),
	}
	if err != nil || !slices.Equal(got, want) {
		t.Errorf("Search = %v, %v; want %v", got, err, want)
	}
}

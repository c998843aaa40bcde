package shards

import (
	"context"
	"slices"

	"github.com/hallmark-dev/hallmark/tlog"
	"github.com/hallmark-dev/hallmark/tlog/rekorv1"
)

// MaxSearchResults bounds the answer of a search (POST
// /api/v1/index/retrieve), and what one key's search lists.
const MaxSearchResults = 10000

// Search answers an index search: the UUIDs of the entries matching
// keysets (from rekorv1.SearchQuery.Keys) combined with op, at most
// MaxSearchResults of them. Each shard has its own search index; the
// answer is their union, the active shard first, each shard's entries by
// ascending index. The index is written in the same transaction as the
// entries, so answers are complete.
func (s *Log) Search(ctx context.Context, keysets [][]string, op string) ([]string, error) {
	ids := []string{}
	for i := len(s.shards) - 1; i >= 0 && len(ids) < MaxSearchResults; i-- {
		got, err := searchShard(ctx, s.shards[i], keysets, op, MaxSearchResults-len(ids))
		if err != nil {
			return nil, err
		}
		ids = append(ids, got...)
	}
	return ids, nil
}

// searchShard answers one shard's part of an index search: the entry IDs
// of the entries matching keysets, combined with op.
func searchShard(ctx context.Context, sh *Shard, keysets [][]string, op string, limit int) ([]string, error) {
	result, _, err := SearchLog(ctx, sh.Log, keysets, op)
	if err != nil {
		return nil, err
	}
	cp, err := sh.Log.Checkpoint(ctx)
	if err != nil {
		return nil, err
	}
	ids := []string{}
	for _, idx := range result[:min(len(result), limit)] {
		leaf, err := sh.Log.LeafHash(ctx, idx, max(cp.Size, idx+1))
		if err != nil {
			return nil, err
		}
		ids = append(ids, rekorv1.EntryID(sh.TreeID, [32]byte(leaf)))
	}
	return ids, nil
}

// SearchLog returns the indices of l's entries matching keysets, sorted and
// without duplicates: the union of each keyset's matches or, for
// rekorv1.OperatorAnd, their intersection (SearchAnd). Each keyset's
// matches are its first MaxSearchResults; complete is false where that
// cut may hide entries from the answer.
func SearchLog(ctx context.Context, l *tlog.Log, keysets [][]string, op string) (result []uint64, complete bool, err error) {
	lists := make([][]uint64, len(keysets))
	for i, ks := range keysets {
		if lists[i], err = l.Search(ctx, ks, MaxSearchResults); err != nil {
			return nil, false, err
		}
	}
	if op == rekorv1.OperatorAnd {
		result, err = SearchAnd(ctx, l, keysets, lists)
		// Complete unless every key is common: then it is the
		// intersection of their first entries.
		complete = len(lists) == 0 || slices.ContainsFunc(lists, func(l []uint64) bool { return len(l) < MaxSearchResults })
		return result, complete, err
	}
	complete = true
	for _, got := range lists {
		result = append(result, got...)
		if len(got) >= MaxSearchResults {
			complete = false
		}
	}
	slices.Sort(result)
	return slices.Compact(result), complete, nil
}

// SearchAnd intersects the answers of keysets' searches in log (lists,
// each ascending and cut at MaxSearchResults), as an "and" index search
// does. A list cut short lists only the
// first entries of a common key, so the intersection starts from the
// shortest complete list, and keysets with cut lists are checked against
// its entries in the store. Only when every list was cut (every key is
// carried by more than MaxSearchResults entries) is the answer the
// intersection of their first MaxSearchResults entries.
func SearchAnd(ctx context.Context, log *tlog.Log, keysets [][]string, lists [][]uint64) ([]uint64, error) {
	base := -1
	for i, l := range lists {
		if len(l) < MaxSearchResults && (base < 0 || len(l) < len(lists[base])) {
			base = i
		}
	}
	if base < 0 {
		base = 0
	}
	result := slices.Clone(lists[base])
	for i, l := range lists {
		switch {
		case i == base:
		case len(l) < MaxSearchResults || len(lists[base]) == MaxSearchResults:
			result = slices.DeleteFunc(result, func(x uint64) bool { _, ok := slices.BinarySearch(l, x); return !ok })
		default:
			var err error
			if result, err = log.SearchAmong(ctx, keysets[i], result); err != nil {
				return nil, err
			}
		}
	}
	return result, nil
}

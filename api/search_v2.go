package api

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"

	"github.com/hallmark-dev/hallmark/tlog"
	"github.com/hallmark-dev/hallmark/tlog/rekorv1"
	"github.com/hallmark-dev/hallmark/tlog/rekorv1/shards"
)

// Search for Rekor v2 logs: POST <prefix>/api/v2/index/retrieve takes the
// body of Rekor v1's index search (hash, publicKey, email, subject,
// operator; tlog/rekorv1.SearchQuery) and answers with the matching log
// indices, ascending, at most shards.MaxSearchResults of them. The keys are
// written with the entries, in the batch's transaction
// (tlog/rekorv2.IndexKeys), so an answer is complete as v1's is; entries
// logged before the index existed need `hallmark admin index-v2`.

// v2SearchResponse is the answer of a Rekor v2 index search. Complete is
// false when a key matched more entries than the answer lists.
type v2SearchResponse struct {
	LogIndexes []uint64 `json:"logIndexes"`
	Complete   bool     `json:"complete"`
}

func v2SearchHandler(l *tlog.Log, maxBytes int64) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		body, err := readBody(w, r, maxBytes)
		if err != nil {
			writeError(w, r, err)
			return
		}
		var q rekorv1.SearchQuery
		if err := json.Unmarshal(body, &q); err != nil {
			writeError(w, r, fmt.Errorf("%w: invalid search query: %w", ErrBadRequest, err))
			return
		}
		keysets, op, err := q.Keys()
		if err != nil {
			writeError(w, r, fmt.Errorf("%w: %w", ErrBadRequest, err))
			return
		}
		resp, err := searchIndices(r, l, keysets, op)
		if err != nil {
			writeError(w, r, err)
			return
		}
		writeJSON(w, http.StatusOK, resp)
	}
}

// searchIndices answers a search of one log: the union or ("and") the
// intersection of the keysets' matches, as Rekor v1's index search
// combines them (shards.SearchAnd), cut at shards.MaxSearchResults.
func searchIndices(r *http.Request, l *tlog.Log, keysets [][]string, op string) (*v2SearchResponse, error) {
	ctx := r.Context()
	resp := &v2SearchResponse{LogIndexes: []uint64{}, Complete: true}
	lists := make([][]uint64, len(keysets))
	for i, ks := range keysets {
		got, err := l.Search(ctx, ks, shards.MaxSearchResults)
		if err != nil {
			return nil, err
		}
		lists[i] = got
	}
	var result []uint64
	if op == rekorv1.OperatorAnd {
		var err error
		if result, err = shards.SearchAnd(ctx, l, keysets, lists); err != nil {
			return nil, err
		}
		if !slices.ContainsFunc(lists, func(l []uint64) bool { return len(l) < shards.MaxSearchResults }) && len(lists) > 0 {
			resp.Complete = false // every key is common: the intersection of their first entries
		}
	} else {
		for _, got := range lists {
			result = append(result, got...)
			if len(got) >= shards.MaxSearchResults {
				resp.Complete = false
			}
		}
		slices.Sort(result)
		result = slices.Compact(result)
	}
	if len(result) > shards.MaxSearchResults {
		result, resp.Complete = result[:shards.MaxSearchResults], false
	}
	resp.LogIndexes = append(resp.LogIndexes, result...)
	return resp, nil
}

package api

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"

	"github.com/hallmark-dev/hallmark/api/logpb"
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
//
// The gRPC method hallmark.log.v1.Log/SearchIndex (proofService.SearchIndex)
// answers the same query with the same limits and errors: the query is
// capped by the server's message size (limits.max_request_bytes, as the REST
// body is), a query Rekor would reject is InvalidArgument (400 over REST).

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
		resp, err := searchIndices(r.Context(), l, keysets, op)
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
func searchIndices(ctx context.Context, l *tlog.Log, keysets [][]string, op string) (*v2SearchResponse, error) {
	result, complete, err := shards.SearchLog(ctx, l, keysets, op)
	if err != nil {
		return nil, err
	}
	resp := &v2SearchResponse{LogIndexes: []uint64{}, Complete: complete}
	if len(result) > shards.MaxSearchResults {
		result, resp.Complete = result[:shards.MaxSearchResults], false
	}
	resp.LogIndexes = append(resp.LogIndexes, result...)
	return resp, nil
}

// SearchIndex is the gRPC form of POST <prefix>/api/v2/index/retrieve, for
// the rekor-v2 log req.Log names.
func (s *proofService) SearchIndex(ctx context.Context, req *logpb.SearchIndexRequest) (*logpb.SearchIndexResponse, error) {
	resp, err := s.searchIndex(ctx, req)
	if err != nil {
		return nil, grpcError(ctx, err)
	}
	return resp, nil
}

func (s *proofService) searchIndex(ctx context.Context, req *logpb.SearchIndexRequest) (*logpb.SearchIndexResponse, error) {
	l, err := s.lookup(req.GetLog())
	if err != nil {
		return nil, err
	}
	if !s.searchable[req.GetLog()] {
		return nil, fmt.Errorf("%w: log %q is not a rekor-v2 log: search it with its own API", ErrBadRequest, req.GetLog())
	}
	q := rekorv1.SearchQuery{Hash: req.GetHash(), Email: req.GetEmail(), Subject: req.GetSubject(), Operator: req.GetOperator()}
	if pk := req.GetPublicKey(); pk != nil {
		q.PublicKey = &rekorv1.SearchPublicKey{Format: pk.GetFormat(), Content: pk.GetContent()}
	}
	keysets, op, err := q.Keys()
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBadRequest, err)
	}
	found, err := searchIndices(ctx, l, keysets, op)
	if err != nil {
		return nil, err
	}
	return &logpb.SearchIndexResponse{LogIndexes: found.LogIndexes, Complete: found.Complete}, nil
}

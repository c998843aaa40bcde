package api

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/hallmark-dev/hallmark/api/access"
	"github.com/hallmark-dev/hallmark/tlog"
	"github.com/hallmark-dev/hallmark/tlog/rekorv1"
	"github.com/hallmark-dev/hallmark/tlog/rekorv1/shards"
)

// rekorV1 is the HTTP surface of the Rekor v1 personality of one log:
// Rekor's v1 REST API with byte-identical leaves, SETs and checkpoints.
// The log itself, with its shards, lookups and search, is a shards.Log.
type rekorV1 struct {
	log      *shards.Log
	opts     rekorv1.Options
	maxBytes int64 // searches
	// entryBytes bounds entry submissions: the largest of the log's
	// limits.max_entry_bytes (opts.MaxEntryBytes has each kind's).
	// sizeRefused counts entries refused for their kind's, by kind.
	entryBytes  int64
	sizeRefused *prometheus.CounterVec
	access      *access.Policy
}

// newRekorV1 builds the front end of the active log sl and its inactive
// shards (oldest first), whose sizes it reads now.
func newRekorV1(ctx context.Context, sl *servedLog, inactive []*servedLog, maxBytes int64) (*rekorV1, error) {
	opts := rekorv1.DefaultOptions()
	if len(sl.cfg.Rekor.AllowedKinds) > 0 {
		opts.Kinds = sl.cfg.Rekor.AllowedKinds
	}
	if len(sl.cfg.Rekor.AllowedAlgorithms) > 0 {
		opts.Algorithms = nil
		for _, a := range sl.cfg.Rekor.AllowedAlgorithms {
			opts.Algorithms = append(opts.Algorithms, rekorv1.Algorithm(a))
		}
	}
	opts.MaxSignatures = sl.cfg.Rekor.MaxEnvelopeSignatures
	opts.MaxVerifiers = sl.cfg.Rekor.MaxEnvelopeVerifiers
	opts.MaxSignatureChecks = sl.cfg.Rekor.MaxSignatureChecks
	opts.MaxEntryBytes = sl.cfg.EntryLimits(maxBytes)
	if err := opts.Validate(); err != nil {
		return nil, fmt.Errorf("log %s: rekor options: %w", sl.cfg.Name, err)
	}
	var in []*shards.Shard
	for _, l := range inactive {
		sh, err := shards.NewShard(l.cfg.Name, l.log, l.cfg.Rekor.TreeID, l.key)
		if err != nil {
			return nil, err
		}
		in = append(in, sh)
	}
	active, err := shards.NewShard(sl.cfg.Name, sl.log, sl.cfg.Rekor.TreeID, sl.key)
	if err != nil {
		return nil, err
	}
	log, err := shards.New(ctx, active, in)
	if err != nil {
		return nil, err
	}
	return &rekorV1{log: log, opts: opts, maxBytes: maxBytes, entryBytes: sl.cfg.MaxEntryRoute(maxBytes), access: sl.access}, nil
}

func (s *rekorV1) mount(mux *http.ServeMux, p string) {
	mux.HandleFunc("POST "+p+"/api/v1/log/entries", s.createEntry)
	mux.HandleFunc("GET "+p+"/api/v1/log/entries", s.entryByIndex)
	mux.HandleFunc("GET "+p+"/api/v1/log/entries/{uuid}", s.entryByUUID)
	mux.HandleFunc("POST "+p+"/api/v1/log/entries/retrieve", s.searchLog)
	mux.HandleFunc("GET "+p+"/api/v1/log", s.logInfo)
	mux.HandleFunc("GET "+p+"/api/v1/log/publicKey", s.publicKey)
	mux.HandleFunc("GET "+p+"/api/v1/log/proof", s.consistencyProof)
	mux.HandleFunc("POST "+p+"/api/v1/index/retrieve", s.searchIndex)
}

// rekorError writes Rekor's error body {code, message}.
func rekorError(w http.ResponseWriter, code int, msg string) {
	if code == http.StatusServiceUnavailable {
		w.Header().Set("Retry-After", "1")
	}
	writeJSON(w, code, map[string]any{"code": code, "message": msg})
}

// writeV1Error maps engine and input errors to Rekor's answers.
func writeV1Error(w http.ResponseWriter, r *http.Request, err error) {
	var in *rekorv1.InputError
	if errors.As(err, &in) {
		rekorError(w, in.Code, in.Message)
		return
	}
	if errors.Is(err, errTooLarge) {
		rekorError(w, http.StatusRequestEntityTooLarge, "Request Entity Too Large. "+err.Error())
		return
	}
	writeError(w, r, err)
}

func (s *rekorV1) createEntry(w http.ResponseWriter, r *http.Request) {
	chk, err := s.access.Begin(r.Context(), httpCredentials(r)) // write policy: the caller
	if err != nil {
		writeV1Error(w, r, err)
		return
	}
	body, err := readBody(w, r, s.entryBytes)
	if err != nil {
		writeV1Error(w, r, err)
		return
	}
	opts := s.opts
	opts.Authorize = chk.Signer // write policy: the entry's signers, before verification
	e, err := rekorv1.Canonicalize(body, opts)
	if err == nil {
		err = chk.Finish()
	}
	var tooLarge *rekorv1.EntryTooLargeError
	if errors.As(err, &tooLarge) && s.sizeRefused != nil {
		s.sizeRefused.WithLabelValues(tooLarge.Kind).Inc()
	}
	if err != nil {
		writeV1Error(w, r, err)
		return
	}
	if err := s.log.CheckFrozen(r.Context()); err != nil {
		writeV1Error(w, r, err)
		return
	}
	a := s.log.Active()
	rc, err := a.Log.Append(r.Context(), tlog.Entry{Data: e.Canonical, LeafHash: e.LeafHash(), SearchKeys: e.IndexKeys})
	if err != nil {
		writeV1Error(w, r, err)
		return
	}
	id := rekorv1.EntryID(a.TreeID, e.LeafHash())
	location := strings.TrimSuffix(r.URL.Path, "/") + "/" + id
	if rc.Duplicate {
		w.Header().Set("Location", location)
		rekorError(w, http.StatusConflict, "an equivalent entry already exists in the transparency log with UUID "+id)
		return
	}
	_, le, err := s.log.Entry(r.Context(), a, rc.Index, e.Canonical, rc.Time.Unix(), rc.Checkpoint)
	if err != nil {
		writeV1Error(w, r, err)
		return
	}
	w.Header().Set("Location", location)
	w.Header().Set("ETag", id)
	writeJSON(w, http.StatusCreated, map[string]*shards.LogEntry{id: le})
}

func (s *rekorV1) entryByIndex(w http.ResponseWriter, r *http.Request) {
	v := r.URL.Query().Get("logIndex")
	index, err := strconv.ParseUint(v, 10, 63)
	if err != nil {
		rekorError(w, http.StatusBadRequest, fmt.Sprintf("logIndex in query must be a non-negative integer, got %q", v))
		return
	}
	id, le, err := s.log.EntryAt(r.Context(), index)
	if errors.Is(err, tlog.ErrNotFound) {
		w.WriteHeader(http.StatusNotFound) // Rekor answers 404 without a body
		return
	}
	if err != nil {
		writeV1Error(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]*shards.LogEntry{id: le})
}

func (s *rekorV1) entryByUUID(w http.ResponseWriter, r *http.Request) {
	sh, index, err := s.log.LookupUUID(r.Context(), r.PathValue("uuid"))
	var in *rekorv1.InputError
	if errors.As(err, &in) {
		rekorError(w, http.StatusBadRequest, in.Message)
		return
	}
	var id string
	var le *shards.LogEntry
	if err == nil {
		id, le, err = s.log.StoredEntry(r.Context(), sh, index)
	}
	if errors.Is(err, tlog.ErrNotFound) {
		w.WriteHeader(http.StatusNotFound)
		return
	}
	if err != nil {
		writeV1Error(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]*shards.LogEntry{id: le})
}

// searchLog is POST /api/v1/log/entries/retrieve.
func (s *rekorV1) searchLog(w http.ResponseWriter, r *http.Request) {
	body, err := readBody(w, r, s.maxBytes)
	if err != nil {
		writeV1Error(w, r, err)
		return
	}
	var q struct {
		EntryUUIDs []string          `json:"entryUUIDs"`
		LogIndexes []*int64          `json:"logIndexes"`
		Entries    []json.RawMessage `json:"entries"`
	}
	if err := json.Unmarshal(body, &q); err != nil {
		rekorError(w, http.StatusBadRequest, "invalid search query: "+err.Error())
		return
	}
	const maxQueries = 10
	if len(q.EntryUUIDs) > maxQueries || len(q.LogIndexes) > maxQueries || len(q.Entries) > maxQueries ||
		len(q.EntryUUIDs)+len(q.LogIndexes)+len(q.Entries) > maxQueries {
		rekorError(w, http.StatusUnprocessableEntity, fmt.Sprintf("more than max allowed %d entries in request", maxQueries))
		return
	}
	type found struct {
		sh  *shards.Shard
		idx uint64
	}
	var indices []found
	for _, u := range q.EntryUUIDs {
		sh, idx, err := s.log.LookupUUID(r.Context(), u)
		var in *rekorv1.InputError
		switch {
		case errors.As(err, &in):
			rekorError(w, http.StatusBadRequest, in.Message)
			return
		case errors.Is(err, tlog.ErrNotFound):
		case err != nil:
			writeV1Error(w, r, err)
			return
		default:
			indices = append(indices, found{sh, idx})
		}
	}
	for _, i := range q.LogIndexes {
		if i == nil || *i < 0 {
			rekorError(w, http.StatusUnprocessableEntity, "logIndexes in body should be greater than or equal to 0")
			return
		}
		sh, idx := s.log.Resolve(uint64(*i))
		indices = append(indices, found{sh, idx})
	}
	for _, raw := range q.Entries {
		opts := s.opts
		opts.MaxEntryBytes = nil // a search finds entries whatever the limits are now
		e, err := rekorv1.Canonicalize(raw, opts)
		if err != nil {
			writeV1Error(w, r, err)
			return
		}
		sh, idx, err := s.log.LookupLeaf(r.Context(), e.LeafHash())
		if errors.Is(err, tlog.ErrNotFound) {
			continue
		}
		if err != nil {
			writeV1Error(w, r, err)
			return
		}
		indices = append(indices, found{sh, idx})
	}
	out := []map[string]*shards.LogEntry{}
	for _, f := range indices {
		id, le, err := s.log.StoredEntry(r.Context(), f.sh, f.idx)
		if errors.Is(err, tlog.ErrNotFound) {
			continue // Rekor omits what it does not find
		}
		if err != nil {
			writeV1Error(w, r, err)
			return
		}
		out = append(out, map[string]*shards.LogEntry{id: le})
	}
	writeJSON(w, http.StatusOK, out)
}

// searchIndex is POST /api/v1/index/retrieve (see shards.Log.Search).
func (s *rekorV1) searchIndex(w http.ResponseWriter, r *http.Request) {
	body, err := readBody(w, r, s.maxBytes)
	if err != nil {
		writeV1Error(w, r, err)
		return
	}
	var q rekorv1.SearchQuery
	if err := json.Unmarshal(body, &q); err != nil {
		rekorError(w, http.StatusBadRequest, "invalid search query: "+err.Error())
		return
	}
	keysets, op, err := q.Keys()
	if err != nil {
		writeV1Error(w, r, err)
		return
	}
	ids, err := s.log.Search(r.Context(), keysets, op)
	if err != nil {
		writeV1Error(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, ids)
}

// shardFor returns the shard a treeID query parameter names (the active
// one without it), or answers 400 for a tree ID not served here.
func (s *rekorV1) shardFor(w http.ResponseWriter, r *http.Request) *shards.Shard {
	v := r.URL.Query().Get("treeID")
	if v == "" {
		return s.log.Active()
	}
	id, err := strconv.ParseInt(v, 10, 64)
	sh := s.log.ByTreeID(id)
	if err != nil || sh == nil {
		rekorError(w, http.StatusBadRequest, fmt.Sprintf("unknown treeID %q: no log range found for it", v))
		return nil
	}
	return sh
}

// v1InactiveShard is Rekor's InactiveShardLogInfo.
type v1InactiveShard struct {
	RootHash       string `json:"rootHash"`
	SignedTreeHead string `json:"signedTreeHead"`
	TreeID         string `json:"treeID"`
	TreeSize       uint64 `json:"treeSize"`
}

// logInfo is GET /api/v1/log: the active shard's tree head, and each
// inactive shard's final one (Rekor lists them oldest first).
func (s *rekorV1) logInfo(w http.ResponseWriter, r *http.Request) {
	var inactive []v1InactiveShard // null without inactive shards, as Rekor
	for _, sh := range s.log.Inactive() {
		cp, err := sh.Log.Checkpoint(r.Context())
		if err != nil {
			writeV1Error(w, r, err)
			return
		}
		inactive = append(inactive, v1InactiveShard{
			RootHash: hex.EncodeToString(cp.Root), SignedTreeHead: string(cp.Note),
			TreeID: strconv.FormatInt(sh.TreeID, 10), TreeSize: cp.Size,
		})
	}
	a := s.log.Active()
	cp, err := a.Log.Checkpoint(r.Context())
	if err != nil {
		writeV1Error(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"rootHash":       hex.EncodeToString(cp.Root),
		"treeSize":       cp.Size,
		"signedTreeHead": string(cp.Note),
		"treeID":         strconv.FormatInt(a.TreeID, 10),
		"inactiveShards": inactive,
	})
}

func (s *rekorV1) publicKey(w http.ResponseWriter, r *http.Request) {
	sh := s.shardFor(w, r)
	if sh == nil {
		return
	}
	w.Header().Set("Content-Type", "application/x-pem-file")
	w.Write(sh.PublicKeyPEM()) //nolint:errcheck
}

func (s *rekorV1) consistencyProof(w http.ResponseWriter, r *http.Request) {
	sh := s.shardFor(w, r)
	if sh == nil {
		return
	}
	// Rekor's API declares firstSize (default 1) and lastSize (required)
	// with minimum 1: a consistency proof from the empty tree is
	// meaningless, so 0 is refused rather than answered with no hashes.
	q := r.URL.Query()
	first, last := uint64(1), uint64(0)
	var err error
	if v := q.Get("firstSize"); v != "" {
		if first, err = strconv.ParseUint(v, 10, 63); err != nil || first < 1 {
			rekorError(w, http.StatusBadRequest, fmt.Sprintf("firstSize %q must be an integer greater than or equal to 1", v))
			return
		}
	}
	if last, err = strconv.ParseUint(q.Get("lastSize"), 10, 63); err != nil || last < 1 {
		rekorError(w, http.StatusBadRequest, "lastSize is required and must be an integer greater than or equal to 1")
		return
	}
	if first > last {
		rekorError(w, http.StatusBadRequest, fmt.Sprintf("firstSize(%d) must be less than lastSize(%d)", first, last))
		return
	}
	cp, err := sh.Log.Checkpoint(r.Context())
	if err != nil {
		writeV1Error(w, r, err)
		return
	}
	if last > cp.Size {
		rekorError(w, http.StatusBadRequest, fmt.Sprintf("the tree size requested(%d) was greater than what is currently observable(%d)", last, cp.Size))
		return
	}
	hashes, err := sh.Log.ConsistencyProof(r.Context(), first, last)
	if err != nil {
		writeV1Error(w, r, err)
		return
	}
	root := cp.Root
	if last != cp.Size {
		if root, err = sh.Log.RootAt(r.Context(), last); err != nil {
			writeV1Error(w, r, err)
			return
		}
	}
	hexHashes := make([]string, len(hashes))
	for i, h := range hashes {
		hexHashes[i] = hex.EncodeToString(h)
	}
	writeJSON(w, http.StatusOK, map[string]any{"rootHash": hex.EncodeToString(root), "hashes": hexHashes})
}

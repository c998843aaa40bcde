package api

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/hallmark-dev/hallmark/tlog"
	"github.com/hallmark-dev/hallmark/tlog/rekorv1"
)

// maxSearchResults bounds POST /api/v1/index/retrieve answers.
const maxSearchResults = 10000

// rekorV1 is the Rekor v1 personality of one log: Rekor's v1 REST API with
// byte-identical leaves, SETs and checkpoints.
type rekorV1 struct {
	log      *tlog.Log
	treeID   int64
	key      *ecdsa.PrivateKey
	keyPEM   []byte
	logID    string // hex SHA-256 of the DER public key
	opts     rekorv1.Options
	maxBytes int64
}

func newRekorV1(sl *servedLog, maxBytes int64) (*rekorV1, error) {
	key, ok := sl.key.(*ecdsa.PrivateKey)
	if !ok || key.Curve != elliptic.P256() {
		return nil, fmt.Errorf("log %s: Rekor v1 logs need an ECDSA P-256 key (clients verify SETs with ECDSA only)", sl.cfg.Name)
	}
	der, err := x509.MarshalPKIXPublicKey(key.Public())
	if err != nil {
		return nil, err
	}
	sum := sha256.Sum256(der)
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
	if err := opts.Validate(); err != nil {
		return nil, fmt.Errorf("log %s: rekor options: %w", sl.cfg.Name, err)
	}
	return &rekorV1{
		log: sl.log, treeID: sl.cfg.Rekor.TreeID, key: key, opts: opts, maxBytes: maxBytes,
		keyPEM: pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}),
		logID:  hex.EncodeToString(sum[:]),
	}, nil
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

// LogEntry JSON, as Rekor's models.LogEntryAnon.
type v1InclusionProof struct {
	Checkpoint string   `json:"checkpoint"`
	Hashes     []string `json:"hashes"`
	LogIndex   uint64   `json:"logIndex"`
	RootHash   string   `json:"rootHash"`
	TreeSize   uint64   `json:"treeSize"`
}

type v1Verification struct {
	InclusionProof       *v1InclusionProof `json:"inclusionProof,omitempty"`
	SignedEntryTimestamp []byte            `json:"signedEntryTimestamp,omitempty"`
}

type v1LogEntry struct {
	Body           []byte          `json:"body"`
	IntegratedTime int64           `json:"integratedTime"`
	LogID          string          `json:"logID"`
	LogIndex       uint64          `json:"logIndex"`
	Verification   *v1Verification `json:"verification,omitempty"`
}

// entry builds the LogEntry of index with a fresh SET and an inclusion
// proof against cp. A single shard: logIndex == inclusionProof.logIndex.
func (s *rekorV1) entry(ctx context.Context, index uint64, body []byte, integratedTime int64, cp *tlog.Checkpoint) (string, *v1LogEntry, error) {
	hashes, err := s.log.InclusionProof(ctx, index, cp.Size)
	if err != nil {
		return "", nil, err
	}
	payload, err := rekorv1.SETPayload(body, integratedTime, s.logID, int64(index))
	if err != nil {
		return "", nil, err
	}
	digest := sha256.Sum256(payload)
	set, err := ecdsa.SignASN1(rand.Reader, s.key, digest[:])
	if err != nil {
		return "", nil, fmt.Errorf("couldn't sign entry timestamp: %w", err)
	}
	hexHashes := make([]string, len(hashes))
	for i, h := range hashes {
		hexHashes[i] = hex.EncodeToString(h)
	}
	leaf := sha256.Sum256(append([]byte{0}, body...))
	id := rekorv1.EntryID(s.treeID, leaf)
	return id, &v1LogEntry{
		Body: body, IntegratedTime: integratedTime, LogID: s.logID, LogIndex: index,
		Verification: &v1Verification{
			InclusionProof: &v1InclusionProof{
				Checkpoint: string(cp.Note), Hashes: hexHashes, LogIndex: index,
				RootHash: hex.EncodeToString(cp.Root), TreeSize: cp.Size,
			},
			SignedEntryTimestamp: set,
		},
	}, nil
}

// storedEntry reads the entry at index and builds its LogEntry against
// the latest checkpoint.
func (s *rekorV1) storedEntry(ctx context.Context, index uint64) (string, *v1LogEntry, error) {
	cp, err := s.log.Checkpoint(ctx)
	if err != nil {
		return "", nil, err
	}
	if index >= cp.Size {
		return "", nil, fmt.Errorf("index %d: %w", index, tlog.ErrNotFound)
	}
	body, err := s.log.EntryAt(ctx, index, cp.Size)
	if err != nil {
		return "", nil, err
	}
	t, err := s.log.BatchTime(ctx, index)
	if err != nil {
		return "", nil, err
	}
	return s.entry(ctx, index, body, t.Unix(), cp)
}

func (s *rekorV1) createEntry(w http.ResponseWriter, r *http.Request) {
	body, err := readBody(w, r, s.maxBytes)
	if err != nil {
		writeV1Error(w, r, err)
		return
	}
	e, err := rekorv1.Canonicalize(body, s.opts)
	if err != nil {
		writeV1Error(w, r, err)
		return
	}
	rc, err := s.log.Append(r.Context(), tlog.Entry{Data: e.Canonical, LeafHash: e.LeafHash(), SearchKeys: e.IndexKeys})
	if err != nil {
		writeV1Error(w, r, err)
		return
	}
	id := rekorv1.EntryID(s.treeID, e.LeafHash())
	location := strings.TrimSuffix(r.URL.Path, "/") + "/" + id
	if rc.Duplicate {
		w.Header().Set("Location", location)
		rekorError(w, http.StatusConflict, "an equivalent entry already exists in the transparency log with UUID "+id)
		return
	}
	_, le, err := s.entry(r.Context(), rc.Index, e.Canonical, rc.Time.Unix(), rc.Checkpoint)
	if err != nil {
		writeV1Error(w, r, err)
		return
	}
	w.Header().Set("Location", location)
	w.Header().Set("ETag", id)
	writeJSON(w, http.StatusCreated, map[string]*v1LogEntry{id: le})
}

func (s *rekorV1) entryByIndex(w http.ResponseWriter, r *http.Request) {
	v := r.URL.Query().Get("logIndex")
	index, err := strconv.ParseUint(v, 10, 63)
	if err != nil {
		rekorError(w, http.StatusBadRequest, fmt.Sprintf("logIndex in query must be a non-negative integer, got %q", v))
		return
	}
	id, le, err := s.storedEntry(r.Context(), index)
	if errors.Is(err, tlog.ErrNotFound) {
		w.WriteHeader(http.StatusNotFound) // Rekor answers 404 without a body
		return
	}
	if err != nil {
		writeV1Error(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]*v1LogEntry{id: le})
}

// lookupUUID finds the index of a 64- or 80-hex entry UUID.
func (s *rekorV1) lookupUUID(ctx context.Context, uuid string) (uint64, error) {
	tree, leaf, hasTree, err := rekorv1.ParseEntryID(uuid)
	if err != nil {
		return 0, err
	}
	if hasTree && tree != s.treeID {
		return 0, fmt.Errorf("tree %d is not served here: %w", tree, tlog.ErrNotFound)
	}
	return s.log.Lookup(ctx, leaf)
}

func (s *rekorV1) entryByUUID(w http.ResponseWriter, r *http.Request) {
	index, err := s.lookupUUID(r.Context(), r.PathValue("uuid"))
	var in *rekorv1.InputError
	if errors.As(err, &in) {
		rekorError(w, http.StatusBadRequest, in.Message)
		return
	}
	var id string
	var le *v1LogEntry
	if err == nil {
		id, le, err = s.storedEntry(r.Context(), index)
	}
	if errors.Is(err, tlog.ErrNotFound) {
		w.WriteHeader(http.StatusNotFound)
		return
	}
	if err != nil {
		writeV1Error(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]*v1LogEntry{id: le})
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
	var indices []uint64
	for _, u := range q.EntryUUIDs {
		idx, err := s.lookupUUID(r.Context(), u)
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
			indices = append(indices, idx)
		}
	}
	for _, i := range q.LogIndexes {
		if i == nil || *i < 0 {
			rekorError(w, http.StatusUnprocessableEntity, "logIndexes in body should be greater than or equal to 0")
			return
		}
		indices = append(indices, uint64(*i))
	}
	for _, raw := range q.Entries {
		e, err := rekorv1.Canonicalize(raw, s.opts)
		if err != nil {
			writeV1Error(w, r, err)
			return
		}
		idx, err := s.log.Lookup(r.Context(), e.LeafHash())
		if errors.Is(err, tlog.ErrNotFound) {
			continue
		}
		if err != nil {
			writeV1Error(w, r, err)
			return
		}
		indices = append(indices, idx)
	}
	out := []map[string]*v1LogEntry{}
	for _, idx := range indices {
		id, le, err := s.storedEntry(r.Context(), idx)
		if errors.Is(err, tlog.ErrNotFound) {
			continue // Rekor omits what it does not find
		}
		if err != nil {
			writeV1Error(w, r, err)
			return
		}
		out = append(out, map[string]*v1LogEntry{id: le})
	}
	writeJSON(w, http.StatusOK, out)
}

// searchIndex is POST /api/v1/index/retrieve. The index is written in the
// same transaction as the entries, so answers are complete.
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
	var result []uint64
	for i, ks := range keysets {
		got, err := s.log.Search(r.Context(), ks, maxSearchResults)
		if err != nil {
			writeV1Error(w, r, err)
			return
		}
		switch {
		case i == 0:
			result = got
		case op == rekorv1.OperatorAnd:
			result = slices.DeleteFunc(result, func(x uint64) bool { _, ok := slices.BinarySearch(got, x); return !ok })
		default:
			result = append(result, got...)
			slices.Sort(result)
			result = slices.Compact(result)
		}
	}
	cp, err := s.log.Checkpoint(r.Context())
	if err != nil {
		writeV1Error(w, r, err)
		return
	}
	ids := []string{}
	for _, idx := range result[:min(len(result), maxSearchResults)] {
		leaf, err := s.log.LeafHash(r.Context(), idx, max(cp.Size, idx+1))
		if err != nil {
			writeV1Error(w, r, err)
			return
		}
		ids = append(ids, rekorv1.EntryID(s.treeID, [32]byte(leaf)))
	}
	writeJSON(w, http.StatusOK, ids)
}

// checkTreeID answers 400 for a treeID other than this log's.
func (s *rekorV1) checkTreeID(w http.ResponseWriter, r *http.Request) bool {
	if v := r.URL.Query().Get("treeID"); v != "" && v != strconv.FormatInt(s.treeID, 10) {
		rekorError(w, http.StatusBadRequest, fmt.Sprintf("unknown treeID %q: this log's tree ID is %d", v, s.treeID))
		return false
	}
	return true
}

func (s *rekorV1) logInfo(w http.ResponseWriter, r *http.Request) {
	if !s.checkTreeID(w, r) {
		return
	}
	cp, err := s.log.Checkpoint(r.Context())
	if err != nil {
		writeV1Error(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"rootHash":       hex.EncodeToString(cp.Root),
		"treeSize":       cp.Size,
		"signedTreeHead": string(cp.Note),
		"treeID":         strconv.FormatInt(s.treeID, 10),
		"inactiveShards": nil,
	})
}

func (s *rekorV1) publicKey(w http.ResponseWriter, r *http.Request) {
	if !s.checkTreeID(w, r) {
		return
	}
	w.Header().Set("Content-Type", "application/x-pem-file")
	w.Write(s.keyPEM) //nolint:errcheck
}

func (s *rekorV1) consistencyProof(w http.ResponseWriter, r *http.Request) {
	if !s.checkTreeID(w, r) {
		return
	}
	q := r.URL.Query()
	first, last := uint64(1), uint64(0)
	var err error
	if v := q.Get("firstSize"); v != "" {
		if first, err = strconv.ParseUint(v, 10, 63); err != nil {
			rekorError(w, http.StatusBadRequest, "firstSize must be a non-negative integer")
			return
		}
	}
	if last, err = strconv.ParseUint(q.Get("lastSize"), 10, 63); err != nil || last < 1 {
		rekorError(w, http.StatusBadRequest, "lastSize is required and must be a positive integer")
		return
	}
	if first > last {
		rekorError(w, http.StatusBadRequest, fmt.Sprintf("firstSize(%d) must be less than lastSize(%d)", first, last))
		return
	}
	cp, err := s.log.Checkpoint(r.Context())
	if err != nil {
		writeV1Error(w, r, err)
		return
	}
	if last > cp.Size {
		rekorError(w, http.StatusBadRequest, fmt.Sprintf("the tree size requested(%d) was greater than what is currently observable(%d)", last, cp.Size))
		return
	}
	hashes, err := s.log.ConsistencyProof(r.Context(), first, last)
	if err != nil {
		writeV1Error(w, r, err)
		return
	}
	root := cp.Root
	if last != cp.Size {
		if root, err = s.log.RootAt(r.Context(), last); err != nil {
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

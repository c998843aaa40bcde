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
//
// Like Rekor, one URL may serve several shards (trees): the active one
// takes the writes, and the frozen ones listed in its rekor.inactive_shards
// stay readable. Entries carry Rekor's virtual log index: the sizes of the
// shards before theirs plus their index in their own tree. Inclusion proofs
// carry the index in the tree, and each shard's entries are signed (SETs)
// and checkpointed with that shard's key.
type rekorV1 struct {
	shards   []*v1Shard // the inactive shards, oldest first, then the active one
	opts     rekorv1.Options
	maxBytes int64
}

// v1Shard is one tree of a Rekor v1 log.
type v1Shard struct {
	name   string
	log    *tlog.Log
	treeID int64
	key    *ecdsa.PrivateKey
	keyPEM []byte
	logID  string // hex SHA-256 of the DER public key
	// start is the virtual index of the shard's first entry: the sum of
	// the sizes of the shards before it.
	start uint64
	// size is the frozen size of an inactive shard, read when the service
	// starts (as Rekor reads its inactive trees' lengths); unused for the
	// active shard.
	size uint64
}

func newV1Shard(sl *servedLog) (*v1Shard, error) {
	key, ok := sl.key.(*ecdsa.PrivateKey)
	if !ok || key.Curve != elliptic.P256() {
		return nil, fmt.Errorf("log %s: Rekor v1 logs need an ECDSA P-256 key (clients verify SETs with ECDSA only)", sl.cfg.Name)
	}
	der, err := x509.MarshalPKIXPublicKey(key.Public())
	if err != nil {
		return nil, err
	}
	sum := sha256.Sum256(der)
	return &v1Shard{
		name: sl.cfg.Name, log: sl.log, treeID: sl.cfg.Rekor.TreeID, key: key,
		keyPEM: pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}),
		logID:  hex.EncodeToString(sum[:]),
	}, nil
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
	if err := opts.Validate(); err != nil {
		return nil, fmt.Errorf("log %s: rekor options: %w", sl.cfg.Name, err)
	}
	s := &rekorV1{opts: opts, maxBytes: maxBytes}
	var start uint64
	for _, in := range inactive {
		sh, err := newV1Shard(in)
		if err != nil {
			return nil, err
		}
		cp, err := in.log.Checkpoint(ctx)
		if err != nil {
			return nil, fmt.Errorf("log %s: inactive shard %s: %w", sl.cfg.Name, in.cfg.Name, err)
		}
		sh.start, sh.size = start, cp.Size
		start += cp.Size
		s.shards = append(s.shards, sh)
	}
	active, err := newV1Shard(sl)
	if err != nil {
		return nil, err
	}
	active.start = start
	s.shards = append(s.shards, active)
	return s, nil
}

// active returns the shard that takes writes.
func (s *rekorV1) active() *v1Shard { return s.shards[len(s.shards)-1] }

// shardByTreeID returns the shard with a tree ID, or nil.
func (s *rekorV1) shardByTreeID(id int64) *v1Shard {
	for _, sh := range s.shards {
		if sh.treeID == id {
			return sh
		}
	}
	return nil
}

// resolve maps a virtual log index to its shard and the index in that
// shard's tree, as Rekor's ResolveVirtualIndex does: indices past the
// inactive shards belong to the active one.
func (s *rekorV1) resolve(virtual uint64) (*v1Shard, uint64) {
	for _, sh := range s.shards[:len(s.shards)-1] {
		if virtual < sh.start+sh.size {
			return sh, virtual - sh.start
		}
	}
	a := s.active()
	return a, virtual - a.start
}

// checkFrozen makes sure no inactive shard grew since the service read its
// size: entries appended to it afterwards would share virtual indices with
// the active shard's. The database freeze (Store.Freeze, done when the
// service starts) rules this out; the check stays as defence in depth, for
// a store frozen by hand or a read-only replica that cannot freeze.
func (s *rekorV1) checkFrozen(ctx context.Context) error {
	for _, sh := range s.shards[:len(s.shards)-1] {
		cp, err := sh.log.Checkpoint(ctx)
		if err != nil {
			return err
		}
		if cp.Size != sh.size {
			return fmt.Errorf("inactive shard %s grew from %d to %d entries after this replica froze it: it is not frozen in the database (a replica still writes to it with the old configuration); run a read-write replica with the rotated configuration, which freezes it", sh.name, sh.size, cp.Size)
		}
	}
	return nil
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

// entry builds the LogEntry of the entry at index in sh's tree, with a
// fresh SET and an inclusion proof against cp. The SET signs the virtual
// log index, as Rekor does; the inclusion proof carries the tree's index.
func (s *rekorV1) entry(ctx context.Context, sh *v1Shard, index uint64, body []byte, integratedTime int64, cp *tlog.Checkpoint) (string, *v1LogEntry, error) {
	hashes, err := sh.log.InclusionProof(ctx, index, cp.Size)
	if err != nil {
		return "", nil, err
	}
	virtual := sh.start + index
	payload, err := rekorv1.SETPayload(body, integratedTime, sh.logID, int64(virtual))
	if err != nil {
		return "", nil, err
	}
	digest := sha256.Sum256(payload)
	set, err := ecdsa.SignASN1(rand.Reader, sh.key, digest[:])
	if err != nil {
		return "", nil, fmt.Errorf("couldn't sign entry timestamp: %w", err)
	}
	hexHashes := make([]string, len(hashes))
	for i, h := range hashes {
		hexHashes[i] = hex.EncodeToString(h)
	}
	leaf := sha256.Sum256(append([]byte{0}, body...))
	id := rekorv1.EntryID(sh.treeID, leaf)
	return id, &v1LogEntry{
		Body: body, IntegratedTime: integratedTime, LogID: sh.logID, LogIndex: virtual,
		Verification: &v1Verification{
			InclusionProof: &v1InclusionProof{
				Checkpoint: string(cp.Note), Hashes: hexHashes, LogIndex: index,
				RootHash: hex.EncodeToString(cp.Root), TreeSize: cp.Size,
			},
			SignedEntryTimestamp: set,
		},
	}, nil
}

// storedEntry reads the entry at index of sh's tree and builds its
// LogEntry against the shard's latest checkpoint.
func (s *rekorV1) storedEntry(ctx context.Context, sh *v1Shard, index uint64) (string, *v1LogEntry, error) {
	cp, err := sh.log.Checkpoint(ctx)
	if err != nil {
		return "", nil, err
	}
	if index >= cp.Size {
		return "", nil, fmt.Errorf("index %d: %w", index, tlog.ErrNotFound)
	}
	body, err := sh.log.EntryAt(ctx, index, cp.Size)
	if err != nil {
		return "", nil, err
	}
	t, err := sh.log.BatchTime(ctx, index)
	if err != nil {
		return "", nil, err
	}
	return s.entry(ctx, sh, index, body, t.Unix(), cp)
}

// entryAt builds the LogEntry of a virtual log index.
func (s *rekorV1) entryAt(ctx context.Context, virtual uint64) (string, *v1LogEntry, error) {
	sh, index := s.resolve(virtual)
	return s.storedEntry(ctx, sh, index)
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
	if err := s.checkFrozen(r.Context()); err != nil {
		writeV1Error(w, r, err)
		return
	}
	a := s.active()
	rc, err := a.log.Append(r.Context(), tlog.Entry{Data: e.Canonical, LeafHash: e.LeafHash(), SearchKeys: e.IndexKeys})
	if err != nil {
		writeV1Error(w, r, err)
		return
	}
	id := rekorv1.EntryID(a.treeID, e.LeafHash())
	location := strings.TrimSuffix(r.URL.Path, "/") + "/" + id
	if rc.Duplicate {
		w.Header().Set("Location", location)
		rekorError(w, http.StatusConflict, "an equivalent entry already exists in the transparency log with UUID "+id)
		return
	}
	_, le, err := s.entry(r.Context(), a, rc.Index, e.Canonical, rc.Time.Unix(), rc.Checkpoint)
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
	id, le, err := s.entryAt(r.Context(), index)
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

// lookupUUID finds the shard and tree index of a 64- or 80-hex entry
// UUID: an 80-hex one names its tree, a 64-hex one is looked for in every
// shard, the active one first (Rekor's order).
func (s *rekorV1) lookupUUID(ctx context.Context, uuid string) (*v1Shard, uint64, error) {
	tree, leaf, hasTree, err := rekorv1.ParseEntryID(uuid)
	if err != nil {
		return nil, 0, err
	}
	if hasTree {
		sh := s.shardByTreeID(tree)
		if sh == nil {
			return nil, 0, fmt.Errorf("tree %d is not served here: %w", tree, tlog.ErrNotFound)
		}
		idx, err := sh.log.Lookup(ctx, leaf)
		return sh, idx, err
	}
	return s.lookupLeaf(ctx, leaf)
}

// lookupLeaf finds a leaf hash in the shards, the active one first.
func (s *rekorV1) lookupLeaf(ctx context.Context, leaf [32]byte) (*v1Shard, uint64, error) {
	for i := len(s.shards) - 1; i >= 0; i-- {
		idx, err := s.shards[i].log.Lookup(ctx, leaf)
		if errors.Is(err, tlog.ErrNotFound) {
			continue
		}
		return s.shards[i], idx, err
	}
	return nil, 0, fmt.Errorf("entry %x: %w", leaf, tlog.ErrNotFound)
}

func (s *rekorV1) entryByUUID(w http.ResponseWriter, r *http.Request) {
	sh, index, err := s.lookupUUID(r.Context(), r.PathValue("uuid"))
	var in *rekorv1.InputError
	if errors.As(err, &in) {
		rekorError(w, http.StatusBadRequest, in.Message)
		return
	}
	var id string
	var le *v1LogEntry
	if err == nil {
		id, le, err = s.storedEntry(r.Context(), sh, index)
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
	type found struct {
		sh  *v1Shard
		idx uint64
	}
	var indices []found
	for _, u := range q.EntryUUIDs {
		sh, idx, err := s.lookupUUID(r.Context(), u)
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
		sh, idx := s.resolve(uint64(*i))
		indices = append(indices, found{sh, idx})
	}
	for _, raw := range q.Entries {
		e, err := rekorv1.Canonicalize(raw, s.opts)
		if err != nil {
			writeV1Error(w, r, err)
			return
		}
		sh, idx, err := s.lookupLeaf(r.Context(), e.LeafHash())
		if errors.Is(err, tlog.ErrNotFound) {
			continue
		}
		if err != nil {
			writeV1Error(w, r, err)
			return
		}
		indices = append(indices, found{sh, idx})
	}
	out := []map[string]*v1LogEntry{}
	for _, f := range indices {
		id, le, err := s.storedEntry(r.Context(), f.sh, f.idx)
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
	// Each shard has its own search index; the answer is their union,
	// active shard first.
	ids := []string{}
	for i := len(s.shards) - 1; i >= 0 && len(ids) < maxSearchResults; i-- {
		got, err := s.searchShard(r.Context(), s.shards[i], keysets, op, maxSearchResults-len(ids))
		if err != nil {
			writeV1Error(w, r, err)
			return
		}
		ids = append(ids, got...)
	}
	writeJSON(w, http.StatusOK, ids)
}

// searchShard answers one shard's part of an index search: the entry IDs
// of the entries matching keysets, combined with op.
func (s *rekorV1) searchShard(ctx context.Context, sh *v1Shard, keysets [][]string, op string, limit int) ([]string, error) {
	lists := make([][]uint64, len(keysets))
	for i, ks := range keysets {
		got, err := sh.log.Search(ctx, ks, maxSearchResults)
		if err != nil {
			return nil, err
		}
		lists[i] = got
	}
	var result []uint64
	if op == rekorv1.OperatorAnd {
		var err error
		if result, err = searchAnd(ctx, sh.log, keysets, lists); err != nil {
			return nil, err
		}
	} else {
		for _, got := range lists {
			result = append(result, got...)
		}
		slices.Sort(result)
		result = slices.Compact(result)
	}
	cp, err := sh.log.Checkpoint(ctx)
	if err != nil {
		return nil, err
	}
	ids := []string{}
	for _, idx := range result[:min(len(result), limit)] {
		leaf, err := sh.log.LeafHash(ctx, idx, max(cp.Size, idx+1))
		if err != nil {
			return nil, err
		}
		ids = append(ids, rekorv1.EntryID(sh.treeID, [32]byte(leaf)))
	}
	return ids, nil
}

// searchAnd intersects the answers of keysets' searches (lists, each
// ascending and cut at maxSearchResults). A list cut short lists only the
// first entries of a common key, so the intersection starts from the
// shortest complete list, and keysets with cut lists are checked against
// its entries in the store. Only when every list was cut (every key is
// carried by more than maxSearchResults entries) is the answer the
// intersection of their first maxSearchResults entries.
func searchAnd(ctx context.Context, log *tlog.Log, keysets [][]string, lists [][]uint64) ([]uint64, error) {
	base := -1
	for i, l := range lists {
		if len(l) < maxSearchResults && (base < 0 || len(l) < len(lists[base])) {
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
		case len(l) < maxSearchResults || len(lists[base]) == maxSearchResults:
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

// shardFor returns the shard a treeID query parameter names (the active
// one without it), or answers 400 for a tree ID not served here.
func (s *rekorV1) shardFor(w http.ResponseWriter, r *http.Request) *v1Shard {
	v := r.URL.Query().Get("treeID")
	if v == "" {
		return s.active()
	}
	id, err := strconv.ParseInt(v, 10, 64)
	sh := s.shardByTreeID(id)
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
	for _, sh := range s.shards[:len(s.shards)-1] {
		cp, err := sh.log.Checkpoint(r.Context())
		if err != nil {
			writeV1Error(w, r, err)
			return
		}
		inactive = append(inactive, v1InactiveShard{
			RootHash: hex.EncodeToString(cp.Root), SignedTreeHead: string(cp.Note),
			TreeID: strconv.FormatInt(sh.treeID, 10), TreeSize: cp.Size,
		})
	}
	a := s.active()
	cp, err := a.log.Checkpoint(r.Context())
	if err != nil {
		writeV1Error(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"rootHash":       hex.EncodeToString(cp.Root),
		"treeSize":       cp.Size,
		"signedTreeHead": string(cp.Note),
		"treeID":         strconv.FormatInt(a.treeID, 10),
		"inactiveShards": inactive,
	})
}

func (s *rekorV1) publicKey(w http.ResponseWriter, r *http.Request) {
	sh := s.shardFor(w, r)
	if sh == nil {
		return
	}
	w.Header().Set("Content-Type", "application/x-pem-file")
	w.Write(sh.keyPEM) //nolint:errcheck
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
	cp, err := sh.log.Checkpoint(r.Context())
	if err != nil {
		writeV1Error(w, r, err)
		return
	}
	if last > cp.Size {
		rekorError(w, http.StatusBadRequest, fmt.Sprintf("the tree size requested(%d) was greater than what is currently observable(%d)", last, cp.Size))
		return
	}
	hashes, err := sh.log.ConsistencyProof(r.Context(), first, last)
	if err != nil {
		writeV1Error(w, r, err)
		return
	}
	root := cp.Root
	if last != cp.Size {
		if root, err = sh.log.RootAt(r.Context(), last); err != nil {
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

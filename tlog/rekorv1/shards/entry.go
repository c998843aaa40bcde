package shards

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"

	"github.com/hallmark-dev/hallmark/tlog"
	"github.com/hallmark-dev/hallmark/tlog/rekorv1"
)

// LogEntry is Rekor's models.LogEntryAnon, as its JSON.
type LogEntry struct {
	Body           []byte        `json:"body"`
	IntegratedTime int64         `json:"integratedTime"`
	LogID          string        `json:"logID"`
	LogIndex       uint64        `json:"logIndex"`
	Verification   *Verification `json:"verification,omitempty"`
}

// Verification is a LogEntry's inclusion proof and signed entry timestamp.
type Verification struct {
	InclusionProof       *InclusionProof `json:"inclusionProof,omitempty"`
	SignedEntryTimestamp []byte          `json:"signedEntryTimestamp,omitempty"`
}

// InclusionProof is a LogEntry's proof, against a checkpoint of its tree.
type InclusionProof struct {
	Checkpoint string   `json:"checkpoint"`
	Hashes     []string `json:"hashes"`
	LogIndex   uint64   `json:"logIndex"`
	RootHash   string   `json:"rootHash"`
	TreeSize   uint64   `json:"treeSize"`
}

// Entry builds the LogEntry of the entry at index in sh's tree, with a
// fresh SET and a verified inclusion proof against cp, and returns it with
// the entry's UUID. The SET signs the virtual log index, as Rekor does;
// the inclusion proof carries the tree's index.
func (s *Log) Entry(ctx context.Context, sh *Shard, index uint64, body []byte, integratedTime int64, cp *tlog.Checkpoint) (string, *LogEntry, error) {
	hashes, err := sh.Log.InclusionProof(ctx, index, cp.Size)
	if err != nil {
		return "", nil, err
	}
	virtual := sh.start + index
	payload, err := rekorv1.SETPayload(body, integratedTime, sh.logID, int64(virtual))
	if err != nil {
		return "", nil, err
	}
	digest := sha256.Sum256(payload)
	set, err := sh.key.Sign(rand.Reader, digest[:], crypto.SHA256) // ASN.1 ECDSA, as Rekor
	if err != nil {
		return "", nil, fmt.Errorf("couldn't sign entry timestamp: %w", err)
	}
	hexHashes := make([]string, len(hashes))
	for i, h := range hashes {
		hexHashes[i] = hex.EncodeToString(h)
	}
	id := rekorv1.EntryID(sh.TreeID, (&rekorv1.Entry{Canonical: body}).LeafHash())
	return id, &LogEntry{
		Body: body, IntegratedTime: integratedTime, LogID: sh.logID, LogIndex: virtual,
		Verification: &Verification{
			InclusionProof: &InclusionProof{
				Checkpoint: string(cp.Note), Hashes: hexHashes, LogIndex: index,
				RootHash: hex.EncodeToString(cp.Root), TreeSize: cp.Size,
			},
			SignedEntryTimestamp: set,
		},
	}, nil
}

// StoredEntry reads the entry at index of sh's tree and builds its
// LogEntry against the shard's latest checkpoint. An index past the tree
// is tlog.ErrNotFound.
func (s *Log) StoredEntry(ctx context.Context, sh *Shard, index uint64) (string, *LogEntry, error) {
	cp, err := sh.Log.Checkpoint(ctx)
	if err != nil {
		return "", nil, err
	}
	if index >= cp.Size {
		return "", nil, fmt.Errorf("index %d: %w", index, tlog.ErrNotFound)
	}
	body, err := sh.Log.EntryAt(ctx, index, cp.Size)
	if err != nil {
		return "", nil, err
	}
	t, err := sh.Log.BatchTime(ctx, index)
	if err != nil {
		return "", nil, err
	}
	return s.Entry(ctx, sh, index, body, t.Unix(), cp)
}

// EntryAt builds the LogEntry of a virtual log index.
func (s *Log) EntryAt(ctx context.Context, virtual uint64) (string, *LogEntry, error) {
	sh, index := s.Resolve(virtual)
	return s.StoredEntry(ctx, sh, index)
}

// Package shards is the Rekor v1 personality's log: the trees (shards) one
// Rekor v1 URL serves, Rekor's virtual log index across them, entry lookups
// by UUID and leaf, the search index, and the LogEntry answers with their
// signed entry timestamps. It uses the engine through [tlog.Log]; the
// parsing and canonicalisation of entries is package rekorv1's, the HTTP
// surface package api's.
//
// Like Rekor, one URL may serve several shards: the active one takes the
// writes, and the frozen ones before it (rekor.inactive_shards) stay
// readable. Entries carry Rekor's virtual log index: the sizes of the
// shards before theirs plus their index in their own tree. Inclusion
// proofs carry the index in the tree, and each shard's entries are signed
// (SETs) and checkpointed with that shard's key.
package shards

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"

	"github.com/hallmark-dev/hallmark/tlog"
	"github.com/hallmark-dev/hallmark/tlog/rekorv1"
)

// A Shard is one tree of a Rekor v1 log.
type Shard struct {
	Name   string // the log's name in the configuration and the store
	Log    *tlog.Log
	TreeID int64
	key    crypto.Signer // ECDSA P-256, in memory, an HSM or a KMS
	keyPEM []byte
	logID  string // hex SHA-256 of the DER public key
	// start is the virtual index of the shard's first entry: the sum of
	// the sizes of the shards before it.
	start uint64
	// size is the frozen size of an inactive shard, read when the Log is
	// built (as Rekor reads its inactive trees' lengths); unused for the
	// active shard.
	size uint64
}

// NewShard makes a shard of the tree l, signed with key (ECDSA P-256:
// clients verify SETs with ECDSA only).
func NewShard(name string, l *tlog.Log, treeID int64, key crypto.Signer) (*Shard, error) {
	pub, ok := key.Public().(*ecdsa.PublicKey)
	if !ok || pub.Curve != elliptic.P256() {
		return nil, fmt.Errorf("log %s: Rekor v1 logs need an ECDSA P-256 key (clients verify SETs with ECDSA only)", name)
	}
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return nil, err
	}
	sum := sha256.Sum256(der)
	return &Shard{
		Name: name, Log: l, TreeID: treeID, key: key,
		keyPEM: pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}),
		logID:  hex.EncodeToString(sum[:]),
	}, nil
}

// PublicKeyPEM is the shard's public key, PEM-encoded (GET
// /api/v1/log/publicKey).
func (sh *Shard) PublicKeyPEM() []byte { return sh.keyPEM }

// LogID is the hex SHA-256 of the shard's DER public key.
func (sh *Shard) LogID() string { return sh.logID }

// A Log is the shards of one Rekor v1 URL: the inactive ones, oldest
// first, then the active one.
type Log struct {
	shards []*Shard
}

// New builds the Log of the active shard and the inactive ones (oldest
// first), whose sizes it reads now: they are frozen, so they are final.
func New(ctx context.Context, active *Shard, inactive []*Shard) (*Log, error) {
	s := &Log{}
	var start uint64
	for _, sh := range inactive {
		cp, err := sh.Log.Checkpoint(ctx)
		if err != nil {
			return nil, fmt.Errorf("log %s: inactive shard %s: %w", active.Name, sh.Name, err)
		}
		sh.start, sh.size = start, cp.Size
		start += cp.Size
		s.shards = append(s.shards, sh)
	}
	active.start = start
	s.shards = append(s.shards, active)
	return s, nil
}

// Active returns the shard that takes writes.
func (s *Log) Active() *Shard { return s.shards[len(s.shards)-1] }

// Inactive returns the frozen shards, oldest first.
func (s *Log) Inactive() []*Shard { return s.shards[:len(s.shards)-1] }

// ByTreeID returns the shard with a tree ID, or nil.
func (s *Log) ByTreeID(id int64) *Shard {
	for _, sh := range s.shards {
		if sh.TreeID == id {
			return sh
		}
	}
	return nil
}

// Resolve maps a virtual log index to its shard and the index in that
// shard's tree, as Rekor's ResolveVirtualIndex does: indices past the
// inactive shards belong to the active one.
func (s *Log) Resolve(virtual uint64) (*Shard, uint64) {
	for _, sh := range s.Inactive() {
		if virtual < sh.start+sh.size {
			return sh, virtual - sh.start
		}
	}
	a := s.Active()
	return a, virtual - a.start
}

// CheckFrozen makes sure no inactive shard grew since New read its size:
// entries appended to it afterwards would share virtual indices with the
// active shard's. The database freeze (tlog.Store.Freeze, done when the
// service starts) rules this out; the check stays as defence in depth,
// for a store frozen by hand or a read-only replica that cannot freeze.
func (s *Log) CheckFrozen(ctx context.Context) error {
	for _, sh := range s.Inactive() {
		cp, err := sh.Log.Checkpoint(ctx)
		if err != nil {
			return err
		}
		if cp.Size != sh.size {
			return fmt.Errorf("inactive shard %s grew from %d to %d entries after this replica froze it: it is not frozen in the database (a replica still writes to it with the old configuration); run a read-write replica with the rotated configuration, which freezes it", sh.Name, sh.size, cp.Size)
		}
	}
	return nil
}

// LookupUUID finds the shard and tree index of a 64- or 80-hex entry
// UUID: an 80-hex one names its tree, a 64-hex one is looked for in every
// shard, the active one first (Rekor's order). A malformed UUID is a
// *rekorv1.InputError; one not found, tlog.ErrNotFound.
func (s *Log) LookupUUID(ctx context.Context, uuid string) (*Shard, uint64, error) {
	tree, leaf, hasTree, err := rekorv1.ParseEntryID(uuid)
	if err != nil {
		return nil, 0, err
	}
	if hasTree {
		sh := s.ByTreeID(tree)
		if sh == nil {
			return nil, 0, fmt.Errorf("tree %d is not served here: %w", tree, tlog.ErrNotFound)
		}
		idx, err := sh.Log.Lookup(ctx, leaf)
		return sh, idx, err
	}
	return s.LookupLeaf(ctx, leaf)
}

// LookupLeaf finds a leaf hash in the shards, the active one first.
func (s *Log) LookupLeaf(ctx context.Context, leaf [32]byte) (*Shard, uint64, error) {
	for i := len(s.shards) - 1; i >= 0; i-- {
		idx, err := s.shards[i].Log.Lookup(ctx, leaf)
		if errors.Is(err, tlog.ErrNotFound) {
			continue
		}
		return s.shards[i], idx, err
	}
	return nil, 0, fmt.Errorf("entry %x: %w", leaf, tlog.ErrNotFound)
}

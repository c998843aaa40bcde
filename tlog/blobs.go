package tlog

import (
	"context"
	"crypto/sha256"
	"fmt"
)

// A BlobStore holds content-addressed blobs, shared by all logs of the
// store: a CT log's issuer certificates. Both Store implementations are
// BlobStores (migration 00003).
//
// PutBlob is idempotent and the blob is durable when it returns. A blob is
// never changed or deleted, so callers store it before committing an entry
// that refers to it; an entry whose batch then fails leaves an unreferenced
// blob, which is harmless. Blob returns the data whose SHA-256 is hash, or
// ErrNotFound. Both are safe for concurrent use.
type BlobStore interface {
	PutBlob(ctx context.Context, data []byte) (hash [32]byte, err error)
	Blob(ctx context.Context, hash [32]byte) ([]byte, error)
}

var (
	_ BlobStore = (*PGStore)(nil)
	_ BlobStore = (*SQLiteStore)(nil)
)

func (s *PGStore) PutBlob(ctx context.Context, data []byte) ([32]byte, error) {
	h := sha256.Sum256(data)
	if _, err := s.pool.Exec(ctx, `INSERT INTO blobs (hash, data) VALUES ($1, $2) ON CONFLICT (hash) DO NOTHING`, h[:], data); err != nil {
		return h, fmt.Errorf("couldn't store blob %x: %w", h, err)
	}
	return h, nil
}

func (s *PGStore) Blob(ctx context.Context, hash [32]byte) ([]byte, error) {
	b, err := readBytes(s.pool.QueryRow(ctx, `SELECT data FROM blobs WHERE hash = $1`, hash[:]))
	if err != nil {
		return nil, fmt.Errorf("couldn't read blob %x: %w", hash, err)
	}
	return b, nil
}

func (s *SQLiteStore) PutBlob(ctx context.Context, data []byte) ([32]byte, error) {
	h := sha256.Sum256(data)
	if _, err := s.db.ExecContext(ctx, `INSERT INTO blobs (hash, data) VALUES (?, ?) ON CONFLICT (hash) DO NOTHING`, h[:], data); err != nil {
		return h, fmt.Errorf("couldn't store blob %x: %w", h, err)
	}
	return h, nil
}

func (s *SQLiteStore) Blob(ctx context.Context, hash [32]byte) ([]byte, error) {
	b, err := sqliteBytes(s.db.QueryRowContext(ctx, `SELECT data FROM blobs WHERE hash = ?`, hash[:]))
	if err != nil {
		return nil, fmt.Errorf("couldn't read blob %x: %w", hash, err)
	}
	return b, nil
}

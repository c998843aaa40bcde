package tlog

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"testing"
)

func TestBlobs(t *testing.T) {
	stores(t, func(t *testing.T, open func(t *testing.T) testStore) {
		ctx := context.Background()
		s := open(t).(BlobStore)
		data := []byte("issuer certificate " + t.Name())
		h, err := s.PutBlob(ctx, data)
		if err != nil {
			t.Fatal(err)
		}
		if h != sha256.Sum256(data) {
			t.Fatalf("PutBlob returned %x, want the SHA-256 of the data", h)
		}
		if _, err := s.PutBlob(ctx, data); err != nil {
			t.Fatalf("PutBlob is not idempotent: %v", err)
		}
		got, err := s.Blob(ctx, h)
		if err != nil || !bytes.Equal(got, data) {
			t.Fatalf("Blob = %q, %v; want %q", got, err, data)
		}
		if _, err := s.Blob(ctx, sha256.Sum256([]byte("absent"))); !errors.Is(err, ErrNotFound) {
			t.Fatalf("Blob of an absent hash: %v, want ErrNotFound", err)
		}
	})
}

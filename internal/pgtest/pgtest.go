// Package pgtest gives tests a fresh PostgreSQL database.
//
// The server is named by HALLMARK_TEST_DATABASE_URL (`make test` starts a
// throwaway cluster and sets it). Without it tests that need PostgreSQL
// skip, except under CI=true, where they fail: CI must never pass by
// silently not testing the database.
package pgtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/url"
	"os"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// URL creates an empty database for the test, drops it when the test ends,
// and returns its URL.
func URL(t testing.TB) string {
	t.Helper()
	base := os.Getenv("HALLMARK_TEST_DATABASE_URL")
	if base == "" {
		if os.Getenv("CI") == "true" {
			t.Fatal("HALLMARK_TEST_DATABASE_URL is not set and CI=true: PostgreSQL tests must run in CI (use `make test`)")
		}
		t.Skip("HALLMARK_TEST_DATABASE_URL not set; run `make test` to start a throwaway PostgreSQL")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, base)
	if err != nil {
		t.Fatalf("couldn't reach PostgreSQL at HALLMARK_TEST_DATABASE_URL: %v", err)
	}
	defer conn.Close(ctx)
	var b [6]byte
	rand.Read(b[:])
	name := "hallmark_test_" + hex.EncodeToString(b[:])
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		t.Fatalf("couldn't create test database: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if c, err := pgx.Connect(ctx, base); err == nil {
			c.Exec(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)")
			c.Close(ctx)
		}
	})
	u, err := url.Parse(base)
	if err != nil {
		t.Fatalf("invalid HALLMARK_TEST_DATABASE_URL: %v", err)
	}
	u.Path = "/" + name
	return u.String()
}

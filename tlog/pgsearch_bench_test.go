package tlog

import (
	"context"
	"testing"

	"github.com/hallmark-dev/hallmark/internal/pgtest"
)

// BenchmarkPGSearch searches a PostgreSQL log of 1,000,000 entries with
// 2,000,000 search rows: one key on every other entry (a CI identity that
// signs everything), 2,048 keys sharing the other half (~244 entries
// each), and a unique artifact hash per entry. Searches ask for up to
// 10,000 results, as Rekor v1's index/retrieve does here. Run with
//
//	scripts/with-postgres.sh go test -run '^$' -bench PGSearch ./tlog/
func BenchmarkPGSearch(b *testing.B) {
	ctx := context.Background()
	s, err := OpenPG(ctx, pgtest.URL(b))
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	// The hash as migration 00006 computes it in SQL (TestPGSearchFindsUpgradedRows
	// checks that it is searchHash).
	const h = `('x' || encode(substr(sha256(convert_to(l, 'UTF8') || '\x00'::bytea || convert_to(k, 'UTF8')), 1, 8), 'hex'))::bit(64)::bigint`
	if _, err := s.pool.Exec(ctx, `INSERT INTO logs (name) VALUES ('rekor');
		INSERT INTO search_keys (log, key, idx, h) SELECT l, k, i, `+h+` FROM (
			SELECT 'rekor' AS l, 'sha256:' || encode(sha256(int8send(i)), 'hex') AS k, i FROM generate_series(0, 999999) i
			UNION ALL SELECT 'rekor', 'ci@example.com', i FROM generate_series(0, 999999, 2) i
			UNION ALL SELECT 'rekor', 'user' || (i % 4096) || '@example.com', i FROM generate_series(1, 999999, 2) i) rows;
		ANALYZE search_keys`); err != nil {
		b.Fatal(err)
	}
	for _, c := range []struct {
		name string
		keys []string
		n    int
	}{
		{"common-key", []string{"ci@example.com"}, 10000},
		{"rare-key", []string{"user7@example.com"}, 245},
		{"artifact-hash", []string{"sha256:" + "aa"}, 0},
		{"common-and-rare", []string{"ci@example.com", "user7@example.com"}, 10000},
	} {
		b.Run(c.name, func(b *testing.B) {
			for b.Loop() {
				got, err := s.Search(ctx, "rekor", c.keys, 10000)
				if err != nil || len(got) != c.n {
					b.Fatalf("%d results, %v; want %d", len(got), err, c.n)
				}
			}
		})
	}
}

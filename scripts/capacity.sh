#!/usr/bin/env bash
# Measures PostgreSQL bytes per log entry: fills a fresh database with
# `hallmark-bench log` (500-byte entries by default) and reports the size of
# every table with its indexes and TOAST. Run it through
# scripts/with-postgres.sh; the numbers go in docs/operations.md.
#   ENTRIES=1000000 ENTRY_SIZE=500 scripts/with-postgres.sh scripts/capacity.sh
set -euo pipefail
# Go 1.27 (go.mod): a machine's own Go ignores go.mod's toolchain line unless told.
export GOTOOLCHAIN=go1.27.3
cd "$(dirname "$0")/.."
ENTRIES=${ENTRIES:-1000000}
ENTRY_SIZE=${ENTRY_SIZE:-500}
base=${HALLMARK_TEST_DATABASE_URL:?run through scripts/with-postgres.sh or set HALLMARK_TEST_DATABASE_URL}
db=capacity_$$
psql -X -q "$base" -c "CREATE DATABASE $db"
trap 'psql -X -q "$base" -c "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null' EXIT
url=${base%/*}/$db?${base#*\?}
work=$(mktemp -d)
go build -o "$work/" ./cmd/hallmark-bench
"$work/hallmark-bench" log --store postgres --database-url "$url" --entries 20000 --rate 5000 \
  --entry-size "$ENTRY_SIZE" --at "$ENTRIES" | grep -v '^ *$'
psql -X -q "$url" -c "VACUUM ANALYZE" >/dev/null
echo "== PostgreSQL size after $(psql -X -At "$url" -c 'SELECT size FROM logs') entries of $ENTRY_SIZE bytes"
psql -X "$url" <<SQL
SELECT c.relname AS "table",
       pg_size_pretty(pg_total_relation_size(c.oid)) AS total,
       pg_size_pretty(pg_relation_size(c.oid)) AS heap,
       pg_size_pretty(pg_indexes_size(c.oid)) AS indexes,
       pg_size_pretty(coalesce(pg_total_relation_size(c.reltoastrelid), 0)) AS toast,
       round(pg_total_relation_size(c.oid)::numeric / (SELECT size FROM logs), 1) AS bytes_per_entry
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = 'public' AND c.relkind = 'r'
ORDER BY pg_total_relation_size(c.oid) DESC;
SELECT pg_size_pretty(pg_database_size(current_database())) AS database,
       round(pg_database_size(current_database())::numeric / (SELECT size FROM logs), 1) AS bytes_per_entry,
       (SELECT count(*) FROM checkpoints) AS checkpoints;
SQL
rm -rf "$work"

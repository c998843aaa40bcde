#!/usr/bin/env bash
# Runs Hallmark's benchmarks on this machine: the log engine, the adoption
# importer, search on PostgreSQL, the auditor console, then the Rekor
# v1 and v2 write APIs of a real hallmark-log process, on PostgreSQL and on
# SQLite. Run it through scripts/with-postgres.sh (make bench does).
# Results are printed; record them in docs/BENCHMARKS.md.
set -euo pipefail
# Go 1.27 (go.mod): a machine's own Go ignores go.mod's toolchain line unless told.
export GOTOOLCHAIN=go1.27.3
cd "$(dirname "$0")/.."
ENTRIES=${ENTRIES:-20000}
work=$(mktemp -d /tmp/hallmark-bench.XXXXXX)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$work"' EXIT
go build -o "$work/" ./cmd/hallmark ./cmd/hallmark-log ./cmd/hallmark-bench
hm=$work/hallmark
hb=$work/hallmark-bench

echo "== machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(free -g | awk '/Mem/{print $2}') GiB"
echo "== engine, PostgreSQL"
"$hb" log --store postgres --entries "${ENGINE_ENTRIES:-100000}" --at "${ENGINE_AT:-1000000}"
echo "== engine, SQLite"
"$hb" log --store sqlite --entries "${ENGINE_ENTRIES:-100000}" --at "${ENGINE_AT:-1000000}"
echo "== adoption import (hallmark adopt's importer, leaves from memory), PostgreSQL then SQLite"
"$hb" import --store postgres --entries "${IMPORT_ENTRIES:-200000}" --per-second 10
"$hb" import --store sqlite --entries "${IMPORT_ENTRIES:-200000}" --per-second 10
echo "== Rekor v1 search on PostgreSQL (1,000,000 entries, 2,000,000 search rows)"
go test -run '^$' -bench PGSearch ./tlog/
echo "== auditor console on PostgreSQL (search and entry pages of a 1,000,000-entry Rekor v1 log)"
"$hb" console --entries "${CONSOLE_ENTRIES:-1000000}" --loads "${CONSOLE_LOADS:-200}"
echo "== worst-case entry verification (the costliest requests the limits allow; cpu-ms/op is server CPU per request)"
go test -run '^$' -bench WorstCase ./tlog/...

for store in postgres sqlite; do
  "$hm" keys generate --type ecdsa-p256 --out "$work/v1-$store.pem"
  "$hm" keys generate --type ed25519 --out "$work/v2-$store.pem"
  if [ $store = postgres ]; then db="url: \"$HALLMARK_TEST_DATABASE_URL\""; else db="sqlite: \"$work/bench.db\""; fi
  cat > "$work/log-$store.yaml" <<YAML
listen: {http: "127.0.0.1:3900", grpc: "off"}
database: {$db}
logs:
  - {name: bench-v1-$store, kind: rekor-v1, url: "http://127.0.0.1:3900/v1", key_file: v1-$store.pem, rekor: {tree_id: 42}}
  - {name: bench-v2-$store, kind: rekor-v2, url: "http://127.0.0.1:3900/v2", key_file: v2-$store.pem}
YAML
  "$work/hallmark-log" --config "$work/log-$store.yaml" 2>"$work/log-$store.err" &
  pid=$!
  for i in $(seq 100); do curl -fs http://127.0.0.1:3900/healthz >/dev/null && break; sleep 0.1; done
  echo "== POST /api/v1/log/entries, $store"
  # One key, pre-signed: the workload of the table in "Rekor write APIs over HTTP";
  # the realistic mix is `hallmark-bench rekor`'s default ("Realistic write mix").
  "$hb" rekor --api v1 --url http://127.0.0.1:3900/v1 --entries "$ENTRIES" --rate 1000 --mix key=1 --keys 1 --presign
  echo "== POST /api/v2/log/entries, $store"
  "$hb" rekor --api v2 --url http://127.0.0.1:3900/v2 --entries "$ENTRIES" --rate 1000 --mix key=1 --keys 1 --presign
  kill $pid; wait $pid || true
done

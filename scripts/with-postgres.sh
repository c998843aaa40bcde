#!/usr/bin/env bash
# Runs a command with HALLMARK_TEST_DATABASE_URL pointing at a PostgreSQL
# server. If the variable is already set, it is used as it is. Otherwise a
# throwaway cluster is created in a temporary directory, run as an
# unprivileged user (PostgreSQL refuses root), on a free loopback port, and
# removed when the command ends.
set -euo pipefail
# Go 1.27 (go.mod): a machine's own Go ignores go.mod's toolchain line unless told.
export GOTOOLCHAIN=go1.27.3

if [ -n "${HALLMARK_TEST_DATABASE_URL:-}" ]; then
  exec "$@"
fi

pgbin=${PG_BIN:-}
if [ -z "$pgbin" ]; then
  for d in /usr/lib/postgresql/*/bin; do [ -x "$d/initdb" ] && pgbin=$d; done
fi
if [ -z "$pgbin" ] && command -v initdb >/dev/null; then pgbin=$(dirname "$(command -v initdb)"); fi
if [ -z "$pgbin" ]; then
  echo "with-postgres: no PostgreSQL server binaries found (install postgresql, or set HALLMARK_TEST_DATABASE_URL)" >&2
  exit 1
fi

dir=$(mktemp -d /tmp/hallmark-pg.XXXXXX)
runas=()
if [ "$(id -u)" = 0 ]; then
  user=${PG_USER:-postgres}
  id "$user" >/dev/null 2>&1 || useradd --system --no-create-home "$user"
  chown "$user" "$dir"
  runas=(runuser -u "$user" --)
fi

cleanup() {
  "${runas[@]}" "$pgbin/pg_ctl" -D "$dir/data" -m immediate stop >/dev/null 2>&1 || true
  rm -rf "$dir"
}
trap cleanup EXIT

"${runas[@]}" "$pgbin/initdb" -D "$dir/data" -U postgres --auth=trust --no-sync >"$dir/initdb.log" 2>&1 || {
  cat "$dir/initdb.log" >&2; exit 1; }

started=
for attempt in 1 2 3 4 5 6 7 8; do
  port=$(( 20000 + RANDOM % 30000 ))
  if "${runas[@]}" "$pgbin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 \
      -o "-c listen_addresses=127.0.0.1 -p $port -k $dir -c max_connections=300 -c shared_buffers=512MB -c fsync=on -c synchronous_commit=on -c max_wal_size=4GB -c checkpoint_timeout=15min" \
      start >/dev/null 2>&1; then
    started=1; break
  fi
done
if [ -z "$started" ]; then
  echo "with-postgres: couldn't start PostgreSQL:" >&2; cat "$dir/server.log" >&2; exit 1
fi

export HALLMARK_TEST_DATABASE_URL="postgres://postgres@127.0.0.1:$port/postgres?sslmode=disable"
echo "with-postgres: PostgreSQL $("$pgbin/postgres" --version | awk '{print $3}') on 127.0.0.1:$port ($dir)" >&2
set +e
"$@"
rc=$?
exit $rc

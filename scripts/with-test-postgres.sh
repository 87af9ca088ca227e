#!/usr/bin/env bash
# Runs a command (the test suite) with TIDEMARK_TEST_PG_URL naming a PostgreSQL server for the hub
# tests. A URL given from outside is used as it is. Otherwise a throwaway cluster of Debian's
# PostgreSQL is made in a temp dir, listening on a free port of 127.0.0.1, and is stopped and
# removed when the command ends.
set -euo pipefail
if [ -n "${TIDEMARK_TEST_PG_URL:-}" ]; then
  exec "$@"
fi
pg_bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)
if [ -z "$pg_bin" ]; then
  echo "the hub tests need PostgreSQL: install Debian's (apt-get install -y postgresql) or set TIDEMARK_TEST_PG_URL" >&2
  exit 2
fi
pg_dir=$(mktemp -d)
# initdb refuses to run as root: the cluster then belongs to Debian's postgres user.
as_pg() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
[ "$(id -u)" = 0 ] && chown postgres "$pg_dir"
stop() {
  as_pg "$pg_bin/pg_ctl" -D "$pg_dir/data" -m fast stop >/dev/null 2>&1 || true
  rm -rf "$pg_dir"
}
trap stop EXIT
pg_port=$(node -e "const s = require('net').createServer().listen(0, '127.0.0.1', () => { console.log(s.address().port); s.close(); })")
as_pg "$pg_bin/initdb" -D "$pg_dir/data" -A trust -U tidemark --no-sync >/dev/null
# fsync off: a throwaway cluster; the tests kill node processes, never PostgreSQL.
as_pg "$pg_bin/pg_ctl" -D "$pg_dir/data" -l "$pg_dir/log" -w start \
  -o "-p $pg_port -k $pg_dir -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=300" >/dev/null
export TIDEMARK_TEST_PG_URL="postgres://tidemark@127.0.0.1:$pg_port/postgres"
echo "tests: PostgreSQL $("$pg_bin/postgres" --version | awk '{print $3}') at $TIDEMARK_TEST_PG_URL (throwaway)"
status=0
"$@" || status=$?
exit "$status"

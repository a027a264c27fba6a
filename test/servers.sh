#!/usr/bin/env bash
# Starts (or stops) the PostgreSQL and Redis servers the tests use, on
# loopback, with their data under a temporary directory.
#   test/servers.sh start   # prints the environment to export
#   test/servers.sh stop
# Ports: PostgreSQL 54329, Redis 63799 (override with WB_PG_PORT / WB_REDIS_PORT).
set -euo pipefail
PG_PORT="${WB_PG_PORT:-54329}"
REDIS_PORT="${WB_REDIS_PORT:-63799}"
STATE="${WB_SERVERS_DIR:-/tmp/write-buffer-test-servers}"
PG_BIN="$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)"

as_postgres() {
  if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

start() {
  mkdir -p "$STATE"
  chmod 755 "$STATE"
  if [ ! -f "$STATE/pg/PG_VERSION" ]; then
    mkdir -p "$STATE/pg"
    [ "$(id -u)" = 0 ] && chown postgres:postgres "$STATE/pg"
    chmod 700 "$STATE/pg"
    mkdir -p "$STATE/pg-log"
    [ "$(id -u)" = 0 ] && chown postgres:postgres "$STATE/pg-log"
    as_postgres "$PG_BIN/initdb" -D "$STATE/pg" -U postgres --auth=trust --locale=C.UTF-8 >"$STATE/initdb.log"
  fi
  if ! as_postgres "$PG_BIN/pg_ctl" -D "$STATE/pg" status >/dev/null 2>&1; then
    as_postgres "$PG_BIN/pg_ctl" -D "$STATE/pg" -l "$STATE/pg-log/server.log" -w \
      -o "-p $PG_PORT -h 127.0.0.1 -k $STATE/pg -c fsync=off -c max_connections=200" start >/dev/null
  fi
  if command -v redis-server >/dev/null && ! redis-cli -p "$REDIS_PORT" ping >/dev/null 2>&1; then
    redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --dir "$STATE" --save '' --appendonly no \
      --daemonize yes --pidfile "$STATE/redis.pid" --logfile "$STATE/redis.log"
  fi
  echo "export WB_TEST_POSTGRES_URL=postgres://postgres@127.0.0.1:$PG_PORT/postgres"
  echo "export WB_TEST_PG_DATA=$STATE/pg"
  echo "export WB_TEST_PG_BIN=$PG_BIN"
  echo "export WB_TEST_REDIS_URL=redis://127.0.0.1:$REDIS_PORT"
}

stop() {
  if [ -f "$STATE/pg/postmaster.pid" ]; then
    kill -INT "$(head -1 "$STATE/pg/postmaster.pid")" 2>/dev/null || true
  fi
  if [ -f "$STATE/redis.pid" ]; then
    kill "$(cat "$STATE/redis.pid")" 2>/dev/null || true
  fi
}

"${1:-start}"

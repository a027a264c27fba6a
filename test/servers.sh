#!/usr/bin/env bash
# Starts (or stops) the PostgreSQL, Redis and MariaDB servers the tests use, on
# loopback, with their data under a temporary directory.
#   test/servers.sh start   # prints the environment to export
#   test/servers.sh stop
# Ports: PostgreSQL 54329, Redis 63799, Redis Cluster 46381-46383 (cluster bus +10000) (override with
# WB_PG_PORT / WB_REDIS_PORT / WB_REDIS_CLUSTER_BASE), MariaDB 33306 (WB_MARIADB_PORT; started when
# mariadbd is installed).
set -euo pipefail
PG_PORT="${WB_PG_PORT:-54329}"
REDIS_PORT="${WB_REDIS_PORT:-63799}"
CLUSTER_BASE="${WB_REDIS_CLUSTER_BASE:-46381}"
CLUSTER_PORTS="$CLUSTER_BASE $((CLUSTER_BASE + 1)) $((CLUSTER_BASE + 2))"
MARIADB_PORT="${WB_MARIADB_PORT:-33306}"
STATE="${WB_SERVERS_DIR:-/tmp/write-buffer-test-servers}"
PG_BIN="$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)"

as_mysql() {
  if [ "$(id -u)" = 0 ]; then (cd / && runuser -u mysql -- "$@"); else "$@"; fi
}

mariadb_bin() {
  command -v mariadbd 2>/dev/null || ls /usr/sbin/mariadbd 2>/dev/null || true
}

# MariaDB on loopback as the mysql user; root may connect from 127.0.0.1 without a password.
# ANSI_QUOTES lets the suites' own SQL quote identifiers with double quotes on every database (and
# their CHECK constraints mean the same); the library's statements quote with backticks either way.
start_mariadb() {
  local mariadbd
  mariadbd="$(mariadb_bin)"
  [ -n "$mariadbd" ] || return 0
  local dir="$STATE/mariadb"
  if [ ! -d "$dir/data/mysql" ]; then
    mkdir -p "$dir/data"
    [ "$(id -u)" = 0 ] && chown -R mysql:mysql "$dir"
    as_mysql mariadb-install-db --no-defaults --user=mysql --datadir="$dir/data" \
      --auth-root-authentication-method=normal --skip-test-db >"$dir/install.log" 2>&1
  fi
  if ! mariadb-admin --no-defaults -h 127.0.0.1 -P "$MARIADB_PORT" -u root ping >/dev/null 2>&1; then
    as_mysql "$mariadbd" --no-defaults --user=mysql --datadir="$dir/data" --port="$MARIADB_PORT" \
      --bind-address=127.0.0.1 --socket="$dir/mysqld.sock" --pid-file="$dir/mysqld.pid" \
      --log-error="$dir/error.log" --skip-name-resolve --max-connections=300 \
      --innodb-flush-log-at-trx-commit=2 --max-allowed-packet=64M \
      --sql-mode=ANSI_QUOTES,STRICT_TRANS_TABLES,ERROR_FOR_DIVISION_BY_ZERO,NO_AUTO_CREATE_USER,NO_ENGINE_SUBSTITUTION \
      >/dev/null 2>&1 &
    wait_for "mariadb $MARIADB_PORT" mariadb-admin --no-defaults --socket="$dir/mysqld.sock" -u root ping
    # Fresh data dir: root over TCP from loopback, no password (this server listens on 127.0.0.1 only).
    mariadb --no-defaults --socket="$dir/mysqld.sock" -u root -e \
      "CREATE USER IF NOT EXISTS 'root'@'127.0.0.1' IDENTIFIED BY ''; GRANT ALL ON *.* TO 'root'@'127.0.0.1' WITH GRANT OPTION;" \
      >/dev/null
    wait_for "mariadb tcp $MARIADB_PORT" mariadb-admin --no-defaults -h 127.0.0.1 -P "$MARIADB_PORT" -u root ping
  fi
}

as_postgres() {
  # From /: postgres may not enter the caller's directory (a root-only temp dir).
  if [ "$(id -u)" = 0 ]; then (cd / && runuser -u postgres -- "$@"); else "$@"; fi
}

# Retries a check for up to 30 s.
wait_for() {
  local what="$1"
  shift
  for _ in $(seq 150); do
    "$@" >/dev/null 2>&1 && return 0
    sleep 0.2
  done
  echo "timed out waiting for $what" >&2
  return 1
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
      -o "-p $PG_PORT -h 127.0.0.1 -k $STATE/pg -c synchronous_commit=off -c max_connections=200" start >/dev/null
  fi
  if command -v redis-server >/dev/null && ! redis-cli -p "$REDIS_PORT" ping >/dev/null 2>&1; then
    redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --dir "$STATE" --save '' --appendonly no \
      --daemonize yes --pidfile "$STATE/redis.pid" --logfile "$STATE/redis.log"
  fi
  if command -v redis-server >/dev/null; then
    local nodes=()
    for port in $CLUSTER_PORTS; do
      nodes+=("127.0.0.1:$port")
      if ! redis-cli -p "$port" ping >/dev/null 2>&1; then
        mkdir -p "$STATE/cluster-$port"
        redis-server --port "$port" --bind 127.0.0.1 --cluster-enabled yes --cluster-config-file nodes.conf \
          --dir "$STATE/cluster-$port" --save '' --appendonly no --daemonize yes \
          --pidfile "$STATE/cluster-$port/redis.pid" --logfile "$STATE/cluster-$port/redis.log"
      fi
    done
    for port in $CLUSTER_PORTS; do
      wait_for "redis $port" redis-cli -p "$port" ping
    done
    local first="${CLUSTER_PORTS%% *}"
    if ! redis-cli -p "$first" cluster info | grep -q cluster_state:ok; then
      # Restarted nodes remember their cluster (nodes.conf) and need a moment to agree again.
      if ! redis-cli -p "$first" cluster info | grep -q 'cluster_known_nodes:3'; then
        redis-cli --cluster create "${nodes[@]}" --cluster-replicas 0 --cluster-yes >"$STATE/cluster-create.log"
      fi
      wait_for "cluster state ok" sh -c "redis-cli -p $first cluster info | grep -q cluster_state:ok"
    fi
  fi
  start_mariadb
  # So a test that restarts a server (test/servers.sh start) finds this state and these ports.
  echo "export WB_SERVERS_DIR=$STATE WB_PG_PORT=$PG_PORT WB_REDIS_PORT=$REDIS_PORT WB_REDIS_CLUSTER_BASE=$CLUSTER_BASE WB_MARIADB_PORT=$MARIADB_PORT"
  echo "export WB_TEST_POSTGRES_URL=postgres://postgres@127.0.0.1:$PG_PORT/postgres"
  echo "export WB_TEST_PG_DATA=$STATE/pg"
  echo "export WB_TEST_PG_BIN=$PG_BIN"
  [ -n "$(mariadb_bin)" ] && echo "export WB_TEST_MARIADB_URL=mysql://root@127.0.0.1:$MARIADB_PORT/mysql"
  echo "export WB_TEST_REDIS_URL=redis://127.0.0.1:$REDIS_PORT"
  echo "export WB_TEST_REDIS_CLUSTER=$(for p in $CLUSTER_PORTS; do printf '127.0.0.1:%s,' "$p"; done | sed 's/,$//')"
}

stop() {
  if [ -f "$STATE/pg/postmaster.pid" ]; then
    kill -INT "$(head -1 "$STATE/pg/postmaster.pid")" 2>/dev/null || true
  fi
  if [ -f "$STATE/mariadb/mysqld.pid" ]; then
    kill "$(cat "$STATE/mariadb/mysqld.pid")" 2>/dev/null || true
  fi
  for pidfile in "$STATE/redis.pid" "$STATE"/cluster-*/redis.pid; do
    [ -f "$pidfile" ] && kill "$(cat "$pidfile")" 2>/dev/null || true
  done
}

"${1:-start}"

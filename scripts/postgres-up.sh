#!/bin/sh
# Starts a throwaway PostgreSQL cluster on loopback for the tests and prints
# the variable they read:
#   BACKLOGD_TEST_POSTGRES_DSN=postgres://backlogd@127.0.0.1:PORT/postgres?sslmode=disable
# Usage: postgres-up.sh [PORT]   (default 55432). Needs root for apt on first
# use; as root the server runs as the postgres user.
#
# The cluster trusts loopback connections without a password: it is for
# tests only and dies with postgres-down.sh. The daemon's own config takes
# its DSN, password included, from a secret reference (store.dsn: env:...).
set -eu
PORT=${1:-55432}
STATE=${POSTGRES_STATE_DIR:-${TMPDIR:-/tmp}/backlogd-postgres-$PORT}
export TZ=UTC LC_ALL=C
unset X_DEBIAN_SITEID || true

bindir() { ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1; }

if [ -z "$(bindir)" ] || [ ! -x "$(bindir)/initdb" ]; then
  export DEBIAN_FRONTEND=noninteractive
  before=$(pg_lsclusters -h 2>/dev/null | awk '$4 == "online" {print $1 "/" $2}' || true)
  apt-get update -qq >/dev/null
  apt-get install -y -qq --no-install-recommends postgresql >/dev/null
  # Debian's package creates and starts a default cluster (15/main on
  # 5432); the tests want none of it running. Stop every cluster that the
  # install brought online, and only those.
  pg_lsclusters -h 2>/dev/null | awk '$4 == "online" {print $1 " " $2}' | while read -r ver name; do
    case " $before " in *" $ver/$name "*) continue ;; esac
    pg_ctlcluster "$ver" "$name" stop || true
  done
fi
BIN=$(bindir)

# as runs a command as the server's user: postgres when we are root
# (initdb and postgres refuse to run as root), ourselves otherwise.
as() {
  if [ "$(id -u)" = 0 ]; then
    runuser -u postgres -- "$@"
  else
    "$@"
  fi
}

mkdir -p "$STATE"
[ "$(id -u)" = 0 ] && chown postgres "$STATE"
if [ ! -f "$STATE/data/PG_VERSION" ]; then
  as "$BIN/initdb" -D "$STATE/data" -A trust -U backlogd -E UTF8 --no-instructions >"$STATE/initdb.log" 2>&1 || {
    echo "initdb failed:" >&2; cat "$STATE/initdb.log" >&2; exit 1
  }
fi
if ! as "$BIN/pg_ctl" -D "$STATE/data" status >/dev/null 2>&1; then
  # max_connections: three replicas and the parallel tests each hold a
  # pool. The socket directory is the state directory, not /run.
  as "$BIN/pg_ctl" -D "$STATE/data" -l "$STATE/log" -w -t 60 start \
    -o "-k $STATE -c listen_addresses=127.0.0.1 -p $PORT -c max_connections=300" >/dev/null || {
    echo "postgres did not start; last lines of $STATE/log:" >&2
    tail -n 20 "$STATE/log" >&2
    exit 1
  }
fi
i=0
until as "$BIN/pg_isready" -q -h 127.0.0.1 -p "$PORT"; do
  i=$((i+1))
  if [ $i -gt 60 ]; then
    echo "postgres does not accept connections on 127.0.0.1:$PORT; see $STATE/log" >&2
    exit 1
  fi
  sleep 0.5
done
echo "BACKLOGD_TEST_POSTGRES_DSN=postgres://backlogd@127.0.0.1:$PORT/postgres?sslmode=disable"

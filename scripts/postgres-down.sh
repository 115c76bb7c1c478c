#!/bin/sh
# Stops the PostgreSQL cluster that postgres-up.sh started; with --purge
# also deletes its data.
# Usage: postgres-down.sh [--purge] [PORT]   (default 55432)
set -eu
PURGE=
if [ "${1:-}" = "--purge" ]; then PURGE=1; shift; fi
PORT=${1:-55432}
STATE=${POSTGRES_STATE_DIR:-${TMPDIR:-/tmp}/backlogd-postgres-$PORT}
BIN=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
if [ -n "$BIN" ] && [ -f "$STATE/data/postmaster.pid" ]; then
  if [ "$(id -u)" = 0 ]; then
    runuser -u postgres -- "$BIN/pg_ctl" -D "$STATE/data" -m fast -w stop >/dev/null 2>&1 || true
  else
    "$BIN/pg_ctl" -D "$STATE/data" -m fast -w stop >/dev/null 2>&1 || true
  fi
fi
if [ -n "$PURGE" ]; then
  rm -rf "$STATE"
fi

#!/usr/bin/env bash
# Run COMMAND with a throwaway PostgreSQL server; the store's tests find it in RELEASE_GATES_TEST_PG_URL.
#
#   bash .ci/postgres.sh python -m pytest -m postgres -n 2
#
# Installs Debian's server when it is missing (as root), starts a fresh cluster in a temporary folder
# (as the `postgres` user when run as root: the server refuses to run as root) on a unix socket in that
# folder and on 127.0.0.1 at a free port, with a password (so its masking is tested for real), runs
# COMMAND and stops the server and removes the folder at exit, whatever happened. Exits with COMMAND's
# status, or 3 when the server cannot be had.
set -euo pipefail

if [ "$#" -eq 0 ]; then
  echo "usage: bash .ci/postgres.sh COMMAND [ARG ...]" >&2
  exit 2
fi

fail() { echo "ci/postgres: $*" >&2; exit 3; }

find_bin() {
  # Debian keeps the server binaries off PATH, in /usr/lib/postgresql/<major>/bin.
  local dir
  dir=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)
  if [ -n "$dir" ] && [ -x "$dir/initdb" ] && [ -x "$dir/psql" ]; then
    echo "$dir"
  elif command -v initdb >/dev/null 2>&1; then
    dirname "$(readlink -f "$(command -v initdb)")"
  fi
}

BIN=$(find_bin || true)
if [ -z "$BIN" ]; then
  if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
    echo "ci/postgres: installing postgresql from Debian's packages"
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null) \
      || fail "apt-get install postgresql failed"
    BIN=$(find_bin || true)
  fi
  [ -n "$BIN" ] || fail "no PostgreSQL server found (install Debian's postgresql package)"
fi

WORK=$(mktemp -d "${TMPDIR:-/tmp}/release-gates-pg.XXXXXX")
chmod 755 "$WORK"
PASSWORD="rg-$(od -An -N12 -tx1 /dev/urandom | tr -d ' \n')"
printf '%s\n' "$PASSWORD" > "$WORK/pw"
PORT=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
mkdir -p "$WORK/sock"

as_server() {
  if [ "$(id -u)" = 0 ]; then
    runuser -u postgres -- "$@"
  else
    "$@"
  fi
}

if [ "$(id -u)" = 0 ]; then
  getent passwd postgres >/dev/null || fail "no postgres user (install Debian's postgresql package)"
  chown -R postgres: "$WORK"
fi

stop() {
  as_server "$BIN/pg_ctl" -D "$WORK/data" -m fast -w stop >/dev/null 2>&1 || true
  rm -rf "$WORK"
}
trap stop EXIT
trap 'exit 130' INT TERM

as_server "$BIN/initdb" -D "$WORK/data" -U postgres --pwfile="$WORK/pw" --auth-local=trust \
  --auth-host=scram-sha-256 -E UTF8 >"$WORK/initdb.log" 2>&1 || { cat "$WORK/initdb.log" >&2; fail "initdb failed"; }
as_server "$BIN/pg_ctl" -D "$WORK/data" -l "$WORK/server.log" -w -t 60 start \
  -o "-c listen_addresses=127.0.0.1 -p $PORT -k $WORK/sock -c max_connections=200" >/dev/null \
  || { tail -n 20 "$WORK/server.log" >&2 || true; fail "the server did not start"; }
as_server "$BIN/psql" -qAt -h "$WORK/sock" -p "$PORT" -U postgres -d postgres \
  -c "CREATE DATABASE release_gates_test" >/dev/null || fail "could not create the test database"

export RELEASE_GATES_TEST_PG_URL="postgresql://postgres:$PASSWORD@127.0.0.1:$PORT/release_gates_test"
echo "ci/postgres: PostgreSQL $("$BIN/postgres" --version | awk '{print $3}') on 127.0.0.1:$PORT and $WORK/sock"
set +e
"$@"
status=$?
set -e
exit "$status"

#!/bin/bash
# Entrypoint of onprem/postgres:15 (Debian's PostgreSQL 15), following the official postgres image:
#  - arguments starting with '-' are server options;
#  - an empty $PGDATA is initialised with superuser POSTGRES_USER (default postgres) whose password
#    comes from POSTGRES_PASSWORD_FILE (or POSTGRES_PASSWORD), a database POSTGRES_DB (default: the
#    user's name), password auth (POSTGRES_HOST_AUTH_METHOD, default scram-sha-256) for TCP clients
#    from anywhere, on port 5432 of loopback and the container's own addresses;
#  - the server runs as the postgres user and is exec'd, so it receives the container's signals.
# The password reaches initdb through a 0600 file in /dev/shm (memory) that is removed at once.
set -euo pipefail

log() { printf '%s [Entrypoint]: %s\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

file_env() {
  local var=$1 file_var=${1}_FILE
  local val=${!var:-} file=${!file_var:-}
  if [ -n "$val" ] && [ -n "$file" ]; then die "both $var and $file_var are set (they are exclusive)"; fi
  if [ -n "$file" ]; then
    [ -r "$file" ] || die "$file_var names $file, which is not a readable file"
    val=$(<"$file")
  fi
  printf '%s' "$val"
}

[ $# -gt 0 ] || set -- postgres
if [ "${1:0:1}" = '-' ]; then set -- postgres "$@"; fi
[ "$1" = postgres ] || exec "$@"

PGDATA=${PGDATA:-/var/lib/postgresql/data}
export PGDATA
run_as=()
if [ "$(id -u)" = 0 ]; then
  mkdir -p "$PGDATA" /var/run/postgresql
  find "$PGDATA" \! -user postgres -exec chown postgres:postgres '{}' +
  chmod 0700 "$PGDATA"
  chown postgres:postgres /var/run/postgresql
  chmod 3777 /var/run/postgresql
  run_as=(setpriv --reuid=postgres --regid=postgres --init-groups)
fi

init_cluster() {
  local user=${POSTGRES_USER:-postgres} auth=${POSTGRES_HOST_AUTH_METHOD:-scram-sha-256} password
  local db=${POSTGRES_DB:-${POSTGRES_USER:-postgres}}
  password=$(file_env POSTGRES_PASSWORD)
  if [ -z "$password" ] && [ "$auth" != trust ]; then
    die "database is uninitialised and no superuser password is given: set POSTGRES_PASSWORD_FILE (or POSTGRES_PASSWORD, or POSTGRES_HOST_AUTH_METHOD=trust)"
  fi
  log "initialising $PGDATA (superuser $user)"
  local pwfile="" out
  local pwargs=()
  if [ -n "$password" ]; then
    pwfile=$(mktemp -p /dev/shm 2>/dev/null || mktemp)
    chmod 0600 "$pwfile"
    printf '%s\n' "$password" >"$pwfile"
    [ "$(id -u)" != 0 ] || chown postgres:postgres "$pwfile"
    pwargs=(--pwfile="$pwfile")
  fi
  # POSTGRES_INITDB_ARGS is split into words on purpose, as in the official image.
  # shellcheck disable=SC2086
  # Local (socket) connections inside the container are trusted, as in the official image; every TCP
  # connection, loopback included, needs the password.
  out=$("${run_as[@]}" initdb --username="$user" "${pwargs[@]}" --auth-local=trust --auth-host="$auth" \
        --encoding=UTF8 --locale=C.UTF-8 ${POSTGRES_INITDB_ARGS:-} 2>&1) \
    || { [ -z "$pwfile" ] || rm -f "$pwfile"; printf '%s\n' "$out" >&2; die "initdb failed"; }
  [ -z "$pwfile" ] || rm -f "$pwfile"
  printf '\nhost all all all %s\n' "$auth" >>"$PGDATA/pg_hba.conf"
  printf "\nlisten_addresses = '*'\nport = 5432\n" >>"$PGDATA/postgresql.conf"
  if [ "$db" != postgres ]; then
    # Single-user mode: no server, no socket, nothing to wait for. It reports SQL errors in its output.
    out=$(printf 'CREATE DATABASE "%s";\n' "${db//\"/\"\"}" \
          | "${run_as[@]}" postgres --single -j -D "$PGDATA" postgres 2>&1) \
      || { printf '%s\n' "$out" >&2; die "creating database $db failed"; }
    if grep -q 'ERROR:' <<<"$out"; then printf '%s\n' "$out" >&2; die "creating database $db failed"; fi
  fi
  log "initialised $PGDATA"
}

if [ ! -s "$PGDATA/PG_VERSION" ]; then
  init_cluster
fi
unset POSTGRES_PASSWORD
# Listen on loopback and the container's own addresses rather than the '*' of postgresql.conf (kept there for
# clusters initialised by earlier images): the same reach without the wildcard. An explicit one wins.
if [ "${1:-}" = postgres ] && [[ " $* " != *listen_addresses* ]]; then
  set -- "$@" -c "listen_addresses=$(printf '127.0.0.1'; for ip in $(hostname -I); do printf ',%s' "$ip"; done)"
fi
exec "${run_as[@]}" "$@"

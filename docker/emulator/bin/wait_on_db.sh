#!/bin/bash
# Usage: wait_on_db.sh DEFAULT_PORT NAME COMMAND [ARG...]
# Wait until the database at $WA_DB_HOSTNAME:$WA_DB_PORT accepts TCP connections, then exec COMMAND.
# No host (SQLite) means nothing to wait for. Gives up after $WA_DB_WAIT_SECONDS (default 180) with
# exit status 1, so a restart policy retries rather than a container hanging for ever.
set -euo pipefail
default_port=$1 name=$2
shift 2
[ $# -gt 0 ] || { echo "usage: $(basename "$0") COMMAND [ARG...]" >&2; exit 2; }
host=${WA_DB_HOSTNAME:-}
port=${WA_DB_PORT:-$default_port}
limit=${WA_DB_WAIT_SECONDS:-180}
if [ -n "$host" ]; then
  deadline=$((SECONDS + limit))
  told=0
  # A TCP connect through bash's /dev/tcp, bounded so an unroutable host cannot block a try for long.
  # shellcheck disable=SC2016 # $0 and $1 expand in the inner bash
  until timeout 3 bash -c 'exec 3<>"/dev/tcp/$0/$1"' "$host" "$port" 2>/dev/null; do
    if [ "$SECONDS" -ge "$deadline" ]; then
      echo "wait_on_db: $name at $host:$port did not accept connections within ${limit}s" >&2
      exit 1
    fi
    if [ "$told" = 0 ]; then echo "wait_on_db: waiting for $name at $host:$port" >&2; told=1; fi
    sleep 1
  done
fi
exec "$@"

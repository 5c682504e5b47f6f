#!/bin/sh
# As root: writes the server's config (mode 0600, owned by redis: it holds the password) from the secret
# file named by REDIS_PASSWORD_FILE, then runs redis-server on it as the redis user. The password never
# appears in argv or the environment.
set -eu
umask 077
conf=/run/redis/redis.conf
{
  echo "bind $(hostname -i) 127.0.0.1"  # its address on the stack network, and loopback for the health check
  echo "protected-mode yes"
  echo "port 6379"
  echo "dir /data"
  echo "appendonly yes"
  echo "appendfsync always"
  echo 'save ""'
  if [ -n "${REDIS_PASSWORD_FILE:-}" ]; then
    [ -r "$REDIS_PASSWORD_FILE" ] || { echo "redis: cannot read $REDIS_PASSWORD_FILE" >&2; exit 1; }
    printf 'requirepass "%s"\n' "$(cat "$REDIS_PASSWORD_FILE")"
  fi
} >"$conf"
chown redis:redis "$conf" /data
exec setpriv --reuid=redis --regid=redis --init-groups redis-server "$conf" "$@"

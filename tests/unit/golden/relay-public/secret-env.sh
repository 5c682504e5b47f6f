#!/bin/sh
# Rendered by onprem. Entrypoint of the client containers: export each /run/secrets/WA_* file as the
# environment variable of the same name, then run the image's own command. This keeps secrets out of
# the compose file, `docker inspect` and process arguments while the client reads its usual env vars.
set -eu
for file in /run/secrets/WA_*; do
  [ -f "$file" ] || continue
  name=${file##*/}
  case "$name" in *[!A-Z0-9_]*) continue ;; esac
  export "$name=$(cat "$file")"
done
exec "$@"

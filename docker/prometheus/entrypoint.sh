#!/bin/sh
# Accept both command styles: the official image's (flags only) and a full `prometheus ...` command.
case "${1:-}" in
  -*) set -- prometheus "$@" ;;
esac
# Prometheus 2.42 takes one listen address: the container's own (where its network and published port
# reach it), not the wildcard the official image uses. An explicit --web.listen-address wins.
if [ "${1:-}" = prometheus ]; then
  case " $* " in
    *" --web.listen-address"*) ;;
    *) set -- "$@" "--web.listen-address=$(hostname -i | cut -d' ' -f1):9090" ;;
  esac
fi
exec "$@"

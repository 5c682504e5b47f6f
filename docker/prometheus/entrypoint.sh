#!/bin/sh
# Accept both command styles: the official image's (flags only) and a full `prometheus ...` command.
case "${1:-}" in
  -*) set -- prometheus "$@" ;;
esac
exec "$@"

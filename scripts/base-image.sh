#!/usr/bin/env bash
# Usage: base-image.sh TAG
# Make the Debian base image TAG exist: pulled where a registry answers is not our business here; this
# builds it from Debian packages with debootstrap (no registry needed). Idempotent.
set -euo pipefail
TAG=${1:?usage: base-image.sh TAG}
log() { printf 'images: %s\n' "$*" >&2; }

if docker image inspect "$TAG" >/dev/null 2>&1; then
  exit 0
fi
[ "$(id -u)" = 0 ] || { log "building $TAG with debootstrap needs root"; exit 1; }
command -v debootstrap >/dev/null 2>&1 || {
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends debootstrap >/dev/null
}
root=$(mktemp -d /var/tmp/onprem-rootfs.XXXXXX)
trap 'rm -rf "$root"' EXIT
log "debootstrap bookworm into $root (about 30 s)"
debootstrap --variant=minbase \
  --include=python3,python3-venv,ca-certificates,curl \
  bookworm "$root" http://deb.debian.org/debian >"$root.log" 2>&1 || {
  tail -n 20 "$root.log" >&2; exit 1; }
rm -f "$root.log"
# apt in later RUN steps uses the same plain-HTTP mirror as the host.
if [ -f /etc/apt/sources.list.d/debian.sources ]; then
  cp /etc/apt/sources.list.d/debian.sources "$root/etc/apt/sources.list.d/debian.sources"
  rm -f "$root/etc/apt/sources.list"
fi
chroot "$root" apt-get clean
rm -rf "$root"/var/lib/apt/lists/* "$root"/usr/share/doc/* "$root"/usr/share/man/* \
  "$root"/usr/share/info/* "$root"/var/cache/debconf/*-old
find "$root/usr/share/locale" -mindepth 1 -maxdepth 1 ! -name 'en*' -exec rm -rf {} + 2>/dev/null || true
tar -C "$root" -c . | docker import -c 'CMD ["/bin/bash"]' - "$TAG" >/dev/null
log "built $TAG from Debian packages"

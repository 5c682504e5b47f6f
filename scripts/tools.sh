#!/usr/bin/env bash
# Install the Debian tools the integration tests and benchmarks drive (idempotent; root on Debian):
# promtool/prometheus, amtool (Alertmanager's inhibit rules), redis-server, wrk, sshd for the remote-host tests (started on loopback by them),
# and pebble (Let's Encrypt's RFC 8555 test CA, with pebble-challtestsrv) for the relay's ACME test.
set -euo pipefail
need=()
command -v promtool >/dev/null 2>&1 || need+=(prometheus)
command -v amtool >/dev/null 2>&1 || need+=(prometheus-alertmanager)
command -v redis-server >/dev/null 2>&1 || need+=(redis-server)
command -v wrk >/dev/null 2>&1 || need+=(wrk)
[ -x /usr/sbin/sshd ] || need+=(openssh-server)
command -v pebble >/dev/null 2>&1 || need+=(pebble)
[ ${#need[@]} -eq 0 ] && exit 0
[ "$(id -u)" = 0 ] || { echo "tools: missing ${need[*]}; install them (apt-get install ${need[*]})" >&2; exit 1; }
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq >/dev/null
# policy-rc.d keeps the packages' services from starting: the tests start their own, on loopback.
printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d
apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
rm -f /usr/sbin/policy-rc.d

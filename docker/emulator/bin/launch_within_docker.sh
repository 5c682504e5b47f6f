#!/bin/sh
# Meta's entry point name: start this container's role (core or web) of the emulated client.
set -eu
exec onprem emulator "${ONPREM_EMULATOR_ROLE:?ONPREM_EMULATOR_ROLE is not set (core or web)}" --host container "$@"

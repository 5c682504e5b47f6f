#!/usr/bin/env bash
# Build every image the stack needs, where a registry answers or not (`make images`).
#
#   scripts/images.sh                      all images
#   IMAGES="onprem db" scripts/images.sh   a subset: onprem emulator cloudapi mysql postgres prometheus redis
#                                          (db = mysql postgres; emulator and cloudapi imply onprem)
#   IMAGES="onprem/mysql:8.0 onprem-emulator/web:v2.57.2" scripts/images.sh
#                                          image names, as a rendered stack names them: each one this script
#                                          builds is built (an emulator image of any vX.Y.Z); any other name
#                                          (a real client's registry, a foreign tag) is skipped with a log line
#
# The emulator images come in several client versions (EMULATOR_VERSIONS) that differ only in an env var
# and a label (ONPREM_EMULATOR_VERSION, org.onprem.emulator.version): the same code plays each version,
# and the version decides the database schema it runs on.
#
# Idempotent and quiet on success: every image carries a label with a hash of its inputs (Dockerfile,
# context files, build args, parent image id) and is skipped when that hash is unchanged. The project is
# installed from a wheelhouse built on the host (build/wheelhouse), because pip inside a build cannot
# reach PyPI here; the same wheelhouse is what an air-gapped site carries.
#
# Env: BASE_IMAGE (skip the base decision), ONPREM_VERSION (default: pyproject), EMULATOR_VERSIONS (the
# client versions the `emulator` keyword builds, default "v2.53.2 v2.57.2"; EMULATOR_VERSION, one version,
# is still read when EMULATOR_VERSIONS is unset), PULL_TIMEOUT (seconds per pull attempt, default 120),
# NO_CACHE=1 (rebuild all from scratch), IMAGES_LOG_DIR (where a failed step's log is kept, default
# build/logs).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"

LABEL=org.onprem.inputs
PY_TARGET=3.11                      # the Python of python:3.11-slim and of Debian bookworm
LOCAL_BASE=onprem-base:bookworm
EMULATOR_VERSIONS=${EMULATOR_VERSIONS:-${EMULATOR_VERSION:-v2.53.2 v2.57.2}}
MYSQL_IMAGE=onprem/mysql:8.0
POSTGRES_IMAGE=onprem/postgres:15
PROMETHEUS_IMAGE=onprem/prometheus:2.42
REDIS_IMAGE=onprem/redis:7
PULL_TIMEOUT=${PULL_TIMEOUT:-120}
NO_CACHE=${NO_CACHE:-}              # non-empty: rebuild every image from scratch (docker build --no-cache)
BUILD_DIR=$ROOT/build
WHEELHOUSE=$BUILD_DIR/wheelhouse
LOG_DIR=${IMAGES_LOG_DIR:-$BUILD_DIR/logs}
DEPS_CACHE=onprem/build-cache:deps  # the project image's dependency stage, kept to rebuild fast

log() { printf 'images: %s\n' "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

# ---------------------------------------------------------------------------------------------- tools
host_python() {
  if [ -x "$ROOT/.venv/bin/python" ]; then echo "$ROOT/.venv/bin/python"
  elif command -v python3 >/dev/null 2>&1; then command -v python3
  else die "no python3 on the host to build the wheelhouse with (make venv)"; fi
}

sha() { sha256sum | cut -c1-64; }

# Hash of the named files/directories (paths and contents), skipping caches.
hash_paths() {
  find "$@" -type f ! -path '*/__pycache__/*' ! -name '*.pyc' -print0 | LC_ALL=C sort -z \
    | xargs -0 -r sha256sum | sha
}

image_id() { docker image inspect -f '{{.Id}}' "$1" 2>/dev/null; }
image_label() { docker image inspect -f "{{ index .Config.Labels \"$LABEL\" }}" "$1" 2>/dev/null || true; }

# Pull IMAGE within PULL_TIMEOUT seconds; false when no registry answers.
try_pull() { timeout "$PULL_TIMEOUT" docker pull -q "$1" >/dev/null 2>&1; }

# Run a command with its output in a log file; on failure show the tail and stop.
quietly() {
  local name=$1; shift
  local logfile=$LOG_DIR/$name.log
  mkdir -p "$LOG_DIR"
  if ! "$@" >"$logfile" 2>&1; then
    tail -n 40 "$logfile" >&2
    die "$name failed (full log: ${logfile#"$ROOT"/})"
  fi
  rm -f "$logfile"
}

# build_image TAG HASH DOCKERFILE CONTEXT [--build-arg ...]: build unless TAG already carries HASH.
build_image() {
  local tag=$1 hash=$2 dockerfile=$3 context=$4; shift 4
  if [ -z "$NO_CACHE" ] && [ "$(image_label "$tag")" = "$hash" ]; then return 0; fi
  local old started=$SECONDS nocache=()
  old=$(image_id "$tag" || true)
  # CACHE_OK: the caller has just rebuilt the cached part itself.
  if [ -n "$NO_CACHE" ] && [ -z "${CACHE_OK:-}" ]; then nocache=(--no-cache); fi
  quietly "build-${tag//[\/:]/_}" docker build -q --rm --force-rm "${nocache[@]}" \
    --label "$LABEL=$hash" -f "$dockerfile" -t "$tag" "$@" "$context"
  # The replaced image goes; one a container still uses stays, for a later run's prune.
  if [ -n "$old" ] && [ "$old" != "$(image_id "$tag")" ]; then
    docker image rm "$old" >/dev/null 2>&1 || true
  fi
  log "built $tag in $((SECONDS - started)) s"
}

# The legacy builder's leftover stage images, and replaced images that a container held on to, are ours
# to drop. Only after every build of this run: an unfinished build's newest layer also looks dangling.
prune_leftovers() {
  docker image prune -f --filter "label=org.onprem.stage" >/dev/null 2>&1 || true
  docker image prune -f --filter "label=$LABEL" >/dev/null 2>&1 || true
}

# ------------------------------------------------------------------------------------------ the base
# BASE: what the project image starts FROM; DEBIAN_BASE: what the Debian-package images start FROM.
REGISTRY=0
decide_base() {
  if try_pull "python:$PY_TARGET-slim"; then REGISTRY=1; fi
  if [ -n "${BASE_IMAGE:-}" ]; then
    image_id "$BASE_IMAGE" >/dev/null || try_pull "$BASE_IMAGE" \
      || die "BASE_IMAGE=$BASE_IMAGE is neither local nor pullable"
    BASE=$BASE_IMAGE
  elif [ "$REGISTRY" = 1 ]; then
    BASE=python:$PY_TARGET-slim
  else
    bash "$ROOT/scripts/base-image.sh" "$LOCAL_BASE"
    BASE=$LOCAL_BASE
  fi
  if [ "$REGISTRY" = 1 ] && try_pull debian:bookworm-slim; then
    DEBIAN_BASE=debian:bookworm-slim
  elif [ "$BASE" = "$LOCAL_BASE" ] || [ "$REGISTRY" = 1 ]; then
    DEBIAN_BASE=$BASE               # python:*-slim is Debian too
  else
    bash "$ROOT/scripts/base-image.sh" "$LOCAL_BASE"
    DEBIAN_BASE=$LOCAL_BASE
  fi
}

# ------------------------------------------------------------------------------------- the wheelhouse
# Two keys: deps (pyproject + target) decides whether dependencies are resolved again; src (pyproject +
# README + onprem/) whether the project's own wheel is rebuilt.
wheel_platforms() {
  local arch minor
  arch=$(uname -m)
  case "$arch" in x86_64|aarch64) ;; *) die "no manylinux wheels for architecture $arch" ;; esac
  printf -- '--platform\nmanylinux2014_%s\n' "$arch"
  for minor in $(seq 17 36); do printf -- '--platform\nmanylinux_2_%s_%s\n' "$minor" "$arch"; done
}

build_project_wheel() {
  local py=$1 out=$2 src
  src=$(mktemp -d "$BUILD_DIR/src.XXXXXX")
  # A clean copy: setuptools' in-tree build/ directory would otherwise carry deleted modules along.
  tar -c --exclude=__pycache__ --exclude='*.pyc' pyproject.toml README.md onprem | tar -x -C "$src"
  rm -f "$out"/onprem-*.whl
  # A fixed timestamp makes the wheel reproducible: the same sources give the same bytes, hence the
  # same image input hash (after `make clean`, say).
  quietly wheel-onprem env SOURCE_DATE_EPOCH=315532800 \
    "$py" -m pip wheel -q --no-deps --disable-pip-version-check -w "$out" "$src"
  rm -rf "$src"
}

ensure_wheelhouse() {
  local py deps_key src_key keyfile=$BUILD_DIR/wheelhouse.key have=""
  py=$(host_python)
  deps_key=$( { cat pyproject.toml; echo "cp${PY_TARGET/./} $(uname -m)"; } | sha)
  src_key=$( { cat pyproject.toml README.md; hash_paths onprem; } | sha)
  [ -f "$keyfile" ] && have=$(cat "$keyfile")
  if [ "$have" = "deps=$deps_key src=$src_key" ] && compgen -G "$WHEELHOUSE/onprem-*.whl" >/dev/null; then
    return 0
  fi
  mkdir -p "$BUILD_DIR"
  local started=$SECONDS
  if [ "${have%% *}" = "deps=$deps_key" ] && [ -d "$WHEELHOUSE" ]; then
    build_project_wheel "$py" "$WHEELHOUSE"
  else
    local fresh
    fresh=$(mktemp -d "$BUILD_DIR/wheelhouse.XXXXXX")
    build_project_wheel "$py" "$fresh"
    local platforms=()
    mapfile -t platforms < <(wheel_platforms)
    # Binary wheels for the image's interpreter, whatever the host's: nothing is compiled in the image.
    quietly wheel-deps "$py" -m pip download -q --disable-pip-version-check -d "$fresh" \
      --only-binary=:all: "${platforms[@]}" --python-version "$PY_TARGET" --implementation cp \
      --abi "cp${PY_TARGET/./}" --abi abi3 --abi none "$fresh"/onprem-*.whl
    rm -rf "$WHEELHOUSE"
    mv "$fresh" "$WHEELHOUSE"
    chmod 0755 "$WHEELHOUSE"
  fi
  echo "deps=$deps_key src=$src_key" >"$keyfile"
  log "wheelhouse ready in $((SECONDS - started)) s ($(find "$WHEELHOUSE" -name '*.whl' | wc -l) wheels)"
}

# ----------------------------------------------------------------------------------------- the images
project_version() {
  if [ -n "${ONPREM_VERSION:-}" ]; then echo "$ONPREM_VERSION"; return; fi
  "$(host_python)" -c \
    'import tomllib; print(tomllib.load(open("pyproject.toml", "rb"))["project"]["version"])'
}

# The context: hard links to the wheelhouse, dependencies apart from the project's own wheel.
stage_onprem_context() {
  local ctx=$BUILD_DIR/context/onprem wheel dest
  rm -rf "$ctx"
  mkdir -p "$ctx/deps" "$ctx/project"
  for wheel in "$WHEELHOUSE"/*.whl; do
    case "${wheel##*/}" in onprem-*) dest=$ctx/project ;; *) dest=$ctx/deps ;; esac
    ln "$wheel" "$dest/" 2>/dev/null || cp "$wheel" "$dest/"
  done
  echo "$ctx"
}

build_onprem() {
  ensure_wheelhouse
  ONPREM_IMAGE=onprem/onprem:$(project_version)
  local hash ctx
  # Relative paths: the hash must not change when the checkout moves.
  hash=$( { echo "$BASE $(image_id "$BASE")"; hash_paths docker/Dockerfile "${WHEELHOUSE#"$ROOT"/}"; } | sha)
  if [ -z "$NO_CACHE" ] && [ "$(image_label "$ONPREM_IMAGE")" = "$hash" ]; then return 0; fi
  ctx=$(stage_onprem_context)
  # The dependency stage carries a tag so that dropping leftover stage images keeps it as build cache.
  quietly build-onprem-deps docker build -q ${NO_CACHE:+--no-cache} --target deps -f docker/Dockerfile \
    -t "$DEPS_CACHE" --build-arg "BASE_IMAGE=$BASE" "$ctx"
  CACHE_OK=1 build_image "$ONPREM_IMAGE" "$hash" docker/Dockerfile "$ctx" --build-arg "BASE_IMAGE=$BASE"
  rm -rf "$ctx"
}

# EMULATOR_BUILDS: " role:version ..." pairs (role core or web), filled from IMAGES.
EMULATOR_BUILDS=""
add_emulator() {
  [[ " $EMULATOR_BUILDS " == *" $1:$2 "* ]] || EMULATOR_BUILDS+=" $1:$2"
}

# The Cloud API emulator: the project image with its command; tagged with the project version and latest.
build_cloudapi() {
  local tag=onprem-emulator/cloudapi:$(project_version) hash parent
  parent=$(image_id "$ONPREM_IMAGE") || die "$ONPREM_IMAGE is missing"
  hash=$( { echo "cloudapi $parent"; hash_paths docker/cloudapi; } | sha)
  build_image "$tag" "$hash" docker/cloudapi/Dockerfile docker/cloudapi --build-arg "ONPREM_IMAGE=$ONPREM_IMAGE"
  docker tag "$tag" onprem-emulator/cloudapi:latest
}

# Every version shares the parent and the layers of docker/emulator; only the version's env and label differ.
build_emulator() {
  local build role version tag hash parent
  parent=$(image_id "$ONPREM_IMAGE") || die "$ONPREM_IMAGE is missing"
  for build in $EMULATOR_BUILDS; do
    role=${build%%:*} version=${build#*:}
    if [ "$role" = core ]; then tag=onprem-emulator/coreapp:$version
    else tag=onprem-emulator/web:$version; fi
    hash=$( { echo "$role $version $parent"; hash_paths docker/emulator; } | sha)
    build_image "$tag" "$hash" docker/emulator/Dockerfile docker/emulator \
      --build-arg "ONPREM_IMAGE=$ONPREM_IMAGE" --build-arg "ROLE=$role" --build-arg "VERSION=$version"
  done
}

# build_db TAG OFFICIAL DIR: retag the official image where one can be pulled, else build DIR from Debian.
build_db() {
  local tag=$1 official=$2 dir=$3
  if [ "$REGISTRY" = 1 ] && try_pull "$official"; then
    docker tag "$official" "$tag"
    return 0
  fi
  build_debian "$tag" "$dir"
}

build_debian() {
  local tag=$1 dir=$2 hash
  hash=$( { echo "$DEBIAN_BASE $(image_id "$DEBIAN_BASE")"; hash_paths "$dir"; } | sha)
  build_image "$tag" "$hash" "$dir/Dockerfile" "$dir" --build-arg "BASE_IMAGE=$DEBIAN_BASE"
}

wanted() { [[ " $WANT " == *" $1 "* ]]; }

skip() { log "not built here: $1 ($2)"; }

# want_name NAME: what to build for an image name, as a rendered stack names it; other names are skipped.
want_name() {
  local name=$1 role version
  case "$name" in
    "$MYSQL_IMAGE") WANT+=" mysql" ;;
    "$POSTGRES_IMAGE") WANT+=" postgres" ;;
    "$PROMETHEUS_IMAGE") WANT+=" prometheus" ;;
    "$REDIS_IMAGE") WANT+=" redis" ;;
    onprem/onprem:*)
      version=$(project_version)
      if [ "${name#*:}" = "$version" ]; then WANT+=" onprem"
      else skip "$name" "this checkout builds onprem/onprem:$version"; fi ;;
    onprem-emulator/cloudapi:*)
      version=$(project_version)
      if [ "${name#*:}" = "$version" ] || [ "${name#*:}" = latest ]; then WANT+=" onprem cloudapi"
      else skip "$name" "this checkout builds onprem-emulator/cloudapi:$version"; fi ;;
    onprem-emulator/coreapp:*|onprem-emulator/web:*)
      role=${name%%:*} version=${name#*:}
      role=${role#onprem-emulator/}
      [ "$role" = coreapp ] && role=core
      if [[ "$version" =~ ^v[0-9]+\.[0-9]+\.[0-9]+$ ]]; then
        WANT+=" onprem emulator"
        add_emulator "$role" "$version"
      else
        skip "$name" "an emulator tag is a client version such as v2.57.2"
      fi ;;
    *) skip "$name" "not an image this project builds" ;;
  esac
}

main() {
  local item version
  WANT=""
  for item in ${IMAGES:-onprem emulator cloudapi mysql postgres prometheus redis}; do
    case "$item" in
      onprem|mysql|postgres|prometheus|redis) WANT+=" $item" ;;
      cloudapi) WANT+=" onprem cloudapi" ;;
      emulator)
        WANT+=" onprem emulator"
        for version in $EMULATOR_VERSIONS; do
          [[ "$version" =~ ^v[0-9]+\.[0-9]+\.[0-9]+$ ]] \
            || die "EMULATOR_VERSIONS: '$version' is not a client version such as v2.57.2"
          add_emulator core "$version"
          add_emulator web "$version"
        done ;;
      db) WANT+=" mysql postgres" ;;
      */*|*:*) want_name "$item" ;;
      *) die "unknown image '$item' in IMAGES (onprem emulator mysql postgres prometheus redis db cloudapi," \
           "or an image name such as onprem-emulator/web:v2.57.2)" ;;
    esac
  done
  WANT="$WANT "
  [ -n "${WANT// /}" ] || return 0  # only names built elsewhere
  command -v docker >/dev/null 2>&1 || die "the docker CLI is missing (make engine)"
  timeout 10 docker info >/dev/null 2>&1 || die "no Docker engine answers (make engine)"
  # No buildx here: an inherited DOCKER_BUILDKIT=1 would make `docker build` fail outright.
  docker buildx version >/dev/null 2>&1 || unset DOCKER_BUILDKIT
  mkdir -p "$BUILD_DIR"
  exec 9>"$BUILD_DIR/.images.lock"
  flock 9                           # two runs at once would race on the wheelhouse and the tags

  decide_base
  # The Debian-package images are independent of each other and of the project image: build them in
  # the background meanwhile (mostly apt downloads). An early exit still waits for them: no orphans.
  local pids=() pid failed=0
  trap 'wait' EXIT
  if wanted mysql; then (build_db "$MYSQL_IMAGE" mysql:8.0 docker/mysql) & pids+=($!); fi
  if wanted postgres; then (build_db "$POSTGRES_IMAGE" postgres:15 docker/postgres) & pids+=($!); fi
  if wanted prometheus; then (build_debian "$PROMETHEUS_IMAGE" docker/prometheus) & pids+=($!); fi
  if wanted redis; then (build_debian "$REDIS_IMAGE" docker/redis) & pids+=($!); fi
  if wanted onprem; then build_onprem; fi
  if wanted emulator; then build_emulator; fi
  if wanted cloudapi; then build_cloudapi; fi
  for pid in "${pids[@]}"; do wait "$pid" || failed=1; done
  trap - EXIT
  prune_leftovers
  [ "$failed" = 0 ] || die "an image failed to build (see above)"
}

main "$@"

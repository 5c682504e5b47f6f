# onprem: the two commands that matter are `make deploy` and `make test`.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
ONPREM := $(BIN)/onprem
STAMP := $(VENV)/.installed

.PHONY: engine images render deploy status down test test-unit test-integration check bench tools clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

venv: $(STAMP)

## A Docker engine that answers, and Compose v2 (installs and starts them as root where missing).
engine:
	bash scripts/engine.sh

## The project image, the emulated client images and the database images (built from Debian where no
## registry answers).
images: engine $(STAMP)
	bash scripts/images.sh

## Validate onprem.yaml (or the built-in defaults) and write the bundle, without touching Docker.
render: $(STAMP)
	$(ONPREM) render

## Deploy the embedded default (or ./onprem.yaml): emulated client, database, relay and exporter.
## Builds only the images that stack runs (`onprem images` lists them).
deploy: engine $(STAMP)
	IMAGES="$$($(ONPREM) images)" bash scripts/images.sh
	$(ONPREM) deploy

status: $(STAMP)
	$(ONPREM) status

down: $(STAMP)
	$(ONPREM) down

## Host tools the integration tests drive: promtool/prometheus, redis-server, wrk, sshd, pebble.
tools:
	bash scripts/tools.sh

## Every test: unit, then integration against the real engine, databases and servers.
test: engine images tools $(STAMP)
	$(BIN)/pytest -q -p no:cacheprovider tests

test-unit: $(STAMP)
	$(BIN)/pytest -q -p no:cacheprovider tests/unit

## Lint, format, strict types, and the layer contracts of pyproject.toml (import-linter).
check: $(STAMP)
	$(BIN)/ruff check onprem tests bench
	$(BIN)/ruff format --check onprem tests bench
	$(BIN)/mypy
	$(BIN)/lint-imports

bench: images tools $(STAMP)
	$(BIN)/python -m bench

clean:
	rm -rf build .pytest_cache .mypy_cache .ruff_cache

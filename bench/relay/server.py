"""A relay process for the benchmark: `python -m bench.relay.server VARIANT CONFIG HOST:PORT`.

VARIANT is `relay` (the real SQLite group-commit store), `per-request` or `nothing` (bench/relay/variants.py);
everything else (HTTP server, verification, parsing, metrics) is the production relay.
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path

from bench.relay.variants import NothingStore, PerRequestCommitStore
from onprem.relay.metrics import RelayMetrics
from onprem.relay.service import run
from onprem.relay.settings import load_settings
from onprem.relay.store import Store
from onprem.sidecar import split_listen


def main(argv: list[str]) -> None:
    variant, config, listen = argv
    settings = load_settings(Path(config))
    host, port = split_listen(listen)

    def per_request(metrics: RelayMetrics) -> Store:
        return PerRequestCommitStore(Path(settings.store.data_dir), settings.store.dedup_window_seconds)

    def nothing(metrics: RelayMetrics) -> Store:
        return NothingStore()

    factories = {"relay": None, "per-request": per_request, "nothing": nothing}
    logging.basicConfig(level=logging.WARNING)
    run(settings, host, port, store=factories[variant])


if __name__ == "__main__":
    main(sys.argv[1:])

"""`python -m bench [NAME ...]`: run the benchmarks (all by default), each in its own process, and print
their tables. Each suite measures its figures side by side in one run and prints ratios."""

from __future__ import annotations

import subprocess
import sys

SUITES = {
    "foundation": "bench.foundation",  # deploy vs compose, no-op deploy, --help, 32-shard render
    "relay": "bench.relay",  # acks/s and latency: relay vs one-commit-per-request vs store-nothing; e2e
    "exporter": "bench.exporter",  # scrape latency p50/p99, single and 33 nodes; exporter RSS
    "changes": "bench.changes",  # plan / no-op deploy, rollback / fresh deploy, upgrade downtime
    "hosts": "bench.hosts",  # SSH connections per host, three hosts / one host
    "swarm": "bench.swarm",  # Swarm deploy / compose deploy of the same single-host stack
}


def main(argv: list[str]) -> int:
    names = argv or list(SUITES)
    unknown = [n for n in names if n not in SUITES]
    if unknown:
        print(f"unknown benchmark(s): {', '.join(unknown)}; known: {', '.join(SUITES)}", file=sys.stderr)
        return 2
    status = 0
    for name in names:
        print(f"== {name}", flush=True)
        status |= subprocess.run([sys.executable, "-m", SUITES[name]], check=False).returncode
    return status


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))

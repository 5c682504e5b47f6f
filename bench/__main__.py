"""`python -m bench [NAME ...]`: run the benchmarks (all by default) and print their tables."""

from __future__ import annotations

import importlib
import sys

SUITES = {
    "foundation": "bench.foundation",
    "relay": "bench.relay",
    "exporter": "bench.exporter",
}


def main(argv: list[str]) -> int:
    names = argv or list(SUITES)
    unknown = [n for n in names if n not in SUITES]
    if unknown:
        print(f"unknown benchmark(s): {', '.join(unknown)}; known: {', '.join(SUITES)}", file=sys.stderr)
        return 2
    status = 0
    for name in names:
        try:
            module = importlib.import_module(SUITES[name])
        except ModuleNotFoundError:
            print(f"== {name}: not present in this checkout")
            continue
        print(f"== {name}")
        status |= int(module.main() or 0)
    return status


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))

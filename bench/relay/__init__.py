"""Relay benchmarks: `python -m bench.relay` (see bench/relay/__main__.py)."""

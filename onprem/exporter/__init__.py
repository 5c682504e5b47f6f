"""Prometheus exporter sidecar: scrape-time collection from the client's health, stats and metrics."""

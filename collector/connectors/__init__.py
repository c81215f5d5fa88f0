"""Connectors: an exporter in one pipeline and a receiver in others (Go's ``connectors:`` section)."""

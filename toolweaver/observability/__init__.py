"""Metrics and (with the operations issue) tracing and analytics backends."""

"""Structured logging (with personal-data scrubbing) and Prometheus metrics."""

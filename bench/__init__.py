"""Benchmarks of the task platform against raw Celery (run `python bench/run.py`)."""

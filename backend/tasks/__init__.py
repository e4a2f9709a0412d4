"""Celery tasks: thin calls into backend.domain, with TrackedTask doing the rest."""

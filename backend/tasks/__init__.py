"""The thin Celery tasks, one module per queue: load by id, call a use case or domain code,
store, report. Everything cross-cutting is TrackedTask's (backend.worker)."""

__all__ = ["documents", "maintenance", "notifications", "reports", "triage"]

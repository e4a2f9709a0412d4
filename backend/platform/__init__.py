"""The task platform room: what makes Celery a platform with guarantees.

The task catalogue (TaskSpec, RetryPolicy; no Celery import), the Celery app, submissions and
the enqueue service (one atomic Lua call per task), task records and status, Celery messages,
Lua scripts, the SQL outbox, the dead-letter store, retention, crash recovery (reaper, orphan
sweep), the platform's Prometheus collector, the audit trail, token revocations and open-stream
slots. It imports neither the API, use cases nor tasks.
"""

__all__ = [
    "audit",
    "catalogue",
    "celery_app",
    "dead_letters",
    "enqueue",
    "lua",
    "messages",
    "metrics",
    "outbox",
    "privacy_audit",
    "records",
    "recovery",
    "retention",
    "retention_records",
    "revocations",
    "status",
    "stream_slots",
    "submissions",
]

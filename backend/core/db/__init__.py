"""SQL storage: what must outlive Redis (cases, documents, reports, the outbox, dead letters),
with its sessions and Alembic migrations."""

__all__ = ["migrate", "models", "session"]

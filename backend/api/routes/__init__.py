"""Routers, one module per resource; backend.api.app includes them in a declared order."""

__all__ = [
    "batches",
    "dead_letters",
    "dev",
    "documents",
    "health",
    "recipients",
    "reports",
    "security",
    "tasks",
    "triage",
]

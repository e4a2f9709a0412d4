"""Request and response bodies of the API, one module per resource."""

__all__ = ["common", "dead_letters", "security", "tasks", "triage"]

"""The use cases of the product, in one style (module functions and small services): triage
(and its engine choice), batches, their completion webhooks, documents and reports. The API
and the tasks call these; these call the platform, resilience and adapters."""

__all__ = [
    "batches",
    "documents",
    "ownership",
    "reports",
    "triage",
    "triage_engine",
    "webhooks",
]

"""Pure domain logic (text, entities, triage, documents, e-mail, reports): no Celery, Redis,
HTTP or SQL import, and nothing else of backend; unit-testable alone."""

__all__ = [
    "charts",
    "documents",
    "entities",
    "labels",
    "masking",
    "notifications",
    "parsing",
    "parsing_ocr",
    "parsing_worker",
    "parsing_zygote",
    "reports",
    "stats",
    "summary",
    "text",
    "triage",
    "triage_llm",
    "triage_rules",
]

"""Pure domain logic (text, entities, triage, documents, e-mail): no Celery, Redis, HTTP or SQL."""

"""The privacy audit trail: one function writes every row (exports, erasures, retention runs).

The subject is stored as a keyed pseudonym (HMAC-SHA256 under a key derived from JWT_SECRET),
never by name, so the row outlives the subject's erasure without personal content, and the
controller can still find it by computing the pseudonym of a name it is asked about. This is
the one place to point at a wider audit trail.
"""

from __future__ import annotations

import hashlib
import hmac
from typing import Any

from sqlalchemy import select

from backend.core.db.models import PrivacyEvent
from backend.core.db.session import session_scope
from backend.core.settings import settings


def subject_ref(subject: str) -> str:
    # Keyed by the id secret (required in production), so a pseudonym names nobody without it.
    secret = settings.security.effective_id_secret or ""
    key = hmac.new(secret.encode(), b"privacy-subject-pseudonym", "sha256").digest()
    return hmac.new(key, subject.encode(), hashlib.sha256).hexdigest()


def record(action: str, *, actor: str, subject: str | None, detail: dict[str, Any]) -> str:
    """Write one audit row; `detail` must hold counts and ids only, nothing personal."""
    with session_scope() as session:
        event = PrivacyEvent(
            action=action,
            actor=actor,
            subject_ref=subject_ref(subject) if subject is not None else None,
            detail=detail,
        )
        session.add(event)
        session.flush()
        return event.id


def events_about(subject: str) -> list[dict[str, Any]]:
    with session_scope() as session:
        rows = session.scalars(
            select(PrivacyEvent)
            .where(PrivacyEvent.subject_ref == subject_ref(subject))
            .order_by(PrivacyEvent.at)
        )
        return [
            {"id": e.id, "at": e.at.isoformat(), "action": e.action, "actor": e.actor,
             "detail": e.detail}
            for e in rows
        ]  # fmt: skip

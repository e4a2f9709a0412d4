"""The privacy audit trail: one function writes every row (exports, erasures, retention runs).

The subject is stored as a keyed pseudonym (HMAC-SHA256 under a key derived from JWT_SECRET),
never by name, so the row outlives the subject's erasure without personal content, and the
controller can still find it by computing the pseudonym of a name it is asked about.

Every privacy row also goes to the tamper-evident audit trail (backend/platform/audit.py), in the
same transaction, with the pseudonym as its resource id: an admin reading `GET /api/audit` sees
each export, erasure and retention run next to the other actions, and a failure to write
either row fails the action.
"""

from __future__ import annotations

import hashlib
import hmac
from typing import Any

from sqlalchemy import select

from backend.core.db.models import PrivacyEvent
from backend.core.db.session import session_scope
from backend.core.enums import AuditAction, PrivacyAction, ResourceType
from backend.core.settings import settings
from backend.platform import audit

_AUDIT_ACTIONS = {
    PrivacyAction.EXPORT: AuditAction.PRIVACY_EXPORT,
    PrivacyAction.ERASURE_REQUESTED: AuditAction.PRIVACY_ERASE,
    PrivacyAction.ERASURE_COMPLETED: AuditAction.PRIVACY_ERASED,
    PrivacyAction.RETENTION: AuditAction.PRIVACY_RETENTION,
}


def subject_ref(subject: str) -> str:
    # Keyed by the id secret (required in production), so a pseudonym names nobody without it.
    secret = settings.security.effective_id_secret or ""
    key = hmac.new(secret.encode(), b"privacy-subject-pseudonym", "sha256").digest()
    return hmac.new(key, subject.encode(), hashlib.sha256).hexdigest()


def record(
    action: PrivacyAction,
    *,
    actor: str,
    subject: str | None,
    detail: dict[str, Any],
    context: audit.AuditContext | None = None,
) -> str:
    """Write one privacy row and its audit-trail row; `detail` must hold counts and ids only,
    nothing personal. `context` says who acts from where (the API's request); without it the
    action is the platform's own (a task or beat), recorded with role `system`."""
    ref = subject_ref(subject) if subject is not None else None
    context = context or audit.AuditContext(actor=actor, role="system", source="worker")
    with session_scope() as session:
        event = PrivacyEvent(action=action, actor=actor, subject_ref=ref, detail=detail)
        session.add(event)
        session.flush()
        context.record(session, _AUDIT_ACTIONS[action], ResourceType.SUBJECT, ref)
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

"""E-mail notifications on the `notifications` queue: exactly one e-mail per event.

Arguments are the event kind and the id of what it is about; the recipient and the content
are loaded here, so no address or case text travels in the message.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.exc import IntegrityError

from backend.celery_config import PermanentTaskError
from backend.config import settings
from backend.db.models import Case, Document, Report, SentNotification
from backend.db.session import session_scope
from backend.domain.notifications import render_email
from backend.services import mailer
from backend.services.external_calls import external_call
from backend.tasks.base import TrackedTask, status_manager, tracked_task


def _recipients_and_context(kind: str, subject_id: str) -> tuple[list[str], dict[str, Any]]:
    base = settings.public_base_url.rstrip("/")
    with session_scope() as session:
        if kind == "triage_completed":
            case = session.get(Case, subject_id)
            if case is None or not case.triage:
                raise PermanentTaskError(f"case {subject_id} is not triaged")
            to = [case.client_email] if case.client_email else []
            return to, {
                "case_id": case.id,
                "title": case.title,
                "area": case.area,
                "urgency": case.urgency,
                "summary": case.triage.get("summary", ""),
                "link": f"{base}/api/triage/{case.id}",
            }
        if kind == "document_analysed":
            document = session.get(Document, subject_id)
            if document is None or document.analysis is None:
                raise PermanentTaskError(f"document {subject_id} is not analysed")
            case = session.get(Case, document.case_id) if document.case_id else None
            to = [case.client_email] if case and case.client_email else []
            return to, {
                "document_id": document.id,
                "document_name": document.filename,
                "doc_type": document.analysis.get("doc_type"),
                "link": f"{base}/api/documents/{document.id}",
            }
        if kind == "report_ready":
            report = session.get(Report, subject_id)
            if report is None or report.status != "ready":
                raise PermanentTaskError(f"report {subject_id} is not ready")
            return list(settings.operator_emails), {
                "report_id": report.id,
                "report_name": f"Relatório operacional ({report.period_hours} h)",
                "link": f"{base}/api/reports/{report.id}/download",
            }
    if kind == "task_failed":
        record = status_manager().get(subject_id)
        if record is None:
            raise PermanentTaskError(f"task {subject_id} not found")
        error = record.get("error") or {}
        return list(settings.operator_emails), {
            "task_name": record["name"],
            "task_id": subject_id,
            "error_type": error.get("type", ""),
            "error_message": error.get("message", ""),
            "attempts": record["attempts"],
        }
    raise PermanentTaskError(f"unknown notification kind {kind!r}")


@tracked_task("notifications.send_email")
def send_email(self: TrackedTask, kind: str, subject_id: str) -> dict[str, Any]:
    key = f"{kind}:{subject_id}"
    with session_scope() as session:
        if session.get(SentNotification, key) is not None:
            return {"kind": kind, "sent": False, "reason": "already sent"}
    to, context = _recipients_and_context(kind, subject_id)
    if not to:
        return {"kind": kind, "sent": False, "reason": "no recipient"}
    rendered = render_email(kind, context)
    message = mailer.build_message(
        to=to, subject=rendered.subject, text=rendered.text, html=rendered.html
    )
    with external_call("smtp"):
        mailer.send(message)
    try:
        with session_scope() as session:
            session.add(SentNotification(key=key, kind=kind))
    except IntegrityError:
        pass  # a concurrent duplicate recorded it first
    return {"kind": kind, "sent": True, "recipients": len(to)}

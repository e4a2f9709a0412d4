"""E-mail notifications on the `notifications` queue: exactly one e-mail per event.

Arguments are the event kind and the id of what it is about; the recipient and the content
are loaded here, so no address or case text travels in the message. A client's notification
goes only to the addresses that may get it now (confirmed, or the account's own:
backend/services/recipients.py), checked here whatever the API decided; the others are
skipped with a reason in the task's result, never retried.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from backend.adapters import mailer
from backend.adapters.redis_clients import get_redis
from backend.core.db.models import Batch, Case, Document, Report
from backend.core.db.session import session_scope
from backend.core.enums import BatchStatus, NotificationKind
from backend.core.errors import CallbackRefused, PermanentTaskError
from backend.core.logging import get_logger
from backend.core.settings import settings
from backend.domain.notifications import render_email
from backend.platform import failure_alerts
from backend.resilience import effects
from backend.resilience.external_calls import external_call
from backend.services import recipients, webhooks
from backend.worker import TrackedTask, status_manager, tracked_task

log = get_logger(__name__)


@dataclass(frozen=True)
class _Mail:
    to: list[str]
    context: dict[str, Any] = field(default_factory=dict)
    # The client whose addresses these are (checked at send time); None: the platform's own
    # (OPERATOR_EMAILS) or a confirmation link, which goes to the address it confirms.
    owner: str | None = None
    skipped: str | None = None


def _recipients_and_context(kind: str, subject_id: str) -> _Mail:
    base = settings.app.public_base_url.rstrip("/")
    if kind == NotificationKind.RECIPIENT_CONFIRMATION:
        pending = recipients.pending_confirmation(subject_id)
        if pending is None:
            return _Mail([], skipped="confirmation no longer pending")
        address, token = pending
        return _Mail([address], {
            "link": f"{base}/api/recipients/confirm?token={token}",
            "hours": settings.security.recipient_confirmation_ttl_s // 3600,
        })  # fmt: skip
    client_mail = _client_mail(kind, subject_id, base)
    return client_mail if client_mail is not None else _operators_mail(kind, subject_id, base)


def _client_mail(kind: str, subject_id: str, base: str) -> _Mail | None:
    """A notification to a client's addresses (None for another kind)."""
    with session_scope() as session:
        if kind == NotificationKind.TRIAGE_COMPLETED:
            case = session.get(Case, subject_id)
            if case is None or not case.triage:
                raise PermanentTaskError(f"case {subject_id} is not triaged")
            to = [case.client_email] if case.client_email else []
            return _Mail(to, {
                "case_id": case.id,
                "title": case.title,
                "area": case.area,
                "urgency": case.urgency,
                "summary": case.triage.get("summary", ""),
                "link": f"{base}/api/triage/{case.id}",
            }, case.owner)  # fmt: skip
        if kind == NotificationKind.DOCUMENT_ANALYSED:
            document = session.get(Document, subject_id)
            if document is None or document.analysis is None:
                raise PermanentTaskError(f"document {subject_id} is not analysed")
            case = session.get(Case, document.case_id) if document.case_id else None
            to = [case.client_email] if case and case.client_email else []
            return _Mail(to, {
                "document_id": document.id,
                "document_name": document.filename,
                "doc_type": document.analysis.get("doc_type"),
                "link": f"{base}/api/documents/{document.id}",
            }, case.owner if case else document.owner)  # fmt: skip
        if kind == NotificationKind.BATCH_COMPLETED:
            batch = session.get(Batch, subject_id)
            if batch is None or batch.status != BatchStatus.COMPLETED:
                raise PermanentTaskError(f"batch {subject_id} is not completed")
            return _Mail([batch.notify_email] if batch.notify_email else [], {
                "batch_id": batch.id,
                "total": batch.total,
                "done": batch.done,
                "failed": batch.failed,
                "link": f"{base}/api/triage/batch/{batch.id}",
            }, batch.owner)  # fmt: skip
    return None


def _operators_mail(kind: str, subject_id: str, base: str) -> _Mail:
    """A notification to OPERATOR_EMAILS (the platform's own addresses)."""
    if kind == NotificationKind.REPORT_READY:
        with session_scope() as session:
            report = session.get(Report, subject_id)
            if report is None or report.status != "ready":
                raise PermanentTaskError(f"report {subject_id} is not ready")
            return _Mail(list(settings.mail.operator_emails), {
                "report_id": report.id,
                "report_name": f"Relatório operacional ({report.period_hours} h)",
                "link": f"{base}/api/reports/{report.id}/download",
            })  # fmt: skip
    if kind == NotificationKind.TASK_FAILED:
        # The failures of one task name in one alert window (backend/platform/failure_alerts).
        window = failure_alerts.window_summary(get_redis(), subject_id)
        if not window["count"]:
            raise PermanentTaskError(f"no failures recorded for {subject_id}")
        last = status_manager().get(window["task_ids"][-1]) or {}
        error = last.get("error") or {}
        return _Mail(list(settings.mail.operator_emails), {
            "task_name": window["task_name"],
            "count": window["count"],
            "window_minutes": max(1, round(window["window_s"] / 60)),
            "task_ids": window["task_ids"],
            "more": window["count"] - len(window["task_ids"]),
            "error_type": error.get("type", ""),
            "error_message": error.get("message", ""),
            "attempts": last.get("attempts", 0),
        })  # fmt: skip
    raise PermanentTaskError(f"unknown notification kind {kind!r}")


def _addressed(mail: _Mail) -> _Mail:
    """Only the addresses that may get the client's mail now (checked here, in the worker)."""
    if mail.owner is None or not mail.to:
        return mail
    to, skipped = recipients.deliverable(mail.owner, mail.to)
    return _Mail(to, mail.context, mail.owner, skipped)


@tracked_task("notifications.send_email")
def send_email(self: TrackedTask, kind: str, subject_id: str) -> dict[str, Any]:
    key = f"{kind}:{subject_id}"
    already_sent = {"kind": kind, "sent": False, "reason": "already sent"}
    # Checked first so a redelivery neither loads nor renders anything; once_external checks
    # again, under its claim, right before the send.
    if effects.completed(key):
        return already_sent
    mail = _addressed(_recipients_and_context(kind, subject_id))
    if mail.skipped:
        # The reason, never the address (no personal data in logs).
        log.info("notification_skipped", kind=kind, reason=mail.skipped)
    to = mail.to
    if not to:
        return {"kind": kind, "sent": False, "reason": mail.skipped or "no recipient"}
    rendered = render_email(kind, mail.context)
    message = mailer.build_message(
        to=to,
        subject=rendered.subject,
        text=rendered.text,
        html=rendered.html,
        message_id=mailer.message_id_for(key),
    )

    def deliver() -> None:
        with external_call("smtp"):
            mailer.send(message, on_accepted=lambda: effects.mark_done(key))

    if not effects.once_external(key, kind, deliver).ran:
        return already_sent
    sent: dict[str, Any] = {"kind": kind, "sent": True, "recipients": len(to)}
    return sent | ({"skipped": mail.skipped} if mail.skipped else {})


@tracked_task("notifications.send_webhook")
def send_webhook(self: TrackedTask, batch_id: str) -> dict[str, Any]:
    """POST a batch's completion, signed, to its callback URL: once per batch (the receiver
    can drop the rare duplicate by the X-LTQ-Delivery header)."""
    key = f"webhook:batch_completed:{batch_id}"
    already_sent = {
        "kind": NotificationKind.BATCH_COMPLETED.value,
        "sent": False,
        "reason": "already sent",
    }
    if effects.completed(key):
        return already_sent
    try:
        callback = webhooks.completion_callback(batch_id)
    except CallbackRefused as exc:
        raise PermanentTaskError(str(exc)) from exc

    def deliver() -> int:
        # To the address that was checked, with the original Host and TLS server name.
        with external_call("webhook", callback.host):
            response = webhooks.post(callback)
            if not webhooks.refusal_is_final(response.status_code):
                response.raise_for_status()  # 5xx, 408, 429: the service failed, retried
        if webhooks.refusal_is_final(response.status_code):
            raise PermanentTaskError(f"callback refused with HTTP {response.status_code}")
        return response.status_code

    outcome = effects.once_external(key, "webhook", deliver)
    if not outcome.ran:
        return already_sent
    return {
        "kind": NotificationKind.BATCH_COMPLETED.value,
        "sent": True,
        "status_code": outcome.value,
    }

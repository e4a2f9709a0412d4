"""Case triage on the `triage` queue; the case's urgency sets the priority of its follow-ups."""

from __future__ import annotations

from typing import Any

from backend.core.db.models import Case
from backend.core.db.session import session_scope
from backend.core.enums import CaseStatus, NotificationKind
from backend.core.errors import PermanentTaskError
from backend.core.settings import settings
from backend.domain.triage import JsonValue, urgency_to_priority
from backend.services import batches
from backend.services.triage_engine import triage
from backend.worker import TrackedTask, task_service, tracked_task
from backend.worker.ownership import Submitter, allowed_for, may_touch


def _case_failed(case_id: str, *, submitter: Submitter = (None, None)) -> None:
    """The triage failed for good or was cancelled: the case is `failed`, its batch recounted.
    Only by a task allowed to touch the case: someone else's task never fails it."""
    owner = batches.case_owner(case_id)
    if owner is None or not allowed_for(submitter, owner):
        return
    batches.announce(batches.mark_case_failed(case_id), task_service())


@tracked_task("triage.classify_case", on_final_failure=_case_failed)
def classify_case(self: TrackedTask, case_id: str) -> dict[str, Any]:
    with session_scope() as session:
        case = session.get(Case, case_id)
        # The same answer for a missing case and someone else's: ids are not an oracle.
        if case is None or not may_touch(self, case.owner):
            raise PermanentTaskError(f"case {case_id} is not available")
        # Redelivered after success was stored: the triage already happened.
        done = case.status == CaseStatus.TRIAGED and bool(case.triage)
        title, description = case.title, case.description
        # Dates in the text ("amanhã", "dia 12") are read against the day the case came in.
        submitted_at = case.created_at.date() if case.created_at else None
    result: dict[str, JsonValue] | None = None
    if not done:
        # Outside a session: the LLM engine may take seconds.
        self.report_progress(1, 3, "classificando")
        result = triage(
            title, description, engine=settings.triage.engine, submitted_at=submitted_at
        )
        self.report_progress(2, 3, "gravando resultado")
    with session_scope() as session:
        case = session.get(Case, case_id)
        if case is None:
            raise PermanentTaskError(f"case {case_id} was deleted during triage")
        if result is not None:
            case.triage = result
            case.area = str(result["area"])
            case.urgency = str(result["urgency"])
            case.status = CaseStatus.TRIAGED
        # In the case's own transaction: a redelivery recounts the batch, never counts twice.
        settled = batches.settle(session, case.batch_id) if case.batch_id else None
        summary = _summary(case)
        owner, has_email = case.owner, bool(case.client_email)
    batches.announce(settled, task_service())
    if has_email:
        # After the commit, so the e-mail task always finds the triage. The idempotency key
        # makes a redelivery enqueue nothing new; SentNotification makes sending exactly-once.
        summary["notification_task_id"] = task_service().enqueue(
            "notifications.send_email",
            [NotificationKind.TRIAGE_COMPLETED, case_id],
            priority=summary["priority"],
            owner=owner,
            correlation_id=case_id,
            idempotency_key=f"notify:triage_completed:{case_id}",
        )
    return summary


def _summary(case: Case) -> dict[str, Any]:
    urgency = case.urgency or "normal"
    return {
        "case_id": case.id,
        "area": case.area,
        "urgency": urgency,
        "priority": urgency_to_priority(urgency),
    }

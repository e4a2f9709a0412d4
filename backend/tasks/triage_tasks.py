"""Case triage on the `triage` queue."""

from __future__ import annotations

from typing import Any

from backend.celery_config import PermanentTaskError
from backend.db.models import Case
from backend.db.session import session_scope
from backend.domain.triage import classify_case as classify
from backend.domain.triage import urgency_to_priority
from backend.tasks.base import TrackedTask, tracked_task


@tracked_task("triage.classify_case")
def classify_case(self: TrackedTask, case_id: str) -> dict[str, Any]:
    with session_scope() as session:
        case = session.get(Case, case_id)
        if case is None:
            raise PermanentTaskError(f"case {case_id} does not exist")
        if case.status == "triaged" and case.triage:
            # Redelivered after success was stored: the effect already happened.
            return _summary(case)
        self.report_progress(1, 3, "classificando")
        result: dict[str, Any] = dict(classify(case.title, case.description).to_dict())
        self.report_progress(2, 3, "gravando resultado")
        case.triage = result
        case.area = str(result["area"])
        case.urgency = str(result["urgency"])
        case.status = "triaged"
        return _summary(case)


def _summary(case: Case) -> dict[str, Any]:
    urgency = case.urgency or "normal"
    return {
        "case_id": case.id,
        "area": case.area,
        "urgency": urgency,
        "priority": urgency_to_priority(urgency),
    }

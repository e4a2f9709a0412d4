"""Operations reports on the `reports` queue (requested through the API, or daily by beat)."""

from __future__ import annotations

from typing import Any

from backend.core.db.models import utcnow
from backend.core.db.session import session_scope
from backend.core.enums import ReportScope
from backend.core.errors import InvalidRequest, PermanentTaskError
from backend.domain.reports import render
from backend.services import reports
from backend.services.reports import ReportJob
from backend.worker import TrackedTask, status_manager, task_service, tracked_task


@tracked_task("reports.generate_operations_report")
def generate_operations_report(
    self: TrackedTask,
    report_id: str | None = None,
    period_hours: int = 24,
    report_format: str = "html",
) -> dict[str, Any]:
    """Without `report_id` (a scheduled run) the report is created here, owned by `system`,
    and the operators get a `report_ready` e-mail when it is done."""
    scheduled = report_id is None
    with session_scope() as session:
        try:
            report = reports.claim(
                session,
                report_id=report_id,
                task_id=self.request.id,
                period_hours=period_hours,
                report_format=report_format,
            )
        except InvalidRequest as exc:
            raise PermanentTaskError(exc.message) from None
        if report is None:
            raise PermanentTaskError(f"report {report_id} does not exist")
        owner = report.owner if report.scope == ReportScope.OWN else None
        job = ReportJob(report.id, report.period_hours, report.format, owner)
        done = reports.ready_file(report)
        result = reports.outcome(report.id, done, report.summary) if done else None
    if result is None:  # not a redelivery of a finished run
        self.report_progress(1, 3, "coletando dados do período")
        data = reports.collect(job, status_manager(), now=utcnow())
        self.report_progress(2, 3, "gravando o relatório")
        try:
            result = reports.store(job, render(data, job.report_format), data.summary())
        except LookupError as exc:
            raise PermanentTaskError(str(exc)) from None
    if scheduled:
        reports.announce_ready(task_service(), job.report_id)
    return result

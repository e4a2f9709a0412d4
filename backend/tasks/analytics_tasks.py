"""Operations reports on the `reports` queue."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import func, select

from backend.celery_config import PermanentTaskError
from backend.config import settings
from backend.db.models import Case, Report, utcnow
from backend.db.session import session_scope
from backend.domain.reports import OperationsReport, render_csv
from backend.tasks.base import TrackedTask, status_manager, tracked_task


@tracked_task("reports.generate_operations_report")
def generate_operations_report(
    self: TrackedTask, report_id: str | None = None, period_hours: int = 24
) -> dict[str, Any]:
    with session_scope() as session:
        if report_id is None:  # scheduled by beat
            report = Report(owner="system", period_hours=period_hours, task_id=self.request.id)
            session.add(report)
            session.flush()
        else:
            found = session.get(Report, report_id)
            if found is None:
                raise PermanentTaskError(f"report {report_id} does not exist")
            report = found
        since = utcnow() - timedelta(hours=report.period_hours)
        by_area = dict(
            session.execute(
                select(Case.area, func.count()).where(Case.created_at >= since).group_by(Case.area)
            ).all()
        )
        by_urgency = dict(
            session.execute(
                select(Case.urgency, func.count())
                .where(Case.created_at >= since)
                .group_by(Case.urgency)
            ).all()
        )
        self.report_progress(1, 2, "collecting task statistics")
        stats = status_manager()
        data = OperationsReport(
            period_hours=report.period_hours,
            generated_at=utcnow().isoformat(),
            cases_by_area={str(k or "pending"): int(v) for k, v in by_area.items()},
            cases_by_urgency={str(k or "pending"): int(v) for k, v in by_urgency.items()},
            tasks=stats.task_stats(),
            queues=stats.queues_status(),
        )
        settings.reports_dir.mkdir(parents=True, exist_ok=True)
        path = settings.reports_dir / f"{report.id}.csv"
        path.write_text(render_csv(data), encoding="utf-8")
        report.path = str(path)
        report.summary = data.summary()
        report.status = "ready"
        report.finished_at = utcnow()
        return {"report_id": report.id, "path": path.name, **data.summary()}

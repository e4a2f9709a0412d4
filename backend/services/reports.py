"""Operations reports: requesting one (row + task), gathering a period's data, storing the file.

The API calls `request_report`; the `reports.generate_operations_report` task calls
`claim`, `collect` and `store`. Files live under settings.files.reports_dir, named by report id.
"""

from __future__ import annotations

import os
import tempfile
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from backend.core.db.models import Case, Report, utcnow
from backend.core.db.session import session_scope
from backend.core.enums import AuditAction, NotificationKind, QueueName, ReportScope, ResourceType
from backend.core.errors import InvalidRequest
from backend.core.security.ids import derived_uuid
from backend.core.settings import settings
from backend.domain.reports import REPORT_FORMATS, OperationsReport, TaskSample, build_report
from backend.platform.audit import AuditContext
from backend.platform.enqueue import CeleryTaskService
from backend.platform.outbox import Outbox, stage
from backend.platform.status import TaskStatusManager
from backend.platform.submissions import TaskRequest, check_idempotency_key

TASK_NAME = "reports.generate_operations_report"
MAX_PERIOD_HOURS = 720
PENDING, READY = "pending", "ready"
_SAMPLE_FIELDS = ("name", "queue", "state", "wait_ms", "runtime_ms", "error_type")


@dataclass(frozen=True)
class ReportJob:
    """What the task needs once the row is loaded (the session is closed by then)."""

    report_id: str
    period_hours: int
    report_format: str
    # Whose cases and tasks it counts: None for the whole platform.
    owner: str | None = None


def validate(period_hours: int, report_format: str) -> None:
    if not 1 <= period_hours <= MAX_PERIOD_HOURS:
        raise InvalidRequest(f"period_hours must be between 1 and {MAX_PERIOD_HOURS}")
    if report_format not in REPORT_FORMATS:
        raise InvalidRequest(f"format must be one of {', '.join(REPORT_FORMATS)}")


def request_report(
    service: CeleryTaskService,
    *,
    owner: str,
    period_hours: int,
    report_format: str,
    idempotency_key: str | None = None,
    scope: ReportScope = ReportScope.PLATFORM,
    audit: AuditContext | None = None,
) -> tuple[Report, bool]:
    """Create the report row and its task; returns the row and whether the task is queued
    (False: Redis is down and the outbox relay publishes it later).

    The row and the task's outbox row commit together, so the worker always finds the row and
    a row never lacks its task. A repeated `idempotency_key` answers with the report its first
    request created (the report id is derived from the user and the key).
    """
    validate(period_hours, report_format)
    if idempotency_key is not None:
        check_idempotency_key(idempotency_key)
    report_id = (
        derived_uuid("report", owner, idempotency_key) if idempotency_key else str(uuid.uuid4())
    )
    try:
        with session_scope() as session:
            earlier = session.get(Report, report_id)
            if earlier is not None:
                return earlier, Outbox.get(str(earlier.task_id)) is None
            [staged] = stage(
                session, [TaskRequest(task_name=TASK_NAME, args=[report_id], owner=owner)]
            )
            report = Report(
                id=report_id,
                owner=owner,
                period_hours=period_hours,
                format=report_format,
                status=PENDING,
                task_id=staged.task_id,
                scope=scope.value,
            )
            session.add(report)
            if audit is not None:  # in the row's transaction: no report without its audit row
                audit.record(session, AuditAction.REQUEST_REPORT, ResourceType.REPORT, report_id)
    except IntegrityError:  # a concurrent request with the same key won
        with session_scope() as session:
            first = session.get(Report, report_id)
        if first is None:
            raise
        return first, Outbox.get(str(first.task_id)) is None
    return report, Outbox(service).publish([staged])


def claim(
    session: Session,
    *,
    report_id: str | None,
    task_id: str,
    period_hours: int,
    report_format: str,
) -> Report | None:
    """The row a task run works on: the given one, or for a scheduled run (no id) the row this
    task created on an earlier attempt, or a new row owned by `system`. None: no such row."""
    if report_id is not None:
        return session.get(Report, report_id)
    validate(period_hours, report_format)
    existing = session.scalars(select(Report).where(Report.task_id == task_id)).first()
    if existing is not None:
        return existing
    report = Report(
        owner="system",
        period_hours=period_hours,
        format=report_format,
        status=PENDING,
        task_id=task_id,
    )
    session.add(report)
    session.flush()
    return report


def collect(job: ReportJob, status: TaskStatusManager, *, now: datetime) -> OperationsReport:
    """The period's cases (SQL) and task records (Redis), aggregated."""
    since = now - timedelta(hours=job.period_hours)
    with session_scope() as session:
        recent = Case.created_at >= since
        if job.owner is not None:
            recent = recent & (Case.owner == job.owner)
        by_area = session.execute(
            select(Case.area, func.count()).where(recent).group_by(Case.area)
        ).all()
        by_urgency = session.execute(
            select(Case.urgency, func.count()).where(recent).group_by(Case.urgency)
        ).all()
    retained_since = now - timedelta(seconds=settings.tasks.record_ttl_s)
    task_data_since = max(since, retained_since)
    samples = (
        TaskSample(
            name=raw["name"] or "unknown",
            queue=raw["queue"] or "unknown",
            state=raw["state"] or "PENDING",
            wait_ms=_int(raw["wait_ms"]),
            runtime_ms=_int(raw["runtime_ms"]),
            error_type=raw["error_type"] or None,
        )
        for raw in status.iter_records_since(
            int(since.timestamp() * 1000), _SAMPLE_FIELDS, owner=job.owner
        )
    )
    return build_report(
        period_hours=job.period_hours,
        generated_at=now,
        task_data_since=task_data_since,
        cases_by_area={area: int(n) for area, n in by_area},
        cases_by_urgency={urgency: int(n) for urgency, n in by_urgency},
        samples=samples,
        queue_names=[q.value for q in QueueName],
    )


def _int(value: str | None) -> int | None:
    return int(value) if value not in (None, "") else None


def report_file(report_id: str, report_format: str) -> Path:
    return settings.files.reports_dir / f"{report_id}.{report_format}"


def store(job: ReportJob, content: str, summary: dict[str, Any]) -> dict[str, Any]:
    """Write the file (atomically: a reader never sees half of it) and mark the row ready."""
    path = report_file(job.report_id, job.report_format)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=path.suffix)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(content)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    with session_scope() as session:
        report = session.get(Report, job.report_id)
        if report is None:
            path.unlink(missing_ok=True)
            raise LookupError(f"report {job.report_id} was deleted while it was generated")
        report.path = str(path)
        report.summary = summary
        report.status = READY
        report.finished_at = utcnow()
    return outcome(job.report_id, path, summary)


def outcome(report_id: str, path: Path, summary: dict[str, Any] | None) -> dict[str, Any]:
    """The task's small result: the id, the file name and the headline figures."""
    return {"report_id": report_id, "file": path.name, **(summary or {})}


def ready_file(report: Report) -> Path | None:
    """The report's file if it is ready and still there, and only under reports_dir."""
    if report.status != READY or not report.path:
        return None
    path = Path(report.path).resolve()
    if not path.is_relative_to(settings.files.reports_dir.resolve()) or not path.is_file():
        return None
    return path


def announce_ready(service: CeleryTaskService, report_id: str) -> str:
    """Enqueue the `report_ready` e-mail to the operators, once per report."""
    return service.submit(
        TaskRequest(
            task_name="notifications.send_email",
            args=[NotificationKind.REPORT_READY, report_id],
            idempotency_key=f"report_ready:{report_id}",
        )
    ).task_id


def get(report_id: str) -> Report | None:
    """The report row (detached: read its columns, not its relations)."""
    with session_scope() as session:
        return session.get(Report, report_id)

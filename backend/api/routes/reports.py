"""/api/reports: request an operations report, follow it, download it.

Anyone signed in may request one. A client's report counts only its own cases and tasks (and
covers at most CLIENT_REPORT_MAX_HOURS); a platform-wide report is for operators. The requester
and operators may read and download it, and anyone else gets 404, as if it did not exist (the
refusal and every download are audited).
"""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, status
from fastapi.responses import FileResponse
from pydantic import BaseModel, ConfigDict, Field

from backend.api.deps import AuditCtx, CurrentUser, IdempotencyKey, StatusDep, TaskServiceDep
from backend.api.schemas.common import UtcDateTime
from backend.core.db.models import Report
from backend.core.enums import AuditAction, AuditOutcome, ReportScope, ResourceType, TaskState
from backend.core.errors import Conflict, Forbidden, InvalidRequest, ReportNotFound
from backend.core.security.permissions import Permission, allowed
from backend.core.security.tokens import Principal
from backend.core.settings import settings
from backend.domain.reports import MEDIA_TYPES
from backend.platform.audit import AuditContext
from backend.resilience import quotas
from backend.resilience.quotas import DAY, Quota
from backend.services import reports

router = APIRouter(prefix="/api/reports", tags=["reports"])

ReportFormat = Literal["csv", "html"]  # domain.reports.REPORT_FORMATS


class ReportCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    period_hours: int = Field(default=24, ge=1, le=reports.MAX_PERIOD_HOURS, examples=[24, 168])
    format: ReportFormat = "html"
    # "own" (the default for clients) or "platform" (operators' default; operators only).
    scope: ReportScope | None = None


class ReportAccepted(BaseModel):
    report_id: str
    task_id: str
    # False: accepted while the broker was down; published by the outbox relay once it is back.
    queued: bool
    status_url: str


class ReportOut(BaseModel):
    report_id: str
    status: Literal["pending", "running", "ready", "failed"]
    format: str
    period_hours: int
    owner: str
    task_id: str | None
    created_at: UtcDateTime
    finished_at: UtcDateTime | None
    scope: str
    summary: dict[str, Any] | None
    error: dict[str, Any] | None
    status_url: str
    task_url: str | None
    download_url: str | None


def _visible(report_id: str, principal: Principal, ctx: AuditContext) -> Report:
    report = reports.get(report_id)
    if report is None:
        raise ReportNotFound(report_id)
    if not principal.may_see(report.owner):
        ctx.record_alone(
            AuditAction.READ_REPORT, ResourceType.REPORT, report_id, AuditOutcome.REFUSED
        )
        raise ReportNotFound(report_id)
    return report


@router.post("", status_code=status.HTTP_202_ACCEPTED, response_model=ReportAccepted)
def request_report(
    body: ReportCreate,
    principal: CurrentUser,
    ctx: AuditCtx,
    service: TaskServiceDep,
    idempotency_key: IdempotencyKey = None,
) -> ReportAccepted:
    """Queue an operations report of the last `period_hours` hours, as CSV or HTML: the
    caller's own cases and tasks, or (operators) the whole platform's."""
    platform_ok = allowed(principal.role, Permission.PLATFORM_REPORTS)
    scope = body.scope or (ReportScope.PLATFORM if platform_ok else ReportScope.OWN)
    if scope is ReportScope.PLATFORM and not platform_ok:
        ctx.record_alone(
            AuditAction.DENIED, ResourceType.PERMISSION, Permission.PLATFORM_REPORTS.value,
            AuditOutcome.REFUSED,
        )  # fmt: skip
        raise Forbidden("platform-wide reports are for operators")
    limit = settings.security.client_report_max_hours
    if not platform_ok and body.period_hours > limit:
        raise InvalidRequest(f"period_hours: at most {limit} for a client's report")
    if not principal.sees_everything:
        quotas.charge(principal.user, Quota("reports", settings.security.reports_per_day, DAY))
    report, queued = reports.request_report(
        service,
        owner=principal.user,
        period_hours=body.period_hours,
        report_format=body.format,
        idempotency_key=idempotency_key,
        scope=scope,
        audit=ctx,
    )
    return ReportAccepted(
        report_id=report.id,
        task_id=str(report.task_id),
        queued=queued,
        status_url=f"/api/reports/{report.id}",
    )


@router.get("/{report_id}", response_model=ReportOut)
def get_report(
    report_id: str, principal: CurrentUser, ctx: AuditCtx, status_manager: StatusDep
) -> ReportOut:
    """The report's state (pending, running, ready, failed) and, once ready, its figures."""
    report = _visible(report_id, principal, ctx)
    state, error = "pending", None
    if report.status == reports.READY:
        state = "ready"
    elif report.task_id:
        record = status_manager.get_raw(report.task_id)
        task_state = record.get("state")
        if task_state in (TaskState.FAILURE, TaskState.REVOKED):
            state = "failed"
            error = {"type": record.get("error_type") or task_state.lower()}
        elif task_state in (TaskState.STARTED, TaskState.PROGRESS, TaskState.RETRY):
            state = "running"
    return ReportOut(
        report_id=report.id,
        status=state,  # type: ignore[arg-type]
        format=report.format,
        period_hours=report.period_hours,
        owner=report.owner,
        task_id=report.task_id,
        created_at=report.created_at,
        finished_at=report.finished_at,
        scope=report.scope,
        summary=report.summary if state == "ready" else None,
        error=error,
        status_url=f"/api/reports/{report.id}",
        task_url=f"/api/tasks/{report.task_id}" if report.task_id else None,
        download_url=f"/api/reports/{report.id}/download" if state == "ready" else None,
    )


@router.get(
    "/{report_id}/download",
    response_class=FileResponse,
    responses={200: {"content": {"text/csv": {}, "text/html": {}}}},
)
def download_report(report_id: str, principal: CurrentUser, ctx: AuditCtx) -> FileResponse:
    """The report file, as an attachment; 409 while it is not ready. Audited."""
    report = _visible(report_id, principal, ctx)
    if report.status != reports.READY:
        raise Conflict("report is not ready yet")
    path = reports.ready_file(report)
    if path is None:
        raise ReportNotFound(report_id)
    ctx.record_alone(AuditAction.DOWNLOAD_REPORT, ResourceType.REPORT, report_id)
    stamp = (report.finished_at or report.created_at).strftime("%Y%m%d-%H%M")
    return FileResponse(
        path,
        media_type=MEDIA_TYPES[report.format],
        filename=f"relatorio-operacional-{stamp}.{report.format}",
        content_disposition_type="attachment",
    )

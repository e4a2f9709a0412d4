"""/api/triage: submit a case, read it with its triage, follow it live.

A client sees only its own cases: another owner's case answers 404, as if it did not exist.
Batches of cases are backend.api.routes.batches.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Request, status
from sse_starlette.sse import EventSourceResponse
from starlette.concurrency import run_in_threadpool

from backend.api.deps import AuditCtx, CurrentUser, IdempotencyKey, ReaderDep, TaskServiceDep
from backend.api.openapi import STREAM_RESPONSES
from backend.api.quotas import charge_cases_and_recipients
from backend.api.schemas.triage import CaseOut, TriageAccepted, TriageCreate
from backend.api.streams import case_events
from backend.api.streams.limits import limited_stream
from backend.core.enums import AuditAction, AuditOutcome, CaseStatus, ResourceType
from backend.core.errors import (
    CaseNotFound,
)
from backend.core.security.tokens import Principal
from backend.platform.audit import AuditContext
from backend.platform.records import for_client
from backend.services import triage
from backend.services.triage import CaseView, SubmittedCase

router = APIRouter(prefix="/api/triage", tags=["triage"])

CaseId = Annotated[str, Path(max_length=64)]


def _links(case_id: str, task_id: str) -> dict[str, str]:
    return {
        "status_url": f"/api/triage/{case_id}",
        "stream_url": f"/api/triage/stream/{case_id}",
        "task_url": f"/api/tasks/{task_id}",
    }


def accepted_case(submitted: SubmittedCase) -> dict[str, Any]:
    return {
        "case_id": submitted.case_id,
        "task_id": submitted.task_id,
        "created": submitted.created,
        "queued": submitted.queued,
        **_links(submitted.case_id, submitted.task_id),
    }


async def _visible_case(
    case_id: str, principal: Principal, ctx: AuditContext, *, audit_read: bool = True
) -> CaseView:
    """The case if the caller may see it. Someone else's answers as missing (audited as
    refused); a read is audited (`audit_read`), and a read that cannot be audited fails."""
    case = await run_in_threadpool(triage.get_case, case_id)
    if case is None:
        raise CaseNotFound(case_id)
    visible = principal.may_see(case.owner)
    if audit_read or not visible:
        outcome = AuditOutcome.OK if visible else AuditOutcome.REFUSED
        await ctx.record_async(AuditAction.READ_CASE, ResourceType.CASE, case_id, outcome)
    if not visible:
        raise CaseNotFound(case_id)
    return case


@router.post("", status_code=status.HTTP_202_ACCEPTED, response_model=TriageAccepted)
async def submit_case(
    body: TriageCreate,
    principal: CurrentUser,
    ctx: AuditCtx,
    tasks: TaskServiceDep,
    idempotency_key: IdempotencyKey = None,
) -> dict[str, Any]:
    """Create a case and enqueue its triage. The same `Idempotency-Key` from the same user
    returns the same case and task, also under concurrent requests."""
    await charge_cases_and_recipients(principal, tasks, 1, [body.client_email])
    [submitted] = await run_in_threadpool(
        triage.submit_cases,
        tasks,
        owner=principal.user,
        drafts=[(None, body.draft())],
        idempotency_key=idempotency_key,
        audit=ctx,
    )
    return accepted_case(submitted)


@router.get("/{case_id}", response_model=CaseOut)
async def get_case(
    case_id: CaseId, principal: CurrentUser, ctx: AuditCtx, reader: ReaderDep
) -> dict[str, Any]:
    """The case, its triage task's state and, once done, the triage. Audited."""
    case = await _visible_case(case_id, principal, ctx, audit_read=False)
    task = await reader.get(case.task_id) if case.task_id else None
    # Audited after both reads: the audit write may wait for a worker's transaction, and the
    # case must not read older than its task.
    await ctx.record_async(AuditAction.READ_CASE, ResourceType.CASE, case_id)
    if task is not None and not principal.sees_everything:
        task = for_client(task)
    return {
        "case_id": case.id,
        "status": case.status,
        "title": case.title,
        "area": case.area,
        "urgency": case.urgency,
        "created_at": case.created_at,
        "updated_at": case.updated_at,
        "task_id": case.task_id,
        "state": task["state"] if task else None,
        "task": task,
        "triage": case.triage if case.status == CaseStatus.TRIAGED else None,
        "status_url": f"/api/triage/{case.id}",
        "stream_url": f"/api/triage/stream/{case.id}",
    }


@router.get("/stream/{case_id}", response_class=EventSourceResponse, responses=STREAM_RESPONSES)
async def stream_case(
    case_id: CaseId,
    request: Request,
    principal: CurrentUser,
    ctx: AuditCtx,
    reader: ReaderDep,
) -> EventSourceResponse:
    """Server-Sent Events: `triage_started` (once), `triage_update` (queued, progress, retry),
    then `triage_completed` with the triage, or `triage_failed` with the error."""
    case = await _visible_case(case_id, principal, ctx, audit_read=False)
    return await limited_stream(request, principal, case_events(request, case, reader))

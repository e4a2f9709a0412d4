"""/api/triage: submit a case, read it with its triage, follow it live.

A client sees only its own cases: another owner's case answers 404, as if it did not exist.
Batches of cases are backend.api.routes.batches.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Request, status
from sse_starlette.sse import EventSourceResponse
from starlette.concurrency import run_in_threadpool

from backend.api.deps import CurrentUser, IdempotencyKey, ReaderDep, TaskServiceDep
from backend.api.quotas import charge_cases
from backend.api.schemas.triage import CaseOut, TriageAccepted, TriageCreate
from backend.api.streams import case_events
from backend.api.streams.limits import limited_stream
from backend.core.enums import CaseStatus
from backend.core.errors import (
    CaseNotFound,
)
from backend.core.security.tokens import Principal
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


async def _visible_case(case_id: str, principal: Principal) -> CaseView:
    case = await run_in_threadpool(triage.get_case, case_id)
    if case is None or not principal.may_see(case.owner):
        raise CaseNotFound(case_id)
    return case


@router.post("", status_code=status.HTTP_202_ACCEPTED, response_model=TriageAccepted)
async def submit_case(
    body: TriageCreate,
    principal: CurrentUser,
    tasks: TaskServiceDep,
    idempotency_key: IdempotencyKey = None,
) -> dict[str, Any]:
    """Create a case and enqueue its triage. The same `Idempotency-Key` from the same user
    returns the same case and task, also under concurrent requests."""
    await charge_cases(principal, 1, 1 if body.client_email else 0)
    [submitted] = await run_in_threadpool(
        triage.submit_cases,
        tasks,
        owner=principal.user,
        drafts=[(None, body.draft())],
        idempotency_key=idempotency_key,
    )
    return accepted_case(submitted)


@router.get("/{case_id}", response_model=CaseOut)
async def get_case(case_id: CaseId, principal: CurrentUser, reader: ReaderDep) -> dict[str, Any]:
    """The case, its triage task's state and, once done, the triage."""
    case = await _visible_case(case_id, principal)
    task = await reader.get(case.task_id) if case.task_id else None
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


@router.get("/stream/{case_id}")
async def stream_case(
    case_id: CaseId,
    request: Request,
    principal: CurrentUser,
    reader: ReaderDep,
) -> EventSourceResponse:
    """Server-Sent Events: `triage_started` (once), `triage_update` (queued, progress, retry),
    then `triage_completed` with the triage, or `triage_failed` with the error."""
    case = await _visible_case(case_id, principal)
    return await limited_stream(request, principal, case_events(request, case, reader))

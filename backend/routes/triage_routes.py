"""/api/triage: submit cases (one or a batch), read a case with its triage, follow it live.

A client sees only its own cases: another owner's case answers 404, as if it did not exist.
"""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Header, Path, Query, Request, status
from pydantic import BaseModel, ConfigDict, EmailStr, Field, ValidationError
from sse_starlette.sse import EventSourceResponse
from starlette.concurrency import run_in_threadpool

from backend.config import settings
from backend.db.models import Case
from backend.enums import TaskState
from backend.errors import (
    BatchNotFound,
    BatchTooLarge,
    CaseNotFound,
    InvalidRequest,
    describe_validation_errors,
)
from backend.routes.deps import CurrentUser, ReaderDep, TriageServiceDep
from backend.routes.task_stream import TaskEvent, follow_task, sse_response
from backend.security.auth import Principal
from backend.services import batch_service
from backend.services.batch_service import BatchCounts
from backend.services.task_status_manager import AsyncTaskStatusReader
from backend.services.triage_service import CaseDraft, SubmittedCase, TriageService

router = APIRouter(prefix="/api/triage", tags=["triage"])

CaseId = Annotated[str, Path(max_length=64)]
BatchId = Annotated[str, Path(max_length=64)]
# How often a batch stream re-reads the counts when no event came (a missed or unpublished
# event must not leave the stream hanging).
BATCH_POLL_S = 2.0
IdempotencyKey = Annotated[str | None, Header(max_length=200)]


class TriageCreate(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    title: str = Field(min_length=1, max_length=300)
    description: str = Field(min_length=1, max_length=20_000)
    client_email: EmailStr | None = None

    def draft(self) -> CaseDraft:
        return CaseDraft(self.title, self.description, self.client_email)


class TriageBatchCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    # Items are validated one by one in the handler, so one bad case does not sink the rest.
    cases: list[Any] = Field(min_length=1)
    # Told once every case is triaged or failed: an e-mail, and/or a signed POST.
    notify_email: EmailStr | None = None
    callback_url: str | None = Field(default=None, min_length=1, max_length=2000)


class TriageAccepted(BaseModel):
    case_id: str
    task_id: str
    created: bool
    # False: accepted while the broker was down; the task is published once it is back
    # (its state reads ACCEPTED until then).
    queued: bool
    status_url: str
    stream_url: str
    task_url: str


class BatchItemError(BaseModel):
    code: str
    message: str


class BatchItemOut(BaseModel):
    index: int
    case_id: str | None = None
    task_id: str | None = None
    created: bool | None = None
    queued: bool | None = None
    status_url: str | None = None
    stream_url: str | None = None
    task_url: str | None = None
    error: BatchItemError | None = None


class TriageBatchAccepted(BaseModel):
    batch_id: str
    batch_url: str
    stream_url: str
    accepted: int
    rejected: int
    items: list[BatchItemOut]


class BatchCaseOut(BaseModel):
    case_id: str
    index: int | None
    status: str
    area: str | None
    urgency: str | None
    error: dict[str, Any] | None


class BatchOut(BaseModel):
    batch_id: str
    status: str
    total: int
    done: int
    failed: int
    pending: int
    created_at: datetime
    completed_at: datetime | None
    items: list[BatchCaseOut]
    # Pass as `offset` for the next page of items; None on the last one.
    next_offset: int | None
    stream_url: str


class CaseOut(BaseModel):
    case_id: str
    status: str
    title: str
    area: str | None
    urgency: str | None
    created_at: datetime
    updated_at: datetime
    task_id: str | None
    # The triage task's state (None once its record has expired).
    state: str | None
    task: dict[str, Any] | None
    triage: dict[str, Any] | None
    status_url: str
    stream_url: str


def _links(case_id: str, task_id: str) -> dict[str, str]:
    return {
        "status_url": f"/api/triage/{case_id}",
        "stream_url": f"/api/triage/stream/{case_id}",
        "task_url": f"/api/tasks/{task_id}",
    }


def _accepted(submitted: SubmittedCase) -> dict[str, Any]:
    return {
        "case_id": submitted.case_id,
        "task_id": submitted.task_id,
        "created": submitted.created,
        "queued": submitted.queued,
        **_links(submitted.case_id, submitted.task_id),
    }


async def _visible_case(service: TriageService, case_id: str, principal: Principal) -> Case:
    case = await run_in_threadpool(service.get_case, case_id)
    if case is None or not principal.may_see(case.owner):
        raise CaseNotFound(case_id)
    return case


@router.post("", status_code=status.HTTP_202_ACCEPTED, response_model=TriageAccepted)
async def submit_case(
    body: TriageCreate,
    principal: CurrentUser,
    service: TriageServiceDep,
    idempotency_key: IdempotencyKey = None,
) -> dict[str, Any]:
    """Create a case and enqueue its triage. The same `Idempotency-Key` from the same user
    returns the same case and task, also under concurrent requests."""
    [submitted] = await run_in_threadpool(
        service.submit,
        owner=principal.user,
        drafts=[(None, body.draft())],
        idempotency_key=idempotency_key,
    )
    return _accepted(submitted)


@router.post(
    "/batch",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=TriageBatchAccepted,
    response_model_exclude_none=True,
)
async def submit_batch(
    body: TriageBatchCreate,
    principal: CurrentUser,
    service: TriageServiceDep,
    idempotency_key: IdempotencyKey = None,
) -> dict[str, Any]:
    """Create up to `TRIAGE_BATCH_MAX` cases as one batch and enqueue their triage.

    Each item is validated alone: invalid items are reported with their `error` and nothing
    is created for them; the valid ones are accepted and make the batch (`total`). A batch
    with no valid item is refused with 422. With `Idempotency-Key`, a replayed batch returns
    the same batch, cases and tasks. `notify_email` / `callback_url` are told once at the end.
    """
    if len(body.cases) > settings.triage_batch_max:
        raise BatchTooLarge(
            f"a batch holds at most {settings.triage_batch_max} cases ({len(body.cases)} given)"
        )
    if body.callback_url is not None:
        batch_service.validate_callback_url(body.callback_url)
    drafts, items = _validated_items(body.cases)
    batch = await run_in_threadpool(
        batch_service.new_batch,
        owner=principal.user,
        idempotency_key=idempotency_key,
        total=len(drafts),
        notify_email=body.notify_email,
        callback_url=body.callback_url,
    )
    submitted = await run_in_threadpool(
        service.submit,
        owner=principal.user,
        drafts=drafts,
        idempotency_key=idempotency_key,
        batch=batch,
    )
    for (index, _), result in zip(drafts, submitted, strict=True):
        items[index] = {"index": index, **_accepted(result)}
    return {
        "batch_id": batch.id,
        **_batch_links(batch.id),
        "accepted": len(submitted),
        "rejected": len(body.cases) - len(submitted),
        "items": [items[i] for i in sorted(items)],
    }


def _validated_items(
    cases: list[Any],
) -> tuple[list[tuple[int, CaseDraft]], dict[int, dict[str, Any]]]:
    """The valid cases as drafts with their positions, and an error item for each other one.
    Raises InvalidRequest when no case is valid."""
    drafts: list[tuple[int, CaseDraft]] = []
    items: dict[int, dict[str, Any]] = {}
    for index, raw in enumerate(cases):
        try:
            drafts.append((index, TriageCreate.model_validate(raw).draft()))
        except ValidationError as exc:
            message = describe_validation_errors(exc.errors(include_input=False))
            items[index] = {
                "index": index,
                "error": {"code": "validation_error", "message": message},
            }
    if not drafts:
        first = "; ".join(f"[{i}] {item['error']['message']}" for i, item in items.items())
        raise InvalidRequest(f"no valid case in the batch: {first}"[:1000])
    return drafts, items


def _batch_links(batch_id: str) -> dict[str, str]:
    return {
        "batch_url": f"/api/triage/batch/{batch_id}",
        "stream_url": f"/api/triage/batch/{batch_id}/stream",
    }


async def _visible_batch(batch_id: str, principal: Principal) -> BatchCounts:
    counts = await run_in_threadpool(batch_service.counts_of, batch_id)
    if counts is None or not principal.may_see(counts.owner):
        raise BatchNotFound(batch_id)
    return counts


@router.get("/batch/{batch_id}", response_model=BatchOut)
async def get_batch(
    batch_id: BatchId,
    principal: CurrentUser,
    offset: Annotated[int, Query(ge=0)] = 0,
    limit: Annotated[int, Query(ge=0, le=batch_service.ITEMS_MAX)] = 100,
) -> dict[str, Any]:
    """The batch's counts and a page of its cases (`status`, `area`, `urgency`, and the
    `error` of a failed one), in submission order."""
    counts = await _visible_batch(batch_id, principal)
    page = await run_in_threadpool(batch_service.items, batch_id, offset=offset, limit=limit)
    more = limit > 0 and offset + len(page) < counts.total
    return {
        **counts.to_dict(),
        "items": page,
        "next_offset": offset + len(page) if more else None,
        "stream_url": _batch_links(batch_id)["stream_url"],
    }


@router.get("/batch/{batch_id}/stream")
async def stream_batch(
    batch_id: BatchId, request: Request, principal: CurrentUser
) -> EventSourceResponse:
    """Server-Sent Events: `batch_progress` with the counts (now, then whenever they change),
    and `batch_completed` with the final counts, after which the stream ends."""
    await _visible_batch(batch_id, principal)
    return sse_response(_batch_events(request, batch_id))


async def _batch_events(request: Request, batch_id: str) -> AsyncIterator[dict[str, str]]:
    pubsub = request.app.state.redis.pubsub()
    await pubsub.subscribe(batch_service.channel(batch_id))
    try:
        # Subscribed before the first read, so no change falls between the two.
        last: dict[str, Any] | None = None
        polled = 0.0
        while not await request.is_disconnected():
            counts = None
            if time.monotonic() - polled >= BATCH_POLL_S:
                counts = await run_in_threadpool(batch_service.counts_of, batch_id)
                polled = time.monotonic()
            else:
                message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=1.0)
                if message is not None:
                    counts = await run_in_threadpool(batch_service.counts_of, batch_id)
            if counts is None:
                continue
            name = "batch_completed" if counts.completed else "batch_progress"
            data = batch_service.event_data(name, counts)
            if data != last:
                last = data
                yield {"event": name, "data": json.dumps(data)}
            if counts.completed:
                return
    finally:
        await pubsub.unsubscribe(batch_service.channel(batch_id))
        await pubsub.aclose()


@router.get("/{case_id}", response_model=CaseOut)
async def get_case(
    case_id: CaseId, principal: CurrentUser, service: TriageServiceDep, reader: ReaderDep
) -> dict[str, Any]:
    """The case, its triage task's state and, once done, the triage."""
    case = await _visible_case(service, case_id, principal)
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
        "triage": case.triage if case.status == "triaged" else None,
        "status_url": f"/api/triage/{case.id}",
        "stream_url": f"/api/triage/stream/{case.id}",
    }


@router.get("/stream/{case_id}")
async def stream_case(
    case_id: CaseId,
    request: Request,
    principal: CurrentUser,
    service: TriageServiceDep,
    reader: ReaderDep,
) -> EventSourceResponse:
    """Server-Sent Events: `triage_started` (once), `triage_update` (queued, progress, retry),
    then `triage_completed` with the triage, or `triage_failed` with the error."""
    case = await _visible_case(service, case_id, principal)
    task_id = case.task_id

    async def events() -> AsyncIterator[dict[str, str]]:
        started = emitted = False
        if task_id:
            async for event in follow_task(
                request.app.state.redis, reader, task_id, is_disconnected=request.is_disconnected
            ):
                name = _event_name(event, started=started)
                started = started or name == "triage_started"
                emitted = True
                data = await _event_data(name, event, case_id, task_id, service, reader)
                yield {"event": name, "data": json.dumps(data)}
        if not emitted and case.status == "triaged":
            # The task record has expired; the case still has its triage.
            yield {"event": "triage_completed", "data": json.dumps(_completed(case, task_id))}

    return sse_response(events())


def _event_name(event: TaskEvent, *, started: bool) -> str:
    if event.state is TaskState.SUCCESS:
        return "triage_completed"
    if event.state.is_final:
        return "triage_failed"
    if event.state in (TaskState.STARTED, TaskState.PROGRESS) and not started:
        return "triage_started"
    return "triage_update"


def _completed(case: Case | None, task_id: str | None) -> dict[str, Any]:
    return {
        "case_id": case.id if case else None,
        "task_id": task_id,
        "state": TaskState.SUCCESS.value,
        "area": case.area if case else None,
        "urgency": case.urgency if case else None,
        "triage": case.triage if case else None,
    }


def _progress(event: TaskEvent) -> dict[str, Any] | None:
    if event.snapshot:
        return event.data.get("progress")  # type: ignore[no-any-return]
    current, total = event.data.get("progress_current"), event.data.get("progress_total")
    if current in (None, ""):
        return None
    return {
        "current": int(current),
        "total": int(total) if total not in (None, "") else None,
        "message": event.data.get("progress_message") or "",
    }


async def _event_data(
    name: str,
    event: TaskEvent,
    case_id: str,
    task_id: str,
    service: TriageService,
    reader: AsyncTaskStatusReader,
) -> dict[str, Any]:
    if name == "triage_completed":
        return _completed(await run_in_threadpool(service.get_case, case_id), task_id)
    data: dict[str, Any] = {
        "case_id": case_id,
        "task_id": task_id,
        "state": event.state.value,
        "event": event.event,
        "progress": _progress(event),
    }
    if name == "triage_failed":
        record = event.data if event.snapshot else await reader.get(task_id)
        data["error"] = (record or {}).get("error")
    return data

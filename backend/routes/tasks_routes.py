"""/api/tasks: submit, read, list, stream, cancel and retry tasks; queue and platform stats;
the dead-letter store (list, replay, discard).

A client sees only its own tasks: another owner's task answers 404, as if it did not exist.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Header, Query, Request, status
from pydantic import BaseModel, ConfigDict, Field
from sse_starlette.sse import EventSourceResponse
from starlette.concurrency import run_in_threadpool

from backend.celery_config import TASK_SPECS
from backend.enums import QueueName, TaskState
from backend.errors import (
    Forbidden,
    InvalidRequest,
    ServiceUnavailable,
    TaskNotFound,
    UnknownQueue,
    UnknownTask,
)
from backend.routes.deps import (
    AsyncTaskServiceDep,
    CurrentUser,
    Operator,
    OutboxDep,
    ReaderDep,
    StatusDep,
    TaskServiceDep,
)
from backend.routes.task_stream import follow_task, sse_response
from backend.security.auth import Principal
from backend.services import dead_letter
from backend.services.celery_task_service import TaskRequest
from backend.services.dead_letter import DeadLetterFilter
from backend.services.outbox import Outbox
from backend.services.task_status_manager import TaskFilter

router = APIRouter(prefix="/api/tasks", tags=["tasks"])


class TaskCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(max_length=200, examples=["triage.classify_case"])
    args: list[Any] = Field(default_factory=list, max_length=50)
    kwargs: dict[str, Any] = Field(default_factory=dict)
    priority: str | None = Field(default=None, examples=["HIGH"])
    queue: str | None = Field(default=None, max_length=50)
    countdown: float | None = Field(default=None, ge=0)
    retry_policy: dict[str, float] | None = None
    correlation_id: str | None = Field(default=None, max_length=100)
    metadata: dict[str, Any] | None = None


class TaskAccepted(BaseModel):
    task_id: str
    created: bool
    # False: accepted while the broker was down, kept in the outbox and published once it is
    # back (the task's state reads ACCEPTED until then).
    queued: bool = True
    status_url: str
    stream_url: str


class TaskStatusOut(BaseModel):
    model_config = ConfigDict(extra="allow")

    task_id: str
    name: str | None
    queue: str | None
    priority: str | None
    state: str | None
    owner: str | None
    created_at: str | None
    started_at: str | None
    finished_at: str | None
    wait_ms: int | None
    runtime_ms: int | None
    attempts: int
    max_attempts: int
    progress: dict[str, Any] | None
    result: Any
    error: dict[str, Any] | None
    worker: str | None
    correlation_id: str | None
    retry_of: str | None = None
    retried_by: str | None = None
    history: list[dict[str, Any]]


class TaskPageOut(BaseModel):
    items: list[TaskStatusOut]
    next_cursor: str | None


class CancelOut(BaseModel):
    task_id: str
    previous_state: str
    state: str


def accepted(task_id: str, created: bool, *, queued: bool = True) -> TaskAccepted:
    return TaskAccepted(
        task_id=task_id,
        created=created,
        queued=queued,
        status_url=f"/api/tasks/{task_id}",
        stream_url=f"/api/tasks/{task_id}/stream",
    )


async def visible_task(reader: ReaderDep, task_id: str, principal: Principal) -> dict[str, Any]:
    record = await reader.get(task_id)
    if record is None or not principal.may_see(record.get("owner")):
        raise TaskNotFound(task_id)
    return record


@router.post("", status_code=status.HTTP_202_ACCEPTED, response_model=TaskAccepted)
async def submit_task(
    body: TaskCreate,
    principal: CurrentUser,
    service: AsyncTaskServiceDep,
    outbox: OutboxDep,
    idempotency_key: Annotated[str | None, Header(max_length=200)] = None,
) -> TaskAccepted:
    """Enqueue a task by name. `Idempotency-Key` makes a repeated request return the first task.

    While Redis is down the task is kept in the outbox and published once Redis is back:
    202 with `queued: false`."""
    spec = TASK_SPECS.get(body.name)
    if spec is None:
        raise UnknownTask(f"unknown task {body.name!r}")
    if principal.role not in spec.submit_roles:
        raise Forbidden(f"role {principal.role.value} may not submit {body.name}")
    req = TaskRequest(
        task_name=body.name,
        args=body.args,
        kwargs=body.kwargs,
        priority=body.priority,
        queue=body.queue,
        countdown=body.countdown,
        retry_policy=body.retry_policy,
        owner=principal.user,
        correlation_id=body.correlation_id,
        idempotency_key=idempotency_key,
        metadata=body.metadata,
    )
    try:
        result = await service.submit(req)
    except ServiceUnavailable:
        # Redis is down: keep the task in the SQL outbox; the relay publishes it later.
        [task_id], queued = await run_in_threadpool(outbox.stage_and_publish, [req])
        return accepted(task_id, True, queued=queued)
    return accepted(result.task_id, result.created)


@router.get("", response_model=TaskPageOut)
async def list_tasks(
    principal: CurrentUser,
    status_manager: StatusDep,
    state: TaskState | None = None,
    name: str | None = Query(default=None, max_length=200),
    queue: QueueName | None = None,
    owner: str | None = Query(default=None, max_length=128),
    since: datetime | None = None,
    limit: int = Query(default=50, ge=1, le=500),
    cursor: str | None = Query(default=None, max_length=100),
) -> dict[str, Any]:
    """Tasks newest first, filtered; follow `next_cursor` for the next page."""
    if not principal.sees_everything:
        owner = principal.user
    flt = TaskFilter(
        state=state.value if state else None,
        name=name,
        queue=queue.value if queue else None,
        owner=owner,
        since_ms=int(since.timestamp() * 1000) if since else None,
    )
    try:
        page = await run_in_threadpool(status_manager.list_tasks, flt, limit=limit, cursor=cursor)
    except ValueError as exc:
        raise InvalidRequest(str(exc)) from None
    return {"items": page.items, "next_cursor": page.next_cursor}


@router.get("/stats")
async def task_stats(_: Operator, status_manager: StatusDep) -> dict[str, Any]:
    """Per queue: depth and oldest wait; per task: counts, success rate, p50/p95/p99; workers;
    the outbox (tasks accepted while Redis was down, not yet published)."""
    stats: dict[str, Any] = await run_in_threadpool(status_manager.stats)
    stats["outbox"] = await run_in_threadpool(Outbox.backlog)
    return stats


@router.get("/queue/{queue_name}")
async def queue_status(queue_name: str, _: Operator, status_manager: StatusDep) -> dict[str, Any]:
    if queue_name not in {q.value for q in QueueName}:
        raise UnknownQueue(f"unknown queue {queue_name!r}")
    info = await run_in_threadpool(status_manager.queue_status, queue_name)
    workers = await run_in_threadpool(status_manager.live_workers)
    info["workers"] = [w["hostname"] for w in workers if queue_name in w.get("queues", [])]
    return info


@router.post("/retry/{task_id}", status_code=status.HTTP_202_ACCEPTED, response_model=TaskAccepted)
async def retry_task(task_id: str, principal: Operator, service: TaskServiceDep) -> TaskAccepted:
    """Run a FAILURE or REVOKED task again as a new task linked to the old one."""
    result = await run_in_threadpool(service.retry, task_id, requested_by=principal.user)
    return accepted(result.task_id, result.created)


# --- dead-letter store (declared before /{task_id}, which would otherwise match) ------------
DeadLetterReason = Literal["failed", "unknown_task", "undecodable"]


class DeadLetterPageOut(BaseModel):
    items: list[dict[str, Any]]
    next_cursor: str | None


class DeadLetterReplayFilter(BaseModel):
    """Which open entries to replay (all given fields must match); oldest first, at most
    DEAD_LETTER_REPLAY_MAX."""

    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(default=None, max_length=200)
    queue: QueueName | None = None
    reason: DeadLetterReason | None = None
    since: datetime | None = None


class ReplayedOut(BaseModel):
    task_id: str
    replayed_as: str
    status_url: str


@router.get("/dead-letter", response_model=DeadLetterPageOut)
async def list_dead_letters(
    _: Operator,
    name: str | None = Query(default=None, max_length=200),
    queue: QueueName | None = None,
    reason: DeadLetterReason | None = None,
    since: datetime | None = None,
    limit: int = Query(default=50, ge=1, le=500),
    cursor: str | None = Query(default=None, max_length=200),
) -> dict[str, Any]:
    """Tasks that failed for good and messages no worker could run, newest first."""
    flt = DeadLetterFilter(
        name=name, queue=queue.value if queue else None, reason=reason, since=since
    )
    page = await run_in_threadpool(dead_letter.list_entries, flt, limit=limit, cursor=cursor)
    return {"items": page.items, "next_cursor": page.next_cursor}


@router.post("/dead-letter/replay", status_code=status.HTTP_202_ACCEPTED)
async def replay_dead_letters(
    body: DeadLetterReplayFilter, principal: Operator, service: TaskServiceDep
) -> dict[str, Any]:
    """Replay every open entry that matches; returns the new task ids (and what was skipped)."""
    flt = DeadLetterFilter(
        name=body.name,
        queue=body.queue.value if body.queue else None,
        reason=body.reason,
        since=body.since,
    )
    outcome = await run_in_threadpool(
        dead_letter.replay_many, flt, requested_by=principal.user, service=service
    )
    return {"task_ids": [r["new_task_id"] for r in outcome["replayed"]], **outcome}


@router.post(
    "/dead-letter/{task_id}/replay",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=ReplayedOut,
)
async def replay_dead_letter(
    task_id: str, principal: Operator, service: TaskServiceDep
) -> ReplayedOut:
    """Run a dead-lettered task again as a new task linked to it (409 if replayed or discarded)."""
    new_id = await run_in_threadpool(
        dead_letter.replay, task_id, requested_by=principal.user, service=service
    )
    return ReplayedOut(task_id=task_id, replayed_as=new_id, status_url=f"/api/tasks/{new_id}")


@router.delete("/dead-letter/{task_id}")
async def discard_dead_letter(task_id: str, _: Operator) -> dict[str, Any]:
    """Discard an entry: it leaves the list and can no longer be replayed."""
    return await run_in_threadpool(dead_letter.discard, task_id)


@router.get("/{task_id}", response_model=TaskStatusOut)
async def get_task(task_id: str, principal: CurrentUser, reader: ReaderDep) -> dict[str, Any]:
    return await visible_task(reader, task_id, principal)


@router.delete("/{task_id}", response_model=CancelOut)
async def cancel_task(
    task_id: str,
    principal: CurrentUser,
    reader: ReaderDep,
    service: TaskServiceDep,
    terminate: bool = False,
) -> CancelOut:
    """Cancel: a queued task never starts. A running task is stopped only with `terminate=true`
    (operators only)."""
    await visible_task(reader, task_id, principal)
    if terminate and not principal.sees_everything:
        raise Forbidden("only operators may terminate a running task")
    previous = await run_in_threadpool(
        service.cancel, task_id, terminate=terminate, requested_by=principal.user
    )
    return CancelOut(task_id=task_id, previous_state=previous, state=TaskState.REVOKED.value)


@router.get("/{task_id}/stream")
async def stream_task(
    task_id: str, request: Request, principal: CurrentUser, reader: ReaderDep
) -> EventSourceResponse:
    """Server-Sent Events: a `status` snapshot, then one event per transition until it finishes."""
    await visible_task(reader, task_id, principal)

    async def events() -> AsyncIterator[dict[str, str]]:
        async for event in follow_task(
            request.app.state.redis, reader, task_id, is_disconnected=request.is_disconnected
        ):
            yield {"event": event.event, "data": event.raw}

    return sse_response(events())

"""/api/tasks: submit, read, list, stream, cancel and retry tasks; queue and platform stats.

A client sees only its own tasks: another owner's task answers 404, as if it did not exist.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any

from fastapi import APIRouter, Query, Request, status
from sse_starlette.sse import EventSourceResponse
from starlette.concurrency import run_in_threadpool

from backend.api.deps import (
    AsyncTaskServiceDep,
    CurrentUser,
    IdempotencyKey,
    Operator,
    OutboxDep,
    ReaderDep,
    StatusDep,
    TaskServiceDep,
)
from backend.api.schemas.tasks import (
    CancelOut,
    TaskAccepted,
    TaskCreate,
    TaskPageOut,
    TaskStatusOut,
    accepted,
)
from backend.api.streams import follow_task, sse_response
from backend.core.enums import QueueName, TaskState
from backend.core.errors import (
    Forbidden,
    InvalidRequest,
    ServiceUnavailable,
    TaskNotFound,
    UnknownQueue,
    UnknownTask,
)
from backend.core.security.tokens import Principal
from backend.platform.catalogue import TASK_SPECS
from backend.platform.outbox import Outbox
from backend.platform.status import TaskFilter
from backend.platform.submissions import TaskRequest

router = APIRouter(prefix="/api/tasks", tags=["tasks"])


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
    idempotency_key: IdempotencyKey = None,
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

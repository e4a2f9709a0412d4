"""/api/tasks: submit, read, list, stream, cancel and retry tasks; queue and platform stats.

A client sees only its own tasks: another owner's task answers 404, as if it did not exist
(and the refusal is audited). A client submits only tasks whose row arguments it owns, on the
spec's queue, at most at the spec's `client_max_priority`.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any

from fastapi import APIRouter, Query, Request, status
from sse_starlette.sse import EventSourceResponse
from starlette.concurrency import run_in_threadpool

from backend.api.deps import (
    AuditCtx,
    CanRetry,
    CurrentUser,
    IdempotencyKey,
    Operator,
    ReaderDep,
    StatusDep,
    TaskServiceDep,
    audit_context_of,
)
from backend.api.openapi import STREAM_RESPONSES
from backend.api.schemas.tasks import (
    CancelOut,
    TaskAccepted,
    TaskCreate,
    TaskPageOut,
    TaskStatusOut,
    accepted,
)
from backend.api.streams import follow_task
from backend.api.streams.limits import last_event_id, limited_stream
from backend.core.enums import (
    AuditAction,
    AuditOutcome,
    Priority,
    QueueName,
    ResourceType,
    TaskState,
)
from backend.core.errors import (
    Forbidden,
    InvalidRequest,
    NotFound,
    ServiceUnavailable,
    TaskNotFound,
    UnknownQueue,
    UnknownTask,
)
from backend.core.security.tokens import Principal
from backend.platform.audit import AuditContext
from backend.platform.catalogue import TASK_SPECS, TaskSpec
from backend.platform.enqueue import AsyncCeleryTaskService, CeleryTaskService
from backend.platform.outbox import Outbox
from backend.platform.records import for_client
from backend.platform.status import TaskFilter
from backend.platform.submissions import TaskRequest, parse_priority
from backend.services.ownership import owners_of

router = APIRouter(prefix="/api/tasks", tags=["tasks"])


async def visible_task(
    reader: ReaderDep, task_id: str, principal: Principal, ctx: AuditContext | None = None
) -> dict[str, Any]:
    record = await reader.get(task_id)
    if record is None:
        raise TaskNotFound(task_id)
    if not principal.may_see(record.get("owner")):
        if ctx is not None:
            await ctx.record_async(
                AuditAction.READ_TASK,
                ResourceType.TASK,
                task_id,
                AuditOutcome.REFUSED,
            )
        raise TaskNotFound(task_id)
    return record


def shown_to(principal: Principal, record: dict[str, Any]) -> dict[str, Any]:
    """Operators see a task record whole; clients without host names or raw error text."""
    return record if principal.sees_everything else for_client(record)


async def _check_client_submission(
    spec: TaskSpec, body: TaskCreate, principal: Principal, ctx: AuditContext
) -> None:
    """A client's task: the spec's queue, a priority within bounds, and only its own rows."""
    if body.queue is not None and body.queue != spec.queue.value:
        raise Forbidden(f"{spec.name} runs on queue {spec.queue.value}; clients may not choose")
    priority = parse_priority(body.priority, spec.default_priority)
    order = list(Priority)  # LOW, NORMAL, HIGH, CRITICAL
    if order.index(priority) > order.index(spec.client_max_priority):
        raise Forbidden(f"clients may ask for at most {spec.client_max_priority.value}")
    if not spec.owned_args:
        return
    if body.kwargs or len(body.args) != len(spec.owned_args):
        raise InvalidRequest(f"{spec.name} takes exactly {len(spec.owned_args)} id argument(s)")
    for kind, value in zip(spec.owned_args, body.args, strict=True):
        if not isinstance(value, str) or not 1 <= len(value) <= 64:
            raise InvalidRequest(f"{spec.name}: each argument is a {kind.value} id")
        owners = await run_in_threadpool(owners_of, kind, [value])
        if owners.get(value) != principal.user:
            if value in owners:  # someone else's: audited as refused, answered as missing
                await ctx.record_async(AuditAction.SUBMIT_TASK, kind, value, AuditOutcome.REFUSED)
            raise NotFound(f"{kind.value} {value} not found")


@router.post("", status_code=status.HTTP_202_ACCEPTED, response_model=TaskAccepted)
async def submit_task(
    request: Request,
    body: TaskCreate,
    principal: CurrentUser,
    idempotency_key: IdempotencyKey = None,
) -> TaskAccepted:
    """Enqueue a task by name. `Idempotency-Key` makes a repeated request return the first task.

    While Redis is down the task is kept in the outbox and published once Redis is back:
    202 with `queued: false`."""
    # The hot path: the audit context and the services are taken here, not as four more
    # dependencies for FastAPI to solve per request (issue 13).
    ctx = audit_context_of(request, principal)
    state = request.app.state
    service: AsyncCeleryTaskService = state.async_task_service
    tasks: CeleryTaskService = state.task_service
    outbox: Outbox = state.outbox
    spec = TASK_SPECS.get(body.name)
    if spec is None:
        raise UnknownTask(f"unknown task {body.name!r}")
    if principal.role not in spec.submit_roles:
        raise Forbidden(f"role {principal.role.value} may not submit {body.name}")
    if not principal.sees_everything:
        await _check_client_submission(spec, body, principal, ctx)
    req = TaskRequest(
        task_name=body.name,
        args=body.args,
        kwargs=body.kwargs,
        priority=body.priority,
        queue=body.queue,
        countdown=body.countdown,
        retry_policy=body.retry_policy,
        owner=principal.user,
        owner_role=principal.role.value,
        correlation_id=body.correlation_id,
        idempotency_key=idempotency_key,
        metadata=body.metadata,
    )
    try:
        result = await service.submit(req)
    except ServiceUnavailable:
        # Redis is down: keep the task in the SQL outbox; the relay publishes it later.
        [task_id], queued = await run_in_threadpool(outbox.stage_and_publish, [req])
        await _audit_submission(ctx, tasks, task_id, created=True)
        return accepted(task_id, True, queued=queued)
    await _audit_submission(ctx, tasks, result.task_id, created=result.created)
    return accepted(result.task_id, result.created)


async def _audit_submission(
    ctx: AuditContext, tasks: CeleryTaskService, task_id: str, *, created: bool
) -> None:
    """Audit a submission; a task that cannot be audited is cancelled and the request fails."""
    try:
        await ctx.record_async(AuditAction.SUBMIT_TASK, ResourceType.TASK, task_id)
    except Exception:
        if created:
            await run_in_threadpool(tasks.cancel, task_id, requested_by=ctx.actor)
        raise ServiceUnavailable("the audit trail is unavailable; nothing was submitted") from None


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
    return {"items": [shown_to(principal, r) for r in page.items], "next_cursor": page.next_cursor}


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
async def retry_task(
    task_id: str, principal: CanRetry, ctx: AuditCtx, service: TaskServiceDep
) -> TaskAccepted:
    """Run a FAILURE or REVOKED task again as a new task linked to the old one."""
    result = await run_in_threadpool(
        ctx.run, AuditAction.RETRY_TASK, ResourceType.TASK, task_id,
        service.retry, task_id, requested_by=principal.user,
    )  # fmt: skip
    return accepted(result.task_id, result.created)


@router.get("/{task_id}", response_model=TaskStatusOut)
async def get_task(
    task_id: str, principal: CurrentUser, ctx: AuditCtx, reader: ReaderDep
) -> dict[str, Any]:
    return shown_to(principal, await visible_task(reader, task_id, principal, ctx))


@router.delete("/{task_id}", response_model=CancelOut)
async def cancel_task(
    task_id: str,
    principal: CurrentUser,
    ctx: AuditCtx,
    reader: ReaderDep,
    service: TaskServiceDep,
    terminate: bool = False,
) -> CancelOut:
    """Cancel: a queued task never starts. A running task is stopped only with `terminate=true`
    (operators only)."""
    await visible_task(reader, task_id, principal, ctx)
    if terminate and not principal.sees_everything:
        raise Forbidden("only operators may terminate a running task")
    previous = await run_in_threadpool(
        ctx.run, AuditAction.CANCEL_TASK, ResourceType.TASK, task_id,
        service.cancel, task_id, terminate=terminate, requested_by=principal.user,
    )  # fmt: skip
    return CancelOut(task_id=task_id, previous_state=previous, state=TaskState.REVOKED.value)


@router.get("/{task_id}/stream", response_class=EventSourceResponse, responses=STREAM_RESPONSES)
async def stream_task(
    task_id: str, request: Request, principal: CurrentUser, ctx: AuditCtx, reader: ReaderDep
) -> EventSourceResponse:
    """Server-Sent Events: a `status` snapshot, then one event per transition until it finishes."""
    await visible_task(reader, task_id, principal, ctx)
    seen = last_event_id(request)

    async def events() -> AsyncIterator[dict[str, str]]:
        # Event ids count the task's history: a reconnect with `Last-Event-ID` equal to the
        # snapshot's id skips a snapshot the client has already seen.
        seq = 0
        async for event in follow_task(
            request.app.state.redis, reader, task_id, is_disconnected=request.is_disconnected
        ):
            if event.snapshot:
                seq = len(event.data.get("history") or [])
                if seen == str(seq):
                    continue
            else:
                seq += 1
            data = event.raw if principal.sees_everything else json.dumps(for_client(event.data))
            yield {"event": event.event, "data": data, "id": str(seq)}

    return await limited_stream(request, principal, events())

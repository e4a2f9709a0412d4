"""Operators' controls: queues (list, pause, resume; purge is for admins), breakers (list;
open, close and reset are for admins), rate limits (read only: they are settings), recent
batches, the outbox backlog, the platform's throughput over a window, and the audit of control
actions. Each action is logged, kept in the control stream and recorded in the SQL audit trail
with who did it (backend/platform/controls.py)."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Query, Request
from starlette.concurrency import run_in_threadpool

from backend.api.deps import AuditCtx, CanChangeBreakers, CanPurgeQueues, Operator, StatusDep
from backend.core.enums import QueueName
from backend.core.settings import settings
from backend.platform import controls
from backend.platform.controls import QueueControls
from backend.platform.counters import deferral_counters
from backend.platform.outbox import Outbox
from backend.resilience.breakers import breaker_states
from backend.services import batches

router = APIRouter(prefix="/api", tags=["controls"])

QueueAction = Literal["pause", "resume"]
BreakerActionPath = Literal["open", "close", "reset"]


def _queue_controls(request: Request) -> QueueControls:
    return QueueControls(request.app.state.task_service.redis)


@router.get("/queues")
async def list_queues(_: Operator, status_manager: StatusDep, request: Request) -> dict[str, Any]:
    """Every queue: depth per priority, oldest wait, paused or not, and the workers serving it."""

    def read() -> dict[str, Any]:
        queues = status_manager.queues_status()
        paused = _queue_controls(request).paused()
        workers = status_manager.live_workers()
        for name, info in queues.items():
            info["paused"] = name in paused
            info["workers"] = [w["hostname"] for w in workers if name in (w.get("queues") or [])]
        return {"queues": [queues[q.value] for q in QueueName]}

    return await run_in_threadpool(read)


# Before `/queues/{name}/{action}`: purge needs its own permission (admins).
@router.post("/queues/{name}/purge")
async def purge_queue(
    name: str, _: CanPurgeQueues, ctx: AuditCtx, request: Request
) -> dict[str, Any]:
    """Admins: remove the queue's waiting messages; their tasks become REVOKED. Audited."""
    redis_client = request.app.state.task_service.redis
    return await run_in_threadpool(controls.control_queue, redis_client, name, "purge", ctx)


@router.post("/queues/{name}/{action}")
async def control_queue(
    name: str, action: QueueAction, _: Operator, ctx: AuditCtx, request: Request
) -> dict[str, Any]:
    """`pause` (messages stay; workers stop taking them) or `resume`. Audited."""
    redis_client = request.app.state.task_service.redis
    return await run_in_threadpool(controls.control_queue, redis_client, name, action, ctx)


@router.get("/breakers")
async def list_breakers(_: Operator, request: Request) -> dict[str, Any]:
    states = await run_in_threadpool(breaker_states, request.app.state.task_service.redis)
    return {"breakers": [{"breaker": name, **info} for name, info in states.items()]}


@router.post("/breakers/{name}/{action}")
async def control_breaker(
    name: str, action: BreakerActionPath, _: CanChangeBreakers, ctx: AuditCtx, request: Request
) -> dict[str, Any]:
    """Admins: `open` (held open until closed), `close`, or `reset` (closed, counters
    cleared). Audited."""
    return await run_in_threadpool(
        controls.change_breaker, request.app.state.task_service.redis, name, action, ctx
    )


@router.get("/limits")
async def rate_limits(_: Operator, request: Request) -> dict[str, Any]:
    """The shared rate limits per external service and how often each deferred a task. Read
    only: limits are settings (RATE_LIMITS), changed by a restart, so no route needs
    `change_limits` (reserved for admins)."""
    deferred = await run_in_threadpool(deferral_counters, request.app.state.task_service.redis)
    return {
        "limits": [
            {
                "service": service,
                "limit": limit,
                "per_key": settings.limits.rate_limits_per_key.get(service),
                "deferred_by_limit": deferred.get(("rate_limit", service), 0),
                "deferred_by_breaker": deferred.get(("breaker", service), 0),
            }
            for service, limit in sorted(settings.limits.rate_limits.items())
        ]
    }


@router.get("/batches")
async def recent_batches(
    _: Operator, limit: int = Query(default=20, ge=1, le=200)
) -> dict[str, Any]:
    """The newest batches with their counts (operators; each batch's own page has its cases)."""
    return {"items": await run_in_threadpool(batches.recent, limit)}


@router.get("/outbox")
async def outbox_status(_: Operator) -> dict[str, Any]:
    """Tasks accepted while Redis was down and not yet published: how many, the oldest's age."""
    return await run_in_threadpool(Outbox.backlog)


@router.get("/throughput")
async def throughput(
    _: Operator, status_manager: StatusDep, minutes: int = Query(default=60, ge=1, le=120)
) -> dict[str, Any]:
    """Finished tasks per minute by final state, oldest minute first (the console's chart)."""
    return {"minutes": await run_in_threadpool(status_manager.throughput, minutes)}


@router.get("/controls/audit")
async def control_audit(
    _: Operator, request: Request, limit: int = Query(default=50, ge=1, le=500)
) -> dict[str, Any]:
    """The newest control actions: who paused, resumed or purged what, and breaker changes."""
    entries = await run_in_threadpool(
        controls.audit_entries, request.app.state.task_service.redis, limit
    )
    return {"items": entries}

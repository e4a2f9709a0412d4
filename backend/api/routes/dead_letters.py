"""/api/tasks/dead-letter: the dead-letter store. Operators list (arguments masked) and
replay; admins also discard and may read the raw arguments (`?raw=true`, audited).

Included in the app before the tasks router, whose `/api/tasks/{task_id}` would otherwise
take `/api/tasks/dead-letter` for a task id.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import APIRouter, Query, status
from starlette.concurrency import run_in_threadpool

from backend.api.deps import (
    AuditCtx,
    CanDiscard,
    CanReadDeadLetters,
    CanReplay,
    TaskServiceDep,
)
from backend.api.schemas.dead_letters import DeadLetterPageOut, DeadLetterReplayFilter, ReplayedOut
from backend.core.enums import (
    AuditAction,
    AuditOutcome,
    DeadLetterReason,
    QueueName,
    ResourceType,
)
from backend.core.errors import Forbidden
from backend.core.security.permissions import Permission, allowed
from backend.platform import dead_letters
from backend.platform.dead_letters import DeadLetterFilter

router = APIRouter(prefix="/api/tasks/dead-letter", tags=["dead letters"])


@router.get("", response_model=DeadLetterPageOut)
async def list_dead_letters(
    principal: CanReadDeadLetters,
    ctx: AuditCtx,
    name: str | None = Query(default=None, max_length=200),
    queue: QueueName | None = None,
    reason: DeadLetterReason | None = None,
    since: datetime | None = None,
    limit: int = Query(default=50, ge=1, le=500),
    cursor: str | None = Query(default=None, max_length=200),
    raw: bool = Query(default=False, description="unmasked arguments (admins; audited)"),
) -> dict[str, Any]:
    """Tasks that failed for good and messages no worker could run, newest first. Arguments
    are masked (ids and numbers shown) unless an admin asks for `raw`, which is audited."""
    if raw:
        outcome = (
            AuditOutcome.OK
            if allowed(principal.role, Permission.READ_DEAD_LETTER_ARGS)
            else AuditOutcome.REFUSED
        )
        await ctx.record_async(
            AuditAction.READ_DEAD_LETTER_ARGS,
            ResourceType.DEAD_LETTER,
            None,
            outcome,
        )
        if outcome is AuditOutcome.REFUSED:
            raise Forbidden("only admins may read dead letters' raw arguments")
    flt = DeadLetterFilter(
        name=name, queue=queue.value if queue else None, reason=reason, since=since
    )
    page = await run_in_threadpool(
        dead_letters.list_entries, flt, limit=limit, cursor=cursor, raw=raw
    )
    return {"items": page.items, "next_cursor": page.next_cursor}


@router.post("/replay", status_code=status.HTTP_202_ACCEPTED)
async def replay_dead_letters(
    body: DeadLetterReplayFilter, principal: CanReplay, ctx: AuditCtx, service: TaskServiceDep
) -> dict[str, Any]:
    """Replay every open entry that matches; returns the new task ids (and what was skipped)."""
    flt = DeadLetterFilter(
        name=body.name,
        queue=body.queue.value if body.queue else None,
        reason=body.reason,
        since=body.since,
    )
    outcome = await run_in_threadpool(
        dead_letters.replay_many, flt, requested_by=principal.user, service=service, audit=ctx
    )
    return {"task_ids": [r["new_task_id"] for r in outcome["replayed"]], **outcome}


@router.post(
    "/{task_id}/replay",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=ReplayedOut,
)
async def replay_dead_letter(
    task_id: str, principal: CanReplay, ctx: AuditCtx, service: TaskServiceDep
) -> ReplayedOut:
    """Run a dead-lettered task again as a new task linked to it (409 if replayed or discarded)."""
    new_id = await run_in_threadpool(
        dead_letters.replay, task_id, requested_by=principal.user, service=service, audit=ctx
    )
    return ReplayedOut(task_id=task_id, replayed_as=new_id, status_url=f"/api/tasks/{new_id}")


@router.delete("/{task_id}")
async def discard_dead_letter(task_id: str, _: CanDiscard, ctx: AuditCtx) -> dict[str, Any]:
    """Discard an entry (admins): it leaves the list and can no longer be replayed."""
    return await run_in_threadpool(dead_letters.discard, task_id, ctx)

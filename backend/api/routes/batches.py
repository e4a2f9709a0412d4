"""/api/triage/batch: submit up to TRIAGE_BATCH_MAX cases as one batch, read its counts and
items, follow it live. A client sees only its own batches (404 otherwise)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request, status
from pydantic import ValidationError
from sse_starlette.sse import EventSourceResponse
from starlette.concurrency import run_in_threadpool

from backend.api.deps import AuditCtx, CurrentUser, IdempotencyKey, TaskServiceDep
from backend.api.openapi import STREAM_RESPONSES
from backend.api.quotas import charge_cases_and_recipients
from backend.api.routes.triage import accepted_case
from backend.api.schemas.triage import (
    BatchOut,
    TriageBatchAccepted,
    TriageBatchCreate,
    TriageCreate,
)
from backend.api.streams import batch_events
from backend.api.streams.limits import limited_stream
from backend.core.errors import (
    BatchNotFound,
    BatchTooLarge,
    InvalidRequest,
    describe_validation_errors,
)
from backend.core.security.tokens import Principal
from backend.core.settings import settings
from backend.services import batches, triage, webhooks
from backend.services.batches import BatchCounts
from backend.services.triage import CaseDraft

router = APIRouter(prefix="/api/triage/batch", tags=["batches"])

BatchId = Annotated[str, Path(max_length=64)]


@router.post(
    "",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=TriageBatchAccepted,
    response_model_exclude_none=True,
)
async def submit_batch(
    body: TriageBatchCreate,
    principal: CurrentUser,
    ctx: AuditCtx,
    tasks: TaskServiceDep,
    idempotency_key: IdempotencyKey = None,
) -> dict[str, Any]:
    """Create up to `TRIAGE_BATCH_MAX` cases as one batch and enqueue their triage.

    Each item is validated alone: invalid items are reported with their `error` and nothing
    is created for them; the valid ones are accepted and make the batch (`total`). A batch
    with no valid item is refused with 422. With `Idempotency-Key`, a replayed batch returns
    the same batch, cases and tasks. `notify_email` / `callback_url` are told once at the end.
    """
    if len(body.cases) > settings.triage.batch_max:
        raise BatchTooLarge(
            f"a batch holds at most {settings.triage.batch_max} cases ({len(body.cases)} given)"
        )
    if body.callback_url is not None:
        webhooks.validate_callback_url(body.callback_url)
    drafts, items = _validated_items(body.cases)
    addresses = [d.client_email for _, d in drafts] + [body.notify_email]
    await charge_cases_and_recipients(principal, tasks, len(drafts), addresses)
    batch = await run_in_threadpool(
        batches.new_batch,
        owner=principal.user,
        idempotency_key=idempotency_key,
        total=len(drafts),
        notify_email=body.notify_email,
        callback_url=body.callback_url,
    )
    submitted = await run_in_threadpool(
        triage.submit_cases,
        tasks,
        owner=principal.user,
        drafts=drafts,
        idempotency_key=idempotency_key,
        batch=batch,
        audit=ctx,
    )
    for (index, _), result in zip(drafts, submitted, strict=True):
        items[index] = {"index": index, **accepted_case(result)}
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
    counts = await run_in_threadpool(batches.counts_of, batch_id)
    if counts is None or not principal.may_see(counts.owner):
        raise BatchNotFound(batch_id)
    return counts


@router.get("/{batch_id}", response_model=BatchOut)
async def get_batch(
    batch_id: BatchId,
    principal: CurrentUser,
    offset: Annotated[int, Query(ge=0)] = 0,
    limit: Annotated[int, Query(ge=0, le=batches.ITEMS_MAX)] = 100,
) -> dict[str, Any]:
    """The batch's counts and a page of its cases (`status`, `area`, `urgency`, and the
    `error` of a failed one), in submission order."""
    counts = await _visible_batch(batch_id, principal)
    page = await run_in_threadpool(batches.items, batch_id, offset=offset, limit=limit)
    more = limit > 0 and offset + len(page) < counts.total
    return {
        **counts.to_dict(),
        "items": page,
        "next_offset": offset + len(page) if more else None,
        "stream_url": _batch_links(batch_id)["stream_url"],
    }


@router.get("/{batch_id}/stream", response_class=EventSourceResponse, responses=STREAM_RESPONSES)
async def stream_batch(
    batch_id: BatchId, request: Request, principal: CurrentUser
) -> EventSourceResponse:
    """Server-Sent Events: `batch_progress` with the counts (now, then whenever they change),
    and `batch_completed` with the final counts, after which the stream ends."""
    await _visible_batch(batch_id, principal)
    return await limited_stream(request, principal, batch_events(request, batch_id))

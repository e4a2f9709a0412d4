"""Batches of cases: the batch record, its counts, its end and the callbacks it owes.

Counts are recomputed from the cases' statuses, never incremented, in the transaction that
changes a case, under a lock on the batch row: a redelivered or retried task recounts its case
instead of counting it twice, and the last of two concurrent transactions sees both cases.
Only one transaction can flip `running` to `completed`; that one stages the completion
callbacks (e-mail, webhook) in the outbox, so they are published exactly once even when the
worker dies right after the commit.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, cast

from redis.exceptions import RedisError
from sqlalchemy import CursorResult, func, select, update
from sqlalchemy.orm import Session

from backend.adapters.redis_clients import get_redis
from backend.core.clock import rfc3339
from backend.core.db.models import Batch, Case, DeadLetter, utcnow
from backend.core.db.session import session_scope
from backend.core.enums import BatchEvent, BatchStatus, CaseStatus, NotificationKind
from backend.core.errors import Conflict
from backend.core.keys import keys
from backend.core.logging import get_logger
from backend.core.security.ids import derived_uuid
from backend.platform.enqueue import CeleryTaskService
from backend.platform.outbox import Outbox, stage
from backend.platform.submissions import TaskRequest

log = get_logger(__name__)

ITEMS_MAX = 1000
_CANCELLED = {"type": "TaskRevoked", "message": "the triage task was cancelled or lost"}


@dataclass(frozen=True)
class BatchCounts:
    batch_id: str
    owner: str
    total: int
    done: int
    failed: int
    status: str
    created_at: datetime
    completed_at: datetime | None

    @classmethod
    def of(cls, batch: Batch) -> BatchCounts:
        return cls(
            batch.id,
            batch.owner,
            batch.total,
            batch.done,
            batch.failed,
            batch.status,
            batch.created_at,
            batch.completed_at,
        )

    @property
    def completed(self) -> bool:
        return self.status == BatchStatus.COMPLETED

    def to_dict(self) -> dict[str, Any]:
        return {
            "batch_id": self.batch_id,
            "total": self.total,
            "done": self.done,
            "failed": self.failed,
            "pending": max(0, self.total - self.done - self.failed),
            "status": self.status,
            "created_at": rfc3339(self.created_at),
            "completed_at": rfc3339(self.completed_at) if self.completed_at else None,
        }


@dataclass(frozen=True)
class Settled:
    """A batch's counts after a case changed; `staged` are the callbacks to publish."""

    counts: BatchCounts
    staged: list[TaskRequest] = field(default_factory=list)


# --- creating ---------------------------------------------------------------------------------


def batch_id_for(owner: str, idempotency_key: str | None) -> str:
    """The batch a user's idempotency key stands for (a fresh id without a key)."""
    if idempotency_key is None:
        return str(uuid.uuid4())
    return derived_uuid("batch", owner, idempotency_key)


def new_batch(
    *,
    owner: str,
    idempotency_key: str | None,
    total: int,
    notify_email: str | None,
    callback_url: str | None,
) -> Batch:
    """The batch row to submit with its cases. A replay must ask for the same callbacks."""
    batch_id = batch_id_for(owner, idempotency_key)
    if idempotency_key is not None:
        existing = get_batch(batch_id)
        if existing is not None and (existing.notify_email, existing.callback_url) != (
            notify_email,
            callback_url,
        ):
            raise Conflict("Idempotency-Key was already used for a batch with other callbacks")
    return Batch(
        id=batch_id,
        owner=owner,
        total=total,
        done=0,
        failed=0,
        status=BatchStatus.RUNNING,
        notify_email=notify_email,
        callback_url=callback_url,
        created_at=utcnow(),
    )


# --- settling ---------------------------------------------------------------------------------


def _count(batch_id: str, status: str) -> Any:
    return (
        select(func.count())
        .select_from(Case)
        .where(Case.batch_id == batch_id, Case.status == status)
        .scalar_subquery()
    )


def settle(session: Session, batch_id: str) -> Settled | None:
    """Recount the batch from its cases in `session` (which holds the case's change) and
    complete it if every case is done or failed. None if the batch does not exist."""
    session.flush()
    # Locked before counting (PostgreSQL; SQLite serialises writers anyway), so the count
    # below sees every case committed by an earlier holder of the lock.
    locked = select(Batch.id).where(Batch.id == batch_id).with_for_update()
    if session.scalar(locked) is None:
        return None
    session.execute(
        update(Batch)
        .where(Batch.id == batch_id)
        .values(
            done=_count(batch_id, CaseStatus.TRIAGED), failed=_count(batch_id, CaseStatus.FAILED)
        )
        .execution_options(synchronize_session=False)
    )
    completion = cast(
        CursorResult[Any],
        session.execute(
            update(Batch)
            .where(
                Batch.id == batch_id,
                Batch.status == BatchStatus.RUNNING,
                Batch.done + Batch.failed >= Batch.total,
            )
            .values(status=BatchStatus.COMPLETED, completed_at=utcnow())
            .execution_options(synchronize_session=False)
        ),
    )
    batch = session.get(Batch, batch_id, populate_existing=True)
    assert batch is not None
    staged = stage(session, _callback_tasks(batch)) if completion.rowcount == 1 else []
    return Settled(BatchCounts.of(batch), staged)


def _callback_tasks(batch: Batch) -> list[TaskRequest]:
    tasks = []
    if batch.notify_email:
        tasks.append(
            TaskRequest(
                "notifications.send_email",
                [NotificationKind.BATCH_COMPLETED, batch.id],
                owner=batch.owner,
                correlation_id=batch.id,
                idempotency_key=f"batch_completed:{batch.id}",
            )
        )
    if batch.callback_url:
        tasks.append(
            TaskRequest(
                "notifications.send_webhook",
                [batch.id],
                owner=batch.owner,
                correlation_id=batch.id,
                idempotency_key=f"batch_completed:{batch.id}:webhook",
            )
        )
    return tasks


def case_owner(case_id: str) -> str | None:
    with session_scope() as session:
        case = session.get(Case, case_id)
        return case.owner if case is not None else None


def mark_case_failed(case_id: str) -> Settled | None:
    """A case whose triage failed for good (or was cancelled): `failed`, unless it was
    triaged already; its batch is recounted. None when the case has no batch."""
    with session_scope() as session:
        case = session.get(Case, case_id)
        if case is None:
            return None
        if case.status != CaseStatus.TRIAGED:
            case.status = CaseStatus.FAILED
        return settle(session, case.batch_id) if case.batch_id else None


def announce(settled: Settled | None, tasks: CeleryTaskService) -> None:
    """After the commit: publish the staged callbacks and the live event. Neither may fail
    the caller: the outbox relay publishes what is left, and the stream polls the database."""
    if settled is None:
        return
    Outbox(tasks).publish(settled.staged)
    counts = settled.counts
    event = BatchEvent.COMPLETED if counts.completed else BatchEvent.PROGRESS
    try:
        get_redis().publish(channel(counts.batch_id), json.dumps(event_data(event, counts)))
    except RedisError as exc:
        log.warning("batch_event_not_published", error=type(exc).__name__)


def channel(batch_id: str) -> str:
    """Pub/sub channel of one batch's count changes."""
    return keys.events_batch(batch_id)


def event_data(event: str, counts: BatchCounts) -> dict[str, Any]:
    return {"event": event, **counts.to_dict()}


# --- reading ----------------------------------------------------------------------------------


def get_batch(batch_id: str) -> Batch | None:
    with session_scope() as session:
        return session.get(Batch, batch_id)


def counts_of(batch_id: str) -> BatchCounts | None:
    batch = get_batch(batch_id)
    return BatchCounts.of(batch) if batch is not None else None


def items(batch_id: str, *, offset: int, limit: int) -> list[dict[str, Any]]:
    """The batch's cases in submission order, with the error of each failed one."""
    with session_scope() as session:
        rows = session.execute(
            select(Case.id, Case.batch_index, Case.status, Case.area, Case.urgency, Case.task_id)
            .where(Case.batch_id == batch_id)
            .order_by(Case.batch_index)
            .offset(offset)
            .limit(min(limit, ITEMS_MAX))
        ).all()
        failed = [row.task_id for row in rows if row.status == "failed" and row.task_id]
        errors = {
            entry.task_id: {"type": entry.error_type, "message": entry.error_message}
            for entry in session.scalars(select(DeadLetter).where(DeadLetter.task_id.in_(failed)))
        }
    return [
        {
            "case_id": row.id,
            "index": row.batch_index,
            "status": row.status,
            "area": row.area,
            "urgency": row.urgency,
            "error": errors.get(row.task_id or "", _CANCELLED) if row.status == "failed" else None,
        }
        for row in rows
    ]

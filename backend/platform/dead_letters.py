"""Dead-letter store: tasks that failed for good and messages no worker could run, in SQL.

Entries outlive Redis. An operator lists them, replays one or many (a new task linked to the
original through `CeleryTaskService.retry`), or discards them. Text that may carry personal
data (tracebacks, undeliverable message bodies) is scrubbed and capped before it is stored.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Select, and_, func, or_, select
from sqlalchemy.exc import IntegrityError

from backend.core.db.models import DeadLetter, utcnow
from backend.core.db.session import session_scope
from backend.core.enums import AuditAction, DeadLetterReason, ResourceType
from backend.core.errors import Conflict, DeadLetterNotFound, InvalidRequest
from backend.core.logging import get_logger, scrub
from backend.core.settings import settings
from backend.platform.audit import AuditContext
from backend.platform.enqueue import CeleryTaskService
from backend.platform.messages import masked_args
from backend.platform.status import TaskStatusManager

log = get_logger(__name__)
REASONS = tuple(DeadLetterReason)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_ERROR_MESSAGE_MAX = 500


@dataclass(frozen=True)
class DeadLetterFilter:
    name: str | None = None
    queue: str | None = None
    reason: str | None = None
    since: datetime | None = None


@dataclass(frozen=True)
class DeadLetterPage:
    items: list[dict[str, Any]]
    next_cursor: str | None


def scrubbed(text: str | None) -> str | None:
    """Text fit to store: personal data masked, at most DEAD_LETTER_TEXT_MAX characters."""
    if text is None:
        return None
    return scrub(text[: settings.dead_letters.text_max * 2])[: settings.dead_letters.text_max]


def record(
    *,
    task_id: str,
    name: str,
    queue: str,
    reason: str,
    error_type: str,
    error_message: str,
    priority: str | None = None,
    owner: str = "system",
    args: Sequence[Any] = (),
    kwargs: Mapping[str, Any] | None = None,
    traceback: str | None = None,
    history: Sequence[Mapping[str, Any]] = (),
    attempts: int = 0,
) -> bool:
    """Store an entry. A task id already stored keeps its first entry; returns whether stored."""
    if reason not in REASONS:
        raise ValueError(f"unknown dead-letter reason {reason!r}")
    entry = DeadLetter(
        task_id=task_id[:64],
        name=name[:200],
        queue=queue[:50],
        priority=priority,
        owner=owner[:128],
        args=list(args),
        kwargs=dict(kwargs or {}),
        error_type=error_type[:200],
        error_message=scrub(error_message)[:_ERROR_MESSAGE_MAX],
        traceback=scrubbed(traceback),
        history=[dict(h) for h in history],
        attempts=attempts,
        reason=reason,
        created_at=utcnow(),
    )
    try:
        with session_scope() as session:
            if session.get(DeadLetter, entry.task_id) is not None:
                return False
            session.add(entry)
    except IntegrityError:  # stored meanwhile by another process
        return False
    return True


def record_failure(
    status: TaskStatusManager,
    task_id: str,
    *,
    name: str,
    error_type: str,
    error_message: str,
    traceback: str | None,
    args: Sequence[Any],
    kwargs: Mapping[str, Any],
) -> None:
    """Store a task's final failure with its Redis record's history. Never raises: the task's
    own bookkeeping is done already and must not fail because the database is down."""
    try:
        current = status.get(task_id) or {}
        record(
            task_id=task_id,
            name=name,
            queue=current.get("queue") or "",
            priority=current.get("priority"),
            owner=current.get("owner") or "system",
            reason=DeadLetterReason.FAILED,
            error_type=error_type,
            error_message=error_message,
            traceback=traceback,
            args=list(args or ()),
            kwargs=dict(kwargs or {}),
            history=current.get("history") or [],
            attempts=int(current.get("attempts") or 0),
        )
    except Exception as err:
        log.error("dead_letter_not_recorded", task=name, task_id=task_id, error=type(err).__name__)


def to_dict(entry: DeadLetter, *, raw: bool = True) -> dict[str, Any]:
    """The entry whole (the command line, the platform), or as the API shows it to operators
    (`raw=False`: arguments masked, no traceback; raw is for admins, audited)."""
    return {
        "task_id": entry.task_id,
        "name": entry.name,
        "queue": entry.queue,
        "priority": entry.priority,
        "owner": entry.owner,
        "args": entry.args if raw else masked_args(entry.args),
        "kwargs": entry.kwargs if raw else masked_args(entry.kwargs),
        "error": {"type": entry.error_type, "message": entry.error_message},
        # A stack trace only in the admins' raw view (audited); operators get type and message.
        "traceback": entry.traceback if raw else None,
        "history": entry.history,
        "attempts": entry.attempts,
        "reason": entry.reason,
        "created_at": _utc(entry.created_at).isoformat(),
        "replayed_as": entry.replayed_as,
        "discarded_at": _utc(entry.discarded_at).isoformat() if entry.discarded_at else None,
    }


def _utc(value: datetime) -> datetime:
    # SQLite hands back naive datetimes; everything stored is UTC.
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _encode_cursor(entry: DeadLetter) -> str:
    micros = (_utc(entry.created_at) - _EPOCH) // timedelta(microseconds=1)
    return base64.urlsafe_b64encode(f"{micros}|{entry.task_id}".encode()).decode()


def _decode_cursor(cursor: str) -> tuple[datetime, str]:
    try:
        micros, task_id = base64.urlsafe_b64decode(cursor.encode()).decode().split("|", 1)
        return _EPOCH + timedelta(microseconds=int(micros)), task_id
    except ValueError:
        raise InvalidRequest("invalid cursor") from None


def _filtered(flt: DeadLetterFilter, *, open_only: bool) -> Select[DeadLetter]:
    query = select(DeadLetter)
    if flt.reason is not None and flt.reason not in REASONS:
        raise InvalidRequest(f"unknown reason {flt.reason!r}; use one of {', '.join(REASONS)}")
    for column, value in (
        (DeadLetter.name, flt.name),
        (DeadLetter.queue, flt.queue),
        (DeadLetter.reason, flt.reason),
    ):
        if value is not None:
            query = query.where(column == value)
    if flt.since is not None:
        query = query.where(DeadLetter.created_at >= _utc(flt.since).astimezone(UTC))
    if open_only:
        query = query.where(DeadLetter.replayed_as.is_(None), DeadLetter.discarded_at.is_(None))
    return query


def list_entries(
    flt: DeadLetterFilter, *, limit: int = 50, cursor: str | None = None, raw: bool = True
) -> DeadLetterPage:
    """Entries newest first (discarded ones left out); follow `next_cursor` for the next page."""
    query = _filtered(flt, open_only=False).where(DeadLetter.discarded_at.is_(None))
    if cursor:
        at, task_id = _decode_cursor(cursor)
        query = query.where(
            or_(
                DeadLetter.created_at < at,
                and_(DeadLetter.created_at == at, DeadLetter.task_id < task_id),
            )
        )
    query = query.order_by(DeadLetter.created_at.desc(), DeadLetter.task_id.desc())
    with session_scope() as session:
        rows = list(session.scalars(query.limit(limit + 1)))
    more = len(rows) > limit
    rows = rows[:limit]
    return DeadLetterPage(
        items=[to_dict(r, raw=raw) for r in rows],
        next_cursor=_encode_cursor(rows[-1]) if more and rows else None,
    )


def get(task_id: str) -> dict[str, Any]:
    with session_scope() as session:
        entry = session.get(DeadLetter, task_id)
        if entry is None:
            raise DeadLetterNotFound(task_id)
        return to_dict(entry)


def _check_open(entry: DeadLetter) -> None:
    if entry.replayed_as:
        raise Conflict(f"task {entry.task_id} was already replayed as {entry.replayed_as}")
    if entry.discarded_at:
        raise Conflict(f"task {entry.task_id} was discarded")


def replay(
    task_id: str,
    *,
    requested_by: str,
    service: CeleryTaskService,
    audit: AuditContext | None = None,
) -> str:
    """Run a dead-lettered task again as a new task linked to it; returns the new task id.

    Two operators replaying at once get the same new task (retry's idempotency key). With
    `audit`, the audit row is written in the entry's transaction, before the task is published.
    """
    with session_scope() as session:
        entry = session.get(DeadLetter, task_id)
        if entry is None:
            raise DeadLetterNotFound(task_id)
        _check_open(entry)
        stored = {
            "name": entry.name,
            "args": json.dumps(entry.args),
            "kwargs": json.dumps(entry.kwargs),
            "queue": entry.queue,
            "priority": entry.priority or "",
            "owner": entry.owner,
        }
        if audit is not None:
            audit.record(session, AuditAction.REPLAY_DEAD_LETTER, ResourceType.DEAD_LETTER, task_id)
        result = service.retry(task_id, requested_by=requested_by, stored=stored)
        entry.replayed_as = result.task_id
    log.info("dead_letter_replayed", task_id=task_id, new_task_id=result.task_id)
    return result.task_id


def replay_many(
    flt: DeadLetterFilter,
    *,
    requested_by: str,
    service: CeleryTaskService,
    audit: AuditContext | None = None,
) -> dict[str, list[dict[str, str]]]:
    """Replay the oldest open entries that match, at most DEAD_LETTER_REPLAY_MAX of them.

    An entry that cannot be replayed (its task is no longer registered) is reported, not fatal.
    """
    query = _filtered(flt, open_only=True).order_by(
        DeadLetter.created_at.asc(), DeadLetter.task_id.asc()
    )
    with session_scope() as session:
        ids = list(
            session.scalars(
                query.with_only_columns(DeadLetter.task_id).limit(settings.dead_letters.replay_max)
            )
        )
    replayed: list[dict[str, str]] = []
    skipped: list[dict[str, str]] = []
    for task_id in ids:
        try:
            new_id = replay(task_id, requested_by=requested_by, service=service, audit=audit)
        except (Conflict, InvalidRequest, DeadLetterNotFound) as exc:
            skipped.append({"task_id": task_id, "reason": exc.message})
            continue
        replayed.append({"task_id": task_id, "new_task_id": new_id})
    return {"replayed": replayed, "skipped": skipped}


def discard(task_id: str, audit: AuditContext | None = None) -> dict[str, Any]:
    """Mark an entry as dealt with: it leaves the list and can no longer be replayed. With
    `audit`, the audit row is written in the same transaction."""
    with session_scope() as session:
        entry = session.get(DeadLetter, task_id)
        if entry is None:
            raise DeadLetterNotFound(task_id)
        _check_open(entry)
        entry.discarded_at = utcnow()
        if audit is not None:
            audit.record(
                session, AuditAction.DISCARD_DEAD_LETTER, ResourceType.DEAD_LETTER, task_id
            )
        return to_dict(entry, raw=False)


def counts() -> dict[str, dict[tuple[str, str], int]]:
    """For the metrics: open entries by (queue, reason), and replayed ones by (queue, reason)."""
    out: dict[str, dict[tuple[str, str], int]] = {"waiting": {}, "replayed": {}}
    with session_scope() as session:
        rows = session.execute(
            select(
                DeadLetter.queue,
                DeadLetter.reason,
                DeadLetter.replayed_as.is_not(None),
                DeadLetter.discarded_at.is_not(None),
                func.count(),
            ).group_by(
                DeadLetter.queue,
                DeadLetter.reason,
                DeadLetter.replayed_as.is_not(None),
                DeadLetter.discarded_at.is_not(None),
            )
        ).all()
    for queue, reason, replayed, discarded, n in rows:
        if replayed:
            out["replayed"][(queue, reason)] = out["replayed"].get((queue, reason), 0) + n
        elif not discarded:
            out["waiting"][(queue, reason)] = out["waiting"].get((queue, reason), 0) + n
    return out

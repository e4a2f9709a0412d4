"""The audit trail: one append-only SQL row per audited action, hash-chained.

Call `record(session, ...)` inside the transaction of the action it records: if the row cannot
be written the action rolls back with it (an action that cannot be audited fails). Actions
without a transaction of their own (Redis-side ones, reads) record in a transaction of their
own, opened before the action and committed after it (`audited`).

Each row stores who (actor, role), what (action, resource type and id), how it ended
(outcome), the request id and source address, never personal data. Its `hash` is
SHA-256(previous row's hash + the row's fields); the `audit_head` row holds the last seq and
hash. `verify` walks the chain and names the first changed, inserted or deleted row.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeVar

import orjson
from sqlalchemy import select, update
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from backend.core.db.models import AuditEntry, AuditHead
from backend.core.db.session import session_scope
from backend.core.enums import AuditAction, AuditOutcome, ResourceType
from backend.core.errors import AuditUnavailable

__all__ = [
    "GENESIS",
    "AuditContext",
    "AuditFilter",
    "audited",
    "entry_dict",
    "page",
    "record",
    "verify",
]

GENESIS = "0" * 64
T = TypeVar("T")
_FIELDS = (
    "seq",
    "at",
    "actor",
    "role",
    "action",
    "resource_type",
    "resource_id",
    "outcome",
    "request_id",
    "source",
)


def _iso(at: datetime) -> str:
    return (at if at.tzinfo else at.replace(tzinfo=UTC)).astimezone(UTC).isoformat()


def _digest(prev_hash: str, fields: dict[str, Any]) -> str:
    body = orjson.dumps(fields, option=orjson.OPT_SORT_KEYS)
    return hashlib.sha256(prev_hash.encode() + b"\n" + body).hexdigest()


def _fields_of(entry: AuditEntry) -> dict[str, Any]:
    values = {name: getattr(entry, name) for name in _FIELDS}
    values["at"] = _iso(entry.at)
    return values


def record(
    session: Session,
    *,
    actor: str,
    role: str,
    action: AuditAction | str,
    resource_type: ResourceType | str,
    resource_id: str | None,
    outcome: AuditOutcome | str,
    request_id: str | None,
    source: str | None,
) -> AuditEntry:
    """Append one row in `session`'s transaction (flushed now, so a failure raises here, as
    AuditUnavailable: the action in the same transaction fails with it)."""
    try:
        return _append(
            session,
            AuditEntry(
                at=datetime.now(UTC),
                actor=actor[:128],
                role=str(role)[:16],
                action=str(action)[:64],
                resource_type=str(resource_type)[:32],
                resource_id=None if resource_id is None else str(resource_id)[:128],
                outcome=str(outcome)[:16],
                request_id=None if request_id is None else request_id[:64],
                source=None if source is None else source[:64],
            ),
        )
    except SQLAlchemyError as exc:
        raise AuditUnavailable(
            f"the audit trail could not be written ({type(exc).__name__})"
        ) from exc


def _append(session: Session, entry: AuditEntry) -> AuditEntry:
    # The UPDATE first: it takes the lock (a row lock in PostgreSQL, the write lock in SQLite)
    # that serialises appenders; the SELECT after it reads the head as this transaction left
    # it. (No RETURNING: pysqlite keeps such a statement, and its snapshot, open.)
    session.execute(update(AuditHead).where(AuditHead.id == 1).values(seq=AuditHead.seq + 1))
    head = session.execute(select(AuditHead.seq, AuditHead.hash).where(AuditHead.id == 1)).one()
    entry.seq, entry.prev_hash = int(head.seq), str(head.hash)
    entry.hash = _digest(entry.prev_hash, _fields_of(entry))
    session.add(entry)
    session.execute(update(AuditHead).where(AuditHead.id == 1).values(hash=entry.hash))
    session.flush()
    return entry


@dataclass(frozen=True)
class AuditContext:
    """Who acts and from where (built by the API per request; the CLI has its own)."""

    actor: str
    role: str
    request_id: str | None = None
    source: str | None = None

    def record(
        self,
        session: Session,
        action: AuditAction,
        resource_type: ResourceType,
        resource_id: str | None,
        outcome: AuditOutcome = AuditOutcome.OK,
    ) -> AuditEntry:
        return record(
            session,
            actor=self.actor,
            role=self.role,
            action=action,
            resource_type=resource_type,
            resource_id=resource_id,
            outcome=outcome,
            request_id=self.request_id,
            source=self.source,
        )

    def record_alone(
        self,
        action: AuditAction,
        resource_type: ResourceType,
        resource_id: str | None,
        outcome: AuditOutcome = AuditOutcome.OK,
    ) -> None:
        """A row in a transaction of its own (a read, a refusal)."""
        with session_scope() as session:
            self.record(session, action, resource_type, resource_id, outcome)

    @contextmanager
    def audited(
        self, action: AuditAction, resource_type: ResourceType, resource_id: str | None
    ) -> Iterator[Session]:
        """Around an action outside SQL: the row is written (and must succeed) before the
        action runs and committed after it; if the action raises, a `failed` row replaces it."""
        with audited(self, action, resource_type, resource_id) as session:
            yield session

    def run(
        self,
        action: AuditAction,
        resource_type: ResourceType,
        resource_id: str | None,
        fn: Callable[..., T],
        *args: Any,
        **kwargs: Any,
    ) -> T:
        """`fn(*args, **kwargs)` inside `audited` (call it in a thread from async code)."""
        with self.audited(action, resource_type, resource_id):
            return fn(*args, **kwargs)


@contextmanager
def audited(
    ctx: AuditContext, action: AuditAction, resource_type: ResourceType, resource_id: str | None
) -> Iterator[Session]:
    failed = False
    try:
        with session_scope() as session:
            ctx.record(session, action, resource_type, resource_id)
            yield session
    except BaseException:
        failed = True
        raise
    finally:
        if failed:
            # The action's own error is the one to report.
            with suppress(Exception):
                ctx.record_alone(action, resource_type, resource_id, AuditOutcome.FAILED)


@dataclass(frozen=True)
class AuditFilter:
    actor: str | None = None
    action: str | None = None
    resource_type: str | None = None
    resource_id: str | None = None
    since: datetime | None = None
    until: datetime | None = None


def entry_dict(entry: AuditEntry) -> dict[str, Any]:
    return {**_fields_of(entry), "prev_hash": entry.prev_hash, "hash": entry.hash}


def page(
    flt: AuditFilter, *, after_seq: int = 0, limit: int = 100
) -> tuple[list[dict[str, Any]], int | None]:
    """Rows in order of seq after `after_seq`; the next cursor (a seq) or None at the end."""
    query = select(AuditEntry).where(AuditEntry.seq > after_seq)
    if flt.actor:
        query = query.where(AuditEntry.actor == flt.actor)
    if flt.action:
        query = query.where(AuditEntry.action == flt.action)
    if flt.resource_type:
        query = query.where(AuditEntry.resource_type == flt.resource_type)
    if flt.resource_id:
        query = query.where(AuditEntry.resource_id == flt.resource_id)
    if flt.since:
        query = query.where(AuditEntry.at >= flt.since)
    if flt.until:
        query = query.where(AuditEntry.at < flt.until)
    with session_scope() as session:
        rows = session.scalars(query.order_by(AuditEntry.seq).limit(limit + 1)).all()
        items = [entry_dict(r) for r in rows[:limit]]
    more = len(rows) > limit
    return items, (items[-1]["seq"] if more and items else None)


@dataclass(frozen=True)
class VerifyResult:
    ok: bool
    rows: int
    problem: str | None = None
    seq: int | None = None


def verify(batch: int = 1000) -> VerifyResult:
    """Walk the chain from the first row: a changed row fails its hash, an inserted or deleted
    one breaks seq or the link, a deleted last row disagrees with the head."""
    prev_hash, expected, count = GENESIS, 1, 0
    with session_scope() as session:
        head = session.get(AuditHead, 1)
        last = 0
        while True:
            rows = session.scalars(
                select(AuditEntry)
                .where(AuditEntry.seq > last)
                .order_by(AuditEntry.seq)
                .limit(batch)
            ).all()
            if not rows:
                break
            for row in rows:
                if row.seq != expected:
                    return VerifyResult(False, count, f"row {expected} is missing", expected)
                if row.prev_hash != prev_hash:
                    return VerifyResult(False, count, "link to the previous row broken", row.seq)
                if _digest(row.prev_hash, _fields_of(row)) != row.hash:
                    return VerifyResult(False, count, "row changed after it was written", row.seq)
                prev_hash, expected, count, last = row.hash, expected + 1, count + 1, row.seq
            session.expunge_all()
        if head is None or head.seq != count or head.hash != prev_hash:
            return VerifyResult(False, count, "rows after the last one are missing", count + 1)
    return VerifyResult(True, count)

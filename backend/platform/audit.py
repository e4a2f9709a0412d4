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

import asyncio
import hashlib
import os
import queue
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypedDict, TypeVar, Unpack, cast

import orjson
from sqlalchemy import Connection, Integer, Table, bindparam, insert, select, update
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from backend.core.db.models import AuditEntry, AuditHead
from backend.core.db.session import get_engine, session_scope
from backend.core.enums import AuditAction, AuditOutcome, ResourceType
from backend.core.errors import AuditUnavailable

__all__ = [
    "GENESIS",
    "AuditContext",
    "AuditFilter",
    "AuditWriter",
    "audited",
    "close_writer",
    "entry_dict",
    "page",
    "record",
    "verify",
    "writer",
]

GENESIS = "0" * 64
T = TypeVar("T")
# How long a request waits for its row (SQLite's busy timeout is 15 s, PostgreSQL's connect 5).
WRITE_TIMEOUT_S = 30.0
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


_COLUMNS = (*_FIELDS, "prev_hash", "hash")
# Core statements on the tables, built once: through the ORM entities, each execution took
# SQLAlchemy's ORM bulk-update/insert path (about a fifth of the API's CPU under load, issue 13).
_HEAD = cast(Table, AuditHead.__table__)
_BUMP_HEAD = (
    update(_HEAD).where(_HEAD.c.id == 1).values(seq=_HEAD.c.seq + bindparam("count", type_=Integer))
)
_READ_HEAD = select(_HEAD.c.seq, _HEAD.c.hash).where(_HEAD.c.id == 1)
_SET_HEAD_HASH = update(_HEAD).where(_HEAD.c.id == 1).values(hash=bindparam("hash"))
_INSERT_ROWS = insert(cast(Table, AuditEntry.__table__))


def _iso(at: datetime) -> str:
    return (at if at.tzinfo else at.replace(tzinfo=UTC)).astimezone(UTC).isoformat()


def _digest(prev_hash: str, fields: dict[str, Any]) -> str:
    body = orjson.dumps(fields, option=orjson.OPT_SORT_KEYS)
    return hashlib.sha256(prev_hash.encode() + b"\n" + body).hexdigest()


def _fields_of(entry: AuditEntry) -> dict[str, Any]:
    values = {name: getattr(entry, name) for name in _FIELDS}
    values["at"] = _iso(entry.at)
    return values


class EntryFields(TypedDict):
    """What a caller says about one audited action (the row's time, seq and hashes are added)."""

    actor: str
    role: str
    action: AuditAction | str
    resource_type: ResourceType | str
    resource_id: str | None
    outcome: AuditOutcome | str
    request_id: str | None
    source: str | None


def _entry(**f: Unpack[EntryFields]) -> AuditEntry:
    resource_id, request_id, source = f["resource_id"], f["request_id"], f["source"]
    return AuditEntry(
        at=datetime.now(UTC),
        actor=f["actor"][:128],
        role=str(f["role"])[:16],
        action=str(f["action"])[:64],
        resource_type=str(f["resource_type"])[:32],
        resource_id=None if resource_id is None else str(resource_id)[:128],
        outcome=str(f["outcome"])[:16],
        request_id=None if request_id is None else request_id[:64],
        source=None if source is None else source[:64],
    )


def record(session: Session, **fields: Unpack[EntryFields]) -> AuditEntry:
    """Append one row in `session`'s transaction (flushed now, so a failure raises here, as
    AuditUnavailable: the action in the same transaction fails with it)."""
    return _append_all(session, [_entry(**fields)])[0]


def _append_all(session: Session | Connection, entries: list[AuditEntry]) -> list[AuditEntry]:
    """Chain `entries` after the head, in order, in `session`'s transaction; raises
    AuditUnavailable if they cannot be written."""
    try:
        # The UPDATE first: it takes the lock (a row lock in PostgreSQL, the write lock in
        # SQLite) that serialises appenders; the SELECT after it reads the head as this
        # transaction left it. (No RETURNING: pysqlite keeps such a statement, and its
        # snapshot, open.)
        count = len(entries)
        session.execute(_BUMP_HEAD, {"count": count})
        head = session.execute(_READ_HEAD).one()
        seq, prev_hash = int(head.seq) - count, str(head.hash)
        for entry in entries:
            seq += 1
            entry.seq, entry.prev_hash = seq, prev_hash
            entry.hash = prev_hash = _digest(prev_hash, _fields_of(entry))
        # One executemany INSERT, without the ORM's unit of work (a batch may hold hundreds).
        session.execute(
            _INSERT_ROWS,
            [{name: getattr(e, name) for name in _COLUMNS} for e in entries],
        )
        session.execute(_SET_HEAD_HASH, {"hash": prev_hash})
        if isinstance(session, Session):
            session.flush()
    except SQLAlchemyError as exc:
        raise AuditUnavailable(
            f"the audit trail could not be written ({type(exc).__name__})"
        ) from exc
    return entries


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
        return record(session, **self.fields(action, resource_type, resource_id, outcome))

    def fields(
        self,
        action: AuditAction,
        resource_type: ResourceType,
        resource_id: str | None,
        outcome: AuditOutcome = AuditOutcome.OK,
    ) -> EntryFields:
        return EntryFields(
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

    async def record_async(
        self,
        action: AuditAction,
        resource_type: ResourceType,
        resource_id: str | None,
        outcome: AuditOutcome = AuditOutcome.OK,
    ) -> None:
        """As `record_alone`, from async code: returns once the row is committed, in one
        transaction with the rows other requests of this process record at the same moment
        (`AuditWriter`). Raises AuditUnavailable if it could not be written in time."""
        entry = _entry(**self.fields(action, resource_type, resource_id, outcome))
        try:
            await asyncio.wait_for(asyncio.wrap_future(writer().submit(entry)), WRITE_TIMEOUT_S)
        except TimeoutError:
            raise AuditUnavailable(
                f"the audit trail did not answer in {WRITE_TIMEOUT_S:.0f} s"
            ) from None

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


class AuditWriter:
    """Group commit for rows recorded alone: one thread appends every row queued while it
    wrote the previous batch, in one transaction (one head update, one commit), in the order
    they came. Each caller's future resolves once its row is committed, or fails with
    AuditUnavailable, with every row of its batch, if the batch could not be written.

    Why: a row alone is a transaction and a commit (an fsync) of its own, and concurrent
    appenders queue for the head's lock; SQLite's busy handler sleeps up to 100 ms between
    tries. Under 20 concurrent submissions that lock, not the work, set the API's p99."""

    def __init__(self, max_batch: int = 256) -> None:
        self._queue: queue.SimpleQueue[tuple[AuditEntry, Future[None]] | None] = queue.SimpleQueue()
        self._max_batch = max_batch
        self._thread = threading.Thread(target=self._run, name="audit-writer", daemon=True)
        self._thread.start()

    def submit(self, entry: AuditEntry) -> Future[None]:
        future: Future[None] = Future()
        self._queue.put((entry, future))
        return future

    def close(self, timeout_s: float = 10.0) -> None:
        """Write what is queued, then stop the thread."""
        self._queue.put(None)
        self._thread.join(timeout_s)

    def _run(self) -> None:
        while True:
            item = self._queue.get()
            if item is None:
                return
            batch = [item]
            stopping = False
            while len(batch) < self._max_batch:
                try:
                    more = self._queue.get_nowait()
                except queue.Empty:
                    break
                if more is None:
                    stopping = True
                    break
                batch.append(more)
            self._write(batch)
            if stopping:
                return

    @staticmethod
    def _write(batch: list[tuple[AuditEntry, Future[None]]]) -> None:
        # A caller that gave up (its request was cancelled) has no row written.
        live = [(entry, future) for entry, future in batch if future.set_running_or_notify_cancel()]
        if not live:
            return
        try:
            # A Core transaction on a pooled connection: no ORM session to build per batch.
            with get_engine().begin() as conn:
                _append_all(conn, [entry for entry, _ in live])
        except Exception as exc:
            error = (
                exc
                if isinstance(exc, AuditUnavailable)
                else AuditUnavailable(
                    f"the audit trail could not be written ({type(exc).__name__})"
                )
            )
            for _, future in live:
                future.set_exception(error)
            return
        for _, future in live:
            future.set_result(None)


_writer: AuditWriter | None = None
_writer_pid = 0
_writer_lock = threading.Lock()


def writer() -> AuditWriter:
    """This process's AuditWriter (started on first use; a forked child starts its own)."""
    global _writer, _writer_pid
    with _writer_lock:
        if _writer is None or _writer_pid != os.getpid():
            _writer, _writer_pid = AuditWriter(), os.getpid()
        return _writer


def close_writer() -> None:
    """Write the queued rows and stop this process's AuditWriter (API shutdown)."""
    global _writer
    with _writer_lock:
        current, _writer = _writer, None
    if current is not None and _writer_pid == os.getpid():
        current.close()


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

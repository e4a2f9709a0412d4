"""The transactional outbox: no accepted task is lost when Redis is down at enqueue time.

A task about a domain row (a case, a document, a report) is *staged*: its outbox row is added
to the same SQL transaction as the domain row, with the task id fixed there. After the commit
the caller *publishes* the staged tasks (one bulk script call) and deletes their outbox rows.
If Redis is down, the rows stay and the caller answers "accepted, not queued yet"; the *relay*
(a thread in every API process, and a beat task) publishes whatever is left once Redis is
back. The create script refuses a task id it has already created, so a task published twice
(the process died between publishing and deleting its row, or two relays raced) runs once.

Until it is published, a task's status is read from its outbox row: state `ACCEPTED`.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Sequence
from dataclasses import asdict, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import delete, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from backend.core import tracing
from backend.core.db.models import OutboxEntry
from backend.core.db.session import session_scope
from backend.core.enums import TaskState
from backend.core.errors import ServiceUnavailable
from backend.core.logging import get_logger
from backend.core.security.ids import derived_uuid
from backend.core.settings import settings
from backend.platform.enqueue import CeleryTaskService
from backend.platform.messages import eta_from
from backend.platform.submissions import TaskRequest, validate

log = get_logger(__name__)

ACCEPTED = TaskState.ACCEPTED.value
_RELAY_BATCH = 500


def _utcnow() -> datetime:
    return datetime.now(UTC)


def to_payload(req: TaskRequest) -> dict[str, Any]:
    """The request as JSON; a countdown becomes an absolute ETA, so a late publish keeps it."""
    data = asdict(req)
    eta = eta_from(req.countdown, req.eta)
    data.update(
        args=list(req.args),
        kwargs=dict(req.kwargs),
        metadata=dict(req.metadata) if req.metadata is not None else None,
        retry_policy=dict(req.retry_policy) if req.retry_policy is not None else None,
        priority=str(req.priority) if req.priority is not None else None,
        countdown=None,
        eta=eta.isoformat() if eta else None,
    )
    return data


def from_payload(data: dict[str, Any]) -> TaskRequest:
    eta = data.get("eta")
    return TaskRequest(**{**data, "eta": datetime.fromisoformat(eta) if eta else None})


def stage(session: Session, requests: Sequence[TaskRequest]) -> list[TaskRequest]:
    """Validate the requests, fix their task ids and add their outbox rows to `session`.

    Raises InvalidRequest before anything is added. Returns the requests with their ids.
    """
    for req in requests:
        validate(req)
    # Ids and trace context fixed now: a relay publishing it later keeps both.
    staged = [
        replace(
            req,
            task_id=req.task_id or str(uuid.uuid4()),
            traceparent=req.traceparent or tracing.child_header(),
        )
        for req in requests
    ]
    session.add_all(
        OutboxEntry(
            task_id=req.task_id,
            owner=req.owner,
            task_name=req.task_name,
            payload=to_payload(req),
        )
        for req in staged
    )
    return staged


def accepted_record(entry: OutboxEntry) -> dict[str, Any]:
    """The status object of a task still in the outbox (accepted, not on the broker yet)."""
    payload = entry.payload
    created = entry.created_at.replace(tzinfo=entry.created_at.tzinfo or UTC)
    return {
        "task_id": entry.task_id,
        "name": entry.task_name,
        "queue": payload.get("queue"),
        "priority": payload.get("priority"),
        "state": ACCEPTED,
        "owner": entry.owner,
        "created_at": created.isoformat(),
        "started_at": None,
        "finished_at": None,
        "wait_ms": None,
        "runtime_ms": None,
        "attempts": 0,
        "max_attempts": 0,
        "progress": None,
        "result": None,
        "error": None,
        "worker": None,
        "correlation_id": payload.get("correlation_id") or entry.task_id,
        "queued": False,
        "history": [
            {
                "state": ACCEPTED,
                "at": created.isoformat(),
                "detail": "accepted; waiting for the broker (published when Redis is back)",
            }
        ],
    }


class Outbox:
    def __init__(self, tasks: CeleryTaskService) -> None:
        self.tasks = tasks

    def publish(self, staged: Sequence[TaskRequest]) -> bool:
        """Publish staged tasks right after their commit. False: Redis is down and they wait
        in the outbox for the relay (the caller answers "accepted, not queued")."""
        if not staged:
            return True
        try:
            self.tasks.enqueue_many(staged)
        except ServiceUnavailable:
            log.warning("outbox_publish_deferred", tasks=len(staged))
            return False
        self._delete([req.task_id for req in staged if req.task_id])
        return True

    def stage_and_publish(self, requests: Sequence[TaskRequest]) -> tuple[list[str], bool]:
        """For a task with no domain row (POST /api/tasks) when Redis refused it: keep it in
        the outbox alone. With an idempotency key its id is derived from (owner, key), so a
        client retrying during the outage gets the same task."""
        derived = [
            replace(req, task_id=_derived_id(req)) if req.idempotency_key else req
            for req in requests
        ]
        try:
            with session_scope() as session:
                staged = stage(session, derived)
        except IntegrityError:
            staged = derived  # the same idempotency key was staged before: the same task
        return [str(req.task_id) for req in staged], self.publish(staged)

    def relay_once(self, *, grace_s: float | None = None, limit: int = _RELAY_BATCH) -> int:
        """Publish outbox rows older than `grace_s` (their own request is still publishing
        them). Returns how many were published; raises nothing when Redis is still down."""
        grace = settings.outbox.relay_grace_s if grace_s is None else grace_s
        now = _utcnow()
        with session_scope() as session:
            rows = session.scalars(
                select(OutboxEntry)
                .where(
                    OutboxEntry.next_attempt_at <= now,
                    OutboxEntry.created_at <= now - timedelta(seconds=grace),
                )
                .order_by(OutboxEntry.created_at)
                .limit(limit)
            ).all()
        if not rows:
            return 0
        requests = [from_payload(row.payload) for row in rows]
        try:
            self.tasks.enqueue_many(requests)
        except ServiceUnavailable as exc:
            self._postpone([row.task_id for row in rows], str(exc))
            return 0
        self._delete([row.task_id for row in rows])
        log.info("outbox_relayed", tasks=len(rows))
        return len(rows)

    def drain(self, *, grace_s: float = 0.0) -> int:
        """Relay until nothing is left (or Redis is down); returns how many were published."""
        total = 0
        while published := self.relay_once(grace_s=grace_s):
            total += published
        return total

    @staticmethod
    def get(task_id: str) -> OutboxEntry | None:
        with session_scope() as session:
            return session.get(OutboxEntry, task_id)

    @staticmethod
    def backlog() -> dict[str, Any]:
        """How many tasks wait in the outbox and the age of the oldest, in seconds."""
        with session_scope() as session:
            count, oldest = session.execute(
                select(func.count(), func.min(OutboxEntry.created_at))
            ).one()
        age = None
        if oldest is not None:
            age = round((_utcnow() - oldest.replace(tzinfo=oldest.tzinfo or UTC)).total_seconds())
        return {"pending": int(count), "oldest_age_s": age}

    @staticmethod
    def _delete(task_ids: Sequence[str]) -> None:
        with session_scope() as session:
            session.execute(delete(OutboxEntry).where(OutboxEntry.task_id.in_(task_ids)))

    @staticmethod
    def _postpone(task_ids: Sequence[str], error: str) -> None:
        with session_scope() as session:
            session.execute(
                update(OutboxEntry)
                .where(OutboxEntry.task_id.in_(task_ids))
                .values(
                    attempts=OutboxEntry.attempts + 1,
                    last_error=error[:200],
                    next_attempt_at=_utcnow() + timedelta(seconds=settings.outbox.relay_interval_s),
                )
            )


def _derived_id(req: TaskRequest) -> str:
    # Task ids derived from (owner, idempotency key) while Redis is down: HMAC under ID_SECRET.
    return derived_uuid("task", req.owner, req.idempotency_key or "")


class OutboxRelay:
    """A daemon thread that relays the outbox every OUTBOX_RELAY_INTERVAL_S (one per API
    process; several relays are safe: a task published twice is created once)."""

    def __init__(self, outbox: Outbox, interval_s: float | None = None) -> None:
        self.outbox = outbox
        self.interval_s = settings.outbox.relay_interval_s if interval_s is None else interval_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="outbox-relay", daemon=True)

    def start(self) -> OutboxRelay:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)

    def _run(self) -> None:
        while not self._stop.wait(self.interval_s):
            try:
                while self.outbox.relay_once() and not self._stop.is_set():
                    pass
            except Exception:  # the database is down, say: try again next round
                log.exception("outbox_relay_error")

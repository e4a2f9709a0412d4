"""The one way to enqueue, bulk-enqueue, cancel and retry a task.

On a Redis broker, enqueue is one Lua call that checks the idempotency key, creates the
PENDING record and pushes the Celery message onto the queue's priority list, atomically: a
status read right after enqueue never 404s, and a failed call leaves nothing behind.
`enqueue_many` pipelines the same script, thousands of tasks per round trip.
On another broker (RabbitMQ) the record is created first, then Celery publishes.
"""

from __future__ import annotations

import json
import math
import re
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import orjson
import redis
import redis.asyncio as aioredis
from celery import Celery

from backend.adapters.redis_clients import REDIS_DOWN
from backend.core.clock import now_ms
from backend.core.enums import Priority, QueueName
from backend.core.enums import TransitionOutcome as Outcome
from backend.core.errors import (
    Conflict,
    InvalidPriority,
    InvalidRequest,
    ServiceUnavailable,
    TaskNotFound,
    UnknownQueue,
    UnknownTask,
)
from backend.core.keys import Keys, keys
from backend.core.settings import settings
from backend.platform.catalogue import TASK_SPECS, spec_for
from backend.platform.celery_app import celery_app
from backend.platform.lua import script
from backend.platform.messages import build_message, eta_from
from backend.platform.records import history_entry
from backend.platform.status import TaskStatusManager

_IDEMPOTENCY_KEY = re.compile(r"[\w.:@/+=-]{1,200}")
_MAX_ARGS_BYTES = 256 * 1024


@dataclass(frozen=True)
class TaskRequest:
    """One task to enqueue, as given by a caller (validated by `prepare`)."""

    task_name: str
    args: Sequence[Any] = ()
    kwargs: Mapping[str, Any] = field(default_factory=dict)
    priority: Priority | str | None = None
    queue: str | None = None
    countdown: float | None = None
    eta: datetime | None = None
    retry_policy: Mapping[str, Any] | None = None
    owner: str = "system"
    correlation_id: str | None = None
    idempotency_key: str | None = None
    metadata: Mapping[str, Any] | None = None
    retry_of: str | None = None
    # Fixed by the caller when the task is staged in the SQL outbox before it is published:
    # publishing it again then finds the record and creates nothing.
    task_id: str | None = None


def row_task(task_name: str, row_id: str, *, owner: str, key: str) -> TaskRequest:
    """A task about one stored row: the row id is its argument, correlation id and (with `key`)
    its idempotency key, so the same row is never queued twice for the same purpose."""
    return TaskRequest(
        task_name, [row_id], owner=owner, correlation_id=row_id, idempotency_key=f"{key}:{row_id}"
    )


@dataclass(frozen=True)
class EnqueueResult:
    task_id: str
    created: bool  # False: the idempotency key already named this task


@dataclass(frozen=True)
class Prepared:
    task_id: str
    request: TaskRequest
    script_keys: list[str]
    script_args: list[Any]
    queue: str
    broker_priority: int


def parse_priority(value: Priority | str | None, default: Priority) -> Priority:
    if value is None:
        return default
    try:
        return value if isinstance(value, Priority) else Priority(str(value).upper())
    except ValueError:
        allowed = ", ".join(p.value for p in Priority)
        raise InvalidPriority(f"unknown priority {value!r}; use one of {allowed}") from None


def check_idempotency_key(key: str) -> None:
    if not _IDEMPOTENCY_KEY.fullmatch(key):
        raise InvalidRequest("idempotency key must be 1-200 characters of [A-Za-z0-9_.:@/+=-]")


@dataclass(frozen=True)
class Validated:
    request: TaskRequest
    queue: str
    priority: Priority
    policy_json: str
    max_attempts: int
    args_json: str
    kwargs_json: str
    metadata_json: str
    eta: datetime | None


def prepare(req: TaskRequest, key_space: Keys = keys, *, publish: bool = True) -> Prepared:
    """Validate a request and build the create-script call. Raises InvalidRequest subclasses."""
    return build(validate(req), key_space, publish=publish)


def validate(req: TaskRequest) -> Validated:
    """Check everything about a request that could make it fail. Raises InvalidRequest."""
    if req.task_name not in TASK_SPECS:
        raise UnknownTask(f"unknown task {req.task_name!r}")
    spec = spec_for(req.task_name)
    queue = req.queue or spec.queue.value
    if queue not in {q.value for q in QueueName}:
        raise UnknownQueue(f"unknown queue {queue!r}")
    priority = parse_priority(req.priority, spec.default_priority)
    if not isinstance(req.args, list | tuple) or not isinstance(req.kwargs, Mapping):
        raise InvalidRequest("args must be a list and kwargs an object")
    if req.countdown is not None and not (
        0 <= req.countdown <= settings.tasks.visibility_timeout_s
    ):
        raise InvalidRequest(
            f"countdown must be between 0 and {settings.tasks.visibility_timeout_s} seconds"
        )
    if req.idempotency_key is not None:
        check_idempotency_key(req.idempotency_key)
    policy = spec.retry.merged(dict(req.retry_policy) if req.retry_policy else None)
    if (
        not (1 <= policy.max_attempts <= 50)
        or policy.backoff_base_s < 0
        or not (0 <= policy.jitter <= 1)
    ):
        raise InvalidRequest("retry policy out of range (max_attempts 1-50, jitter 0-1)")
    try:
        args_json = orjson.dumps(list(req.args)).decode()
        kwargs_json = orjson.dumps(dict(req.kwargs)).decode()
        metadata_json = orjson.dumps(dict(req.metadata or {})).decode()
    except (TypeError, ValueError) as exc:
        raise InvalidRequest(f"arguments must be JSON-serialisable: {exc}") from None
    if len(args_json) + len(kwargs_json) > _MAX_ARGS_BYTES:
        raise InvalidRequest("task arguments too large; pass ids, not documents")
    return Validated(
        request=req,
        queue=queue,
        priority=priority,
        policy_json=orjson.dumps(policy.to_dict()).decode(),
        max_attempts=policy.max_attempts,
        args_json=args_json,
        kwargs_json=kwargs_json,
        metadata_json=metadata_json,
        eta=eta_from(req.countdown, req.eta),
    )


def build(v: Validated, key_space: Keys = keys, *, publish: bool = True) -> Prepared:
    """The create-script call for a validated request: new task id, message, record fields."""
    req, queue, priority, eta = v.request, v.queue, v.priority, v.eta
    task_id = req.task_id or str(uuid.uuid4())
    created = now_ms()
    message = (
        build_message(
            task_id=task_id,
            task_name=req.task_name,
            queue=queue,
            broker_priority=priority.broker_value,
            args=req.args,
            kwargs=req.kwargs,
            eta=eta,
        )
        if publish
        else ""
    )
    ttl = settings.tasks.record_ttl_s + math.ceil(
        max(0.0, (eta.timestamp() * 1000 - created) / 1000) if eta else 0
    )
    fields: dict[str, Any] = {
        "task_id": task_id,
        "name": req.task_name,
        "queue": queue,
        "priority": priority.value,
        "state": "PENDING",
        "owner": req.owner,
        "created_at": created,
        "attempts": 0,
        "max_attempts": v.max_attempts,
        "policy": v.policy_json,
        "correlation_id": req.correlation_id or task_id,
        "args": v.args_json,
        "kwargs": v.kwargs_json,
        "metadata": v.metadata_json,
    }
    if req.retry_of:
        fields["retry_of"] = req.retry_of
    if eta:
        fields["eta"] = int(eta.timestamp() * 1000)
    detail = f"enqueued on {queue} ({priority.value})" + (
        f", retry of {req.retry_of}" if req.retry_of else ""
    )
    flat: list[Any] = []
    for name, value in fields.items():
        flat.extend((name, value))
    return Prepared(
        task_id=task_id,
        request=req,
        script_keys=[
            key_space.task(task_id),
            key_space.history(task_id),
            key_space.idempotency(req.owner, req.idempotency_key) if req.idempotency_key else "",
            key_space.broker_queue(queue, priority.broker_value) if publish else "",
            key_space.task(req.retry_of) if req.retry_of else "",
            key_space.history(req.retry_of) if req.retry_of else "",
        ],
        script_args=[
            key_space.prefix,
            task_id,
            created,
            settings.tasks.idempotency_ttl_s,
            message,
            history_entry("PENDING", created, detail),
            ttl,
            *flat,
        ],
        queue=queue,
        broker_priority=priority.broker_value,
    )


def _result(raw: Sequence[Any]) -> EnqueueResult:
    """[status, task_id] from the create script: 1 created, 0 an idempotency hit (the id is the
    existing task's), -1 the record exists already. Ids are fresh uuid4s or fixed by the
    outbox, so -1 is this very task, created by an earlier try: a call retried after its reply
    was lost, or an outbox row published again after a crash."""
    status, task_id = int(raw[0]), str(raw[1])
    return EnqueueResult(task_id=task_id, created=status == 1)


def _bulk_ids(raw: Sequence[Any]) -> list[str]:
    """Task ids from the bulk create reply [status, id, status, id, ...]."""
    return [_result((raw[i], raw[i + 1])).task_id for i in range(0, len(raw), 2)]


# What a Redis that is down or unreachable raises: the caller gets ServiceUnavailable.


class CeleryTaskService:
    def __init__(
        self, client: redis.Redis, *, app: Celery = celery_app, key_space: Keys = keys
    ) -> None:
        self.redis = client
        self.app = app
        self.keys = key_space
        self.status = TaskStatusManager(client, key_space)
        self._create = client.register_script(script("create"))
        self._direct = settings.redis.broker_is_redis

    def enqueue(
        self,
        task_name: str,
        args: Sequence[Any] = (),
        kwargs: Mapping[str, Any] | None = None,
        *,
        priority: Priority | str | None = None,
        queue: str | None = None,
        countdown: float | None = None,
        eta: datetime | None = None,
        retry_policy: Mapping[str, Any] | None = None,
        owner: str = "system",
        correlation_id: str | None = None,
        idempotency_key: str | None = None,
        metadata: Mapping[str, Any] | None = None,
        retry_of: str | None = None,
    ) -> str:
        req = TaskRequest(
            task_name, args, kwargs or {}, priority, queue, countdown, eta, retry_policy,
            owner, correlation_id, idempotency_key, metadata, retry_of,
        )  # fmt: skip
        return self.submit(req).task_id

    def submit(self, req: TaskRequest) -> EnqueueResult:
        prepared = prepare(req, self.keys, publish=self._direct)
        try:
            result = _result(self._create(keys=prepared.script_keys, args=prepared.script_args))
        except REDIS_DOWN as exc:
            raise ServiceUnavailable("task store unavailable; nothing was enqueued") from exc
        if result.created and not self._direct:
            self._publish_with_celery(prepared)
        return result

    def enqueue_many(self, requests: Sequence[TaskRequest], *, chunk: int = 500) -> list[str]:
        """Enqueue many tasks; all are validated before any is sent.

        Each chunk is one script call carrying the chunk as JSON. The next chunk is built while
        Redis runs the current one (send, build, then read), so client and server work overlap.
        Returns the task ids in request order (an idempotency hit gives the existing task's id).
        """
        validated = [validate(r) for r in requests]
        ids: list[str] = []
        built: list[Prepared] = []
        try:
            sha = self.redis.script_load(self._create.script)  # also reloads after a restart
            conn = self.redis.connection_pool.get_connection()
        except REDIS_DOWN as exc:
            raise ServiceUnavailable("task store unavailable; nothing was enqueued") from exc
        try:
            in_flight = False
            for start in range(0, len(validated), chunk):
                batch = [
                    build(v, self.keys, publish=self._direct)
                    for v in validated[start : start + chunk]
                ]
                payload = orjson.dumps(
                    [[p.script_keys, [str(a) for a in p.script_args]] for p in batch]
                )
                conn.send_command("EVALSHA", sha, 0, payload)  # type: ignore[no-untyped-call]
                if in_flight:
                    ids.extend(_bulk_ids(conn.read_response()))
                in_flight = True
                built.extend(batch)
            if in_flight:
                ids.extend(_bulk_ids(conn.read_response()))
        except REDIS_DOWN as exc:
            conn.disconnect()  # type: ignore[no-untyped-call]
            raise ServiceUnavailable(
                f"task store unavailable after {len(ids)} of {len(validated)} tasks were enqueued"
            ) from exc
        except BaseException:
            # Replies may be pending on it: never hand it back half-read.
            conn.disconnect()  # type: ignore[no-untyped-call]
            raise
        finally:
            self.redis.connection_pool.release(conn)
        if not self._direct:
            for p, task_id in zip(built, ids, strict=True):
                if p.task_id == task_id:  # not an idempotency hit
                    self._publish_with_celery(p)
        return ids

    def _publish_with_celery(self, p: Prepared) -> None:
        req = p.request
        self.app.send_task(
            req.task_name,
            args=list(req.args),
            kwargs=dict(req.kwargs),
            task_id=p.task_id,
            queue=p.queue,
            # AMQP serves the highest number first, the Redis transport the lowest.
            priority=9 - p.broker_priority,
            eta=eta_from(req.countdown, req.eta),
        )

    def cancel(self, task_id: str, *, terminate: bool = False, requested_by: str = "system") -> str:
        """Cancel a task. A queued task never starts; a running one is stopped only if `terminate`.

        Returns the state the task was in.
        """
        current = self.status.get_raw(task_id)
        if not current:
            raise TaskNotFound(task_id)
        outcome = self.status.transition(
            task_id,
            "revoked" if terminate else "cancel",
            detail=f"cancelled by {requested_by}" + (" (terminate)" if terminate else ""),
        )
        if outcome.outcome is Outcome.FINAL:
            raise Conflict(f"task already finished ({outcome.state})")
        if outcome.outcome is Outcome.RUNNING:
            raise Conflict("task is running; cancel with terminate=true to stop it")
        if outcome.outcome is Outcome.MISSING:
            raise TaskNotFound(task_id)
        # The record is authoritative (a queued task checks it before starting); the broadcast
        # drops it from workers' ETA holds at once and, with terminate, kills the running child.
        self.app.control.revoke(task_id, terminate=terminate, signal="SIGTERM")
        return current.get("state", "PENDING")

    def retry(
        self,
        task_id: str,
        *,
        requested_by: str = "system",
        stored: Mapping[str, str] | None = None,
    ) -> EnqueueResult:
        """Run a FAILURE or REVOKED task again as a new task linked to the old one.

        `stored` (name, args and kwargs as JSON, queue, priority, owner) stands in for a record
        that has expired from Redis: the dead-letter store keeps failed tasks longer.
        """
        record = self.status.get_raw(task_id) or dict(stored or {})
        if not record:
            raise TaskNotFound(task_id)
        if record.get("state", "FAILURE") not in ("FAILURE", "REVOKED"):
            raise Conflict(
                f"only FAILURE or REVOKED tasks can be retried (state {record.get('state')})"
            )
        if record.get("name") not in TASK_SPECS:
            raise Conflict(f"task {record.get('name')!r} is no longer registered")
        return self.submit(
            TaskRequest(
                task_name=record["name"],
                args=json.loads(record.get("args") or "[]"),
                kwargs=json.loads(record.get("kwargs") or "{}"),
                priority=record.get("priority"),
                queue=record.get("queue"),
                owner=record.get("owner", "system"),
                correlation_id=record.get("correlation_id"),
                # Two operators pressing retry at once get one new task.
                idempotency_key=f"retry-of:{task_id}",
                metadata={"retried_by_user": requested_by},
                retry_of=task_id,
            )
        )


class AsyncCeleryTaskService:
    """The API's non-blocking enqueue (Redis broker); same validation and script as above."""

    def __init__(self, client: aioredis.Redis, sync_service: CeleryTaskService) -> None:
        self.redis = client
        self.sync = sync_service
        self._create = client.register_script(script("create"))

    async def submit(self, req: TaskRequest) -> EnqueueResult:
        if not self.sync._direct:
            from starlette.concurrency import run_in_threadpool

            return await run_in_threadpool(self.sync.submit, req)
        prepared = prepare(req, self.sync.keys)
        try:
            raw = await self._create(keys=prepared.script_keys, args=prepared.script_args)
        except REDIS_DOWN as exc:
            raise ServiceUnavailable("task store unavailable; nothing was enqueued") from exc
        return _result(raw)

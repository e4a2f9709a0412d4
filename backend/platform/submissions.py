"""A submission before it reaches Redis: the request, its validation against the catalogue
(task, queue, priority, arguments, idempotency key), and the prepared message and record.

Pure apart from reading the catalogue and settings: the enqueue service (`enqueue`) and the
outbox both build on it, so a task accepted while Redis is down was validated the same way.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import orjson

from backend.core import randomness, tracing
from backend.core.clock import now_ms
from backend.core.enums import SYSTEM_OWNER, Priority, QueueName
from backend.core.errors import (
    InvalidPriority,
    InvalidRequest,
    PayloadTooLarge,
    UnknownQueue,
    UnknownTask,
)
from backend.core.keys import Keys, keys
from backend.core.settings import settings
from backend.platform.catalogue import TASK_SPECS, spec_for
from backend.platform.messages import build_message, eta_from, owner_headers
from backend.platform.records import history_entry

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
    owner: str = SYSTEM_OWNER
    correlation_id: str | None = None
    idempotency_key: str | None = None
    metadata: Mapping[str, Any] | None = None
    retry_of: str | None = None
    # Fixed by the caller when the task is staged in the SQL outbox before it is published:
    # publishing it again then finds the record and creates nothing.
    task_id: str | None = None
    # W3C trace context of the message (backend/core/tracing.py); by default a child of the
    # current span (the API request, or the task that enqueues this one).
    traceparent: str | None = None
    # The owner's role when a person submitted it (None: the platform itself). The task checks
    # again that a client's task touches only the client's own rows (backend/worker/ownership).
    owner_role: str | None = None


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
    if len(metadata_json) > settings.security.metadata_max_bytes:
        raise PayloadTooLarge(
            f"metadata over {settings.security.metadata_max_bytes} bytes (METADATA_MAX_BYTES)"
        )
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
    task_id = req.task_id or str(randomness.uuid4())
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
            headers={**(trace_headers(req) or {}), **owner_headers(req.owner, req.owner_role)},
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
    if req.owner_role:
        fields["owner_role"] = req.owner_role
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


def trace_headers(req: TaskRequest) -> dict[str, str] | None:
    """The message's `traceparent` header: the request's own, else a child of the current span."""
    traceparent = req.traceparent or tracing.child_header()
    return {tracing.HEADER: traceparent} if traceparent else None


def result_of(raw: Sequence[Any]) -> EnqueueResult:
    """[status, task_id] from the create script: 1 created, 0 an idempotency hit (the id is the
    existing task's), -1 the record exists already. Ids are fresh uuid4s or fixed by the
    outbox, so -1 is this very task, created by an earlier try: a call retried after its reply
    was lost, or an outbox row published again after a crash."""
    status, task_id = int(raw[0]), str(raw[1])
    return EnqueueResult(task_id=task_id, created=status == 1)


def bulk_ids(raw: Sequence[Any]) -> list[str]:
    """Task ids from the bulk create reply [status, id, status, id, ...]."""
    return [result_of((raw[i], raw[i + 1])).task_id for i in range(0, len(raw), 2)]

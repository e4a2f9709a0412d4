"""The one way to enqueue, bulk-enqueue, cancel and retry a task (requests are validated and
prepared by `submissions`).

On a Redis broker, enqueue is one Lua call that checks the idempotency key, creates the
PENDING record and pushes the Celery message onto the queue's priority list, atomically: a
status read right after enqueue never 404s, and a failed call leaves nothing behind.
`enqueue_many` pipelines the same script, thousands of tasks per round trip.
On another broker (RabbitMQ) the record is created first, then Celery publishes.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

import orjson
import redis
import redis.asyncio as aioredis
from celery import Celery

from backend.adapters.redis_clients import REDIS_DOWN
from backend.core.enums import Priority
from backend.core.enums import TransitionOutcome as Outcome
from backend.core.errors import (
    Conflict,
    ServiceUnavailable,
    TaskNotFound,
)
from backend.core.keys import Keys, keys
from backend.core.settings import settings
from backend.platform.catalogue import TASK_SPECS
from backend.platform.celery_app import celery_app
from backend.platform.lua import script
from backend.platform.messages import eta_from
from backend.platform.status import TaskStatusManager
from backend.platform.submissions import (
    EnqueueResult,
    Prepared,
    TaskRequest,
    build,
    bulk_ids,
    prepare,
    result_of,
    trace_headers,
    validate,
)


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
            result = result_of(self._create(keys=prepared.script_keys, args=prepared.script_args))
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
                    ids.extend(bulk_ids(conn.read_response()))
                in_flight = True
                built.extend(batch)
            if in_flight:
                ids.extend(bulk_ids(conn.read_response()))
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
            headers=trace_headers(req),
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
                # A dead letter written without them stores "" (the spec's defaults apply).
                priority=record.get("priority") or None,
                queue=record.get("queue") or None,
                owner=record.get("owner", "system"),
                owner_role=record.get("owner_role") or None,
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
            return await asyncio.to_thread(self.sync.submit, req)
        prepared = prepare(req, self.sync.keys)
        try:
            raw = await self._create(keys=prepared.script_keys, args=prepared.script_args)
        except REDIS_DOWN as exc:
            raise ServiceUnavailable("task store unavailable; nothing was enqueued") from exc
        return result_of(raw)

"""Operators' controls of the running system: pause, resume and purge a queue; open, close or
reset a breaker. The API and the CLI both call these; each action is logged and appended to
the audit stream `<prefix>audit:controls` with who did it.

- **Pause** adds the queue to the paused set and tells the workers serving it to stop consuming
  it (a broadcast to each). Its messages stay. Workers also compare their consumers with the
  set at every heartbeat (backend/worker/queue_controls.py), so a worker that missed the
  broadcast, or started later, follows it within `WORKER_HEARTBEAT_S`.
- **Resume** removes it and tells those workers to consume it again.
- **Purge** removes the queue's waiting messages and marks their tasks `REVOKED` in the same
  Lua call (lua/purge.lua), so that the orphan sweep never publishes them again. Messages a
  worker already holds (running, or waiting for their ETA) are not touched.
"""

from __future__ import annotations

from typing import Any

import redis

from backend.core.clock import now_ms
from backend.core.enums import AuditAction, QueueName, ResourceType
from backend.core.errors import BreakerNotFound, UnknownQueue
from backend.core.keys import Keys, keys
from backend.core.logging import get_logger
from backend.core.settings import settings
from backend.platform.audit import AuditContext
from backend.platform.celery_app import celery_app
from backend.platform.lua import script
from backend.platform.status import TaskStatusManager
from backend.resilience.breakers import BreakerAction, breaker_for, breaker_states

__all__ = [
    "PURGE_CHUNK",
    "QueueControls",
    "audit_entries",
    "breaker_states",
    "change_breaker",
    "control_queue",
    "record_action",
    "set_breaker",
]

log = get_logger(__name__)
PURGE_CHUNK = 1000
AUDIT_MAX = 10_000
QUEUE_ACTIONS = {
    "pause": AuditAction.PAUSE_QUEUE,
    "resume": AuditAction.RESUME_QUEUE,
    "purge": AuditAction.PURGE_QUEUE,
}


def _queue(name: str) -> str:
    if name not in {q.value for q in QueueName}:
        allowed = ", ".join(q.value for q in QueueName)
        raise UnknownQueue(f"unknown queue {name!r}; use one of {allowed}")
    return name


def record_action(
    client: redis.Redis, actor: str, action: str, target: str, k: Keys = keys, **detail: Any
) -> None:
    """Log a control action and append it to the audit stream, with who did it."""
    log.info("control_action", actor=actor, action=action, target=target, **detail)
    fields = {"actor": actor, "action": action, "target": target, "at": now_ms()}
    fields.update({key: str(value) for key, value in detail.items()})
    client.xadd(k.audit_controls, fields, maxlen=AUDIT_MAX, approximate=True)  # type: ignore[arg-type]


def audit_entries(client: redis.Redis, limit: int = 50, k: Keys = keys) -> list[dict[str, str]]:
    """The newest control actions first."""
    raw: Any = client.xrevrange(k.audit_controls, count=limit)
    return [{"id": str(entry_id), **fields} for entry_id, fields in raw]


class QueueControls:
    def __init__(self, client: redis.Redis, k: Keys = keys) -> None:
        self.redis = client
        self.keys = k
        self._purge = client.register_script(script("purge"))

    def paused(self) -> set[str]:
        return {str(q) for q in self.redis.smembers(self.keys.paused_queues)}  # type: ignore[union-attr]

    def _serving(self, queue: str) -> list[str]:
        """Hostnames of the live workers configured to consume `queue`."""
        workers = TaskStatusManager(self.redis, self.keys).live_workers()
        return [w["hostname"] for w in workers if queue in (w.get("queues") or [])]

    def pause(self, name: str, actor: str) -> dict[str, Any]:
        queue = _queue(name)
        added = self.redis.sadd(self.keys.paused_queues, queue)
        destinations = self._serving(queue)
        if destinations:
            celery_app.control.cancel_consumer(queue, destination=destinations)
        record_action(self.redis, actor, "queue_pause", queue, self.keys)
        return {"queue": queue, "paused": True, "changed": bool(added), "workers": destinations}

    def resume(self, name: str, actor: str) -> dict[str, Any]:
        queue = _queue(name)
        removed = self.redis.srem(self.keys.paused_queues, queue)
        destinations = self._serving(queue)
        if destinations:
            celery_app.control.add_consumer(queue, destination=destinations)
        record_action(self.redis, actor, "queue_resume", queue, self.keys)
        return {"queue": queue, "paused": False, "changed": bool(removed), "workers": destinations}

    def purge(self, name: str, actor: str) -> dict[str, Any]:
        """Remove every waiting message of the queue, in chunks; their tasks become REVOKED."""
        queue = _queue(name)
        removed = revoked = 0
        while True:
            got_removed, got_revoked = self._purge(
                keys=self.keys.broker_queues(queue),
                args=[
                    self.keys.prefix,
                    now_ms(),
                    PURGE_CHUNK,
                    f"purged from {queue} by {actor}",
                    settings.tasks.record_ttl_s,
                ],
            )
            removed += int(got_removed)
            revoked += int(got_revoked)
            if int(got_removed) < PURGE_CHUNK:
                break
        record_action(
            self.redis, actor, "queue_purge", queue, self.keys, removed=removed, revoked=revoked
        )
        return {"queue": queue, "removed": removed, "revoked": revoked}


def set_breaker(
    client: redis.Redis, service: str, action: BreakerAction, actor: str
) -> dict[str, Any]:
    """Open (held until closed), close or reset the shared breaker of `service`."""
    breaker = breaker_for(service)
    if breaker is None:
        raise BreakerNotFound(service, settings.breakers.per_service)
    state = breaker.force(action, actor)
    record_action(client, actor, f"breaker_{action}", service)
    return {"breaker": service, "state": state, **breaker_states(client).get(service, {})}


def control_queue(
    client: redis.Redis, name: str, action: str, audit: AuditContext
) -> dict[str, Any]:
    """Pause, resume or purge a queue for the API and the CLI alike, in the SQL audit trail:
    the row is written before the action (an action that cannot be audited does not happen),
    and replaced by a `failed` one if the action raises."""
    queue_controls = QueueControls(client)
    method = {"pause": queue_controls.pause, "resume": queue_controls.resume,
              "purge": queue_controls.purge}[action]  # fmt: skip
    return audit.run(QUEUE_ACTIONS[action], ResourceType.QUEUE, name, method, name, audit.actor)


def change_breaker(
    client: redis.Redis, service: str, action: BreakerAction, audit: AuditContext
) -> dict[str, Any]:
    """`set_breaker`, in the SQL audit trail (as `control_queue`)."""
    return audit.run(
        AuditAction.CHANGE_BREAKER,
        ResourceType.BREAKER,
        service,
        set_breaker,
        client,
        service,
        action,
        audit.actor,
    )

"""Maintenance on the `maintenance` queue: retention clean-up, crash recovery, the canary."""

from __future__ import annotations

import time
from typing import Any

from backend.adapters.redis_clients import get_redis
from backend.core.settings import settings
from backend.platform import retention
from backend.platform.celery_app import celery_app
from backend.platform.outbox import Outbox
from backend.platform.recovery.reaper import Reaper
from backend.worker import TrackedTask, status_manager, task_service, tracked_task


@tracked_task("maintenance.purge_expired")
def purge_expired(self: TrackedTask) -> dict[str, Any]:
    """Retention clean-up of every kind; the result says what was removed, per kind."""
    backend = celery_app.backend
    prefixes = [backend.task_keyprefix, backend.group_keyprefix]
    return retention.run(status_manager(), get_redis(), prefixes)


@tracked_task("maintenance.reap_lost_tasks")
def reap_lost_tasks(self: TrackedTask) -> dict[str, Any]:
    """Re-queue the messages of dead workers now, on demand (ops, tests). Not scheduled: every
    worker's main process already runs this pass every REAPER_INTERVAL_S, without waiting
    behind a queue's backlog or for beat."""
    return Reaper(get_redis()).reap()


@tracked_task("maintenance.relay_outbox")
def relay_outbox(self: TrackedTask) -> dict[str, Any]:
    """Publish what the outbox still holds (accepted while Redis was down)."""
    return {"published": Outbox(task_service()).drain(grace_s=settings.outbox.relay_grace_s)}


@tracked_task("maintenance.ping")
def ping(self: TrackedTask) -> dict[str, Any]:
    return {"pong": True, "worker": self.request.hostname, "at": time.time()}

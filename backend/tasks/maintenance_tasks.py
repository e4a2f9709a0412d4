"""Maintenance on the `maintenance` queue: retention clean-up, crash recovery, the canary."""

from __future__ import annotations

import time
from typing import Any

from backend.celery_config import celery_app
from backend.config import settings
from backend.services import retention
from backend.services.reaper import Reaper
from backend.services.redis_client import get_redis
from backend.tasks.base import TrackedTask, status_manager, tracked_task


@tracked_task("maintenance.purge_expired")
def purge_expired(self: TrackedTask) -> dict[str, Any]:
    """Retention clean-up of every kind; the result says what was removed, per kind."""
    backend = celery_app.backend
    prefixes = [backend.task_keyprefix, backend.group_keyprefix]
    return retention.run(status_manager(), get_redis(), prefixes)


@tracked_task("maintenance.reap_lost_tasks")
def reap_lost_tasks(self: TrackedTask) -> dict[str, Any]:
    """Re-queue tasks whose worker died mid-run (beat runs this every REAPER_INTERVAL_S)."""
    # A delivery younger than one heartbeat period may not have been started yet.
    return Reaper(get_redis()).reap(grace_s=2 * settings.worker_heartbeat_s)


@tracked_task("maintenance.ping")
def ping(self: TrackedTask) -> dict[str, Any]:
    return {"pong": True, "worker": self.request.hostname, "at": time.time()}

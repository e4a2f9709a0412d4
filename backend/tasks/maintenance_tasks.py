"""Maintenance on the `maintenance` queue: retention clean-up and the canary."""

from __future__ import annotations

import time
from typing import Any

from backend.tasks.base import TrackedTask, status_manager, tracked_task


@tracked_task("maintenance.purge_expired")
def purge_expired(self: TrackedTask) -> dict[str, Any]:
    return status_manager().purge_expired()


@tracked_task("maintenance.ping")
def ping(self: TrackedTask) -> dict[str, Any]:
    return {"pong": True, "worker": self.request.hostname, "at": time.time()}

"""Driving crash recovery from a test: reaper passes until a killed task runs again."""

from __future__ import annotations

import time

from backend.platform.enqueue import CeleryTaskService
from backend.platform.recovery.reaper import Reaper

RECOVERY_BOUND_S = 60  # the crash-recovery requirement; the test heartbeat TTL is 4 s


def recover(service: CeleryTaskService, task_id: str, killed_at: float) -> float:
    """For tests of what a redelivery does (test_exactly_once): run reaper passes from here,
    besides the workers' own, until the task starts again; seconds since `killed_at`
    (time.monotonic())."""
    reaper = Reaper(service.redis)
    deadline = killed_at + RECOVERY_BOUND_S
    while time.monotonic() < deadline:
        record = service.status.get(task_id)
        if record and record["attempts"] >= 2:
            return time.monotonic() - killed_at
        reaper.reap()
        time.sleep(0.5)
    raise AssertionError(f"task {task_id} not recovered within {RECOVERY_BOUND_S} s")

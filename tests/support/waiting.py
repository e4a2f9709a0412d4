"""Polling helpers: wait, with a deadline, for a task's state or any condition."""

from __future__ import annotations

import time
from typing import Any


def wait_for_state(get: Any, task_id: str, states: set[str], timeout: float = 30) -> dict[str, Any]:
    """Poll a task's status until it reaches one of `states`."""
    deadline = time.monotonic() + timeout
    record: dict[str, Any] | None = None
    while time.monotonic() < deadline:
        record = get(task_id)
        if record and record["state"] in states:
            return record
        time.sleep(0.05)
    raise AssertionError(f"task {task_id} did not reach {states}: {record}")


def wait_for(predicate: Any, timeout: float, what: str) -> None:
    """Poll `predicate` until it holds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")

"""Failure e-mails to operators, grouped: at most one per task name per window.

The first final failure of a task name opens a window of `ALERT_WINDOW_S`; every failure in
it is counted (one Lua call), and only the first enqueues the e-mail, due when the window
closes, which then reports how many failed, a few of their ids and the last error. 1,000
failures in a window are one e-mail, not 1,000.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import redis

from backend.core.clock import now_ms
from backend.core.keys import Keys, keys
from backend.core.settings import settings
from backend.platform.lua import script

__all__ = [
    "IDS_KEPT",
    "FailureWindow",
    "count_failure",
    "subject_of",
    "window_of",
    "window_summary",
]

IDS_KEPT = 10


@dataclass(frozen=True)
class FailureWindow:
    task_name: str
    window_ms: int  # when the window opened (its id)
    opened: bool  # this failure opened it: enqueue the e-mail


def subject_of(window: FailureWindow) -> str:
    """The e-mail task's subject id: `<window start ms>:<task name>` (no personal data)."""
    return f"{window.window_ms}:{window.task_name}"


def window_of(subject_id: str) -> tuple[int, str]:
    start, _, name = subject_id.partition(":")
    return int(start), name


def count_failure(
    client: redis.Redis, task_name: str, task_id: str, k: Keys = keys
) -> FailureWindow:
    window_ms = int(settings.observability.alert_window_s * 1000)
    raw: Any = client.register_script(script("alert_window"))(
        keys=[k.alert_window(task_name)],
        args=[now_ms(), task_id, window_ms, IDS_KEPT, f"{k.alert_window(task_name)}:"],
    )
    return FailureWindow(task_name, int(raw[0]), bool(int(raw[1])))


def delay_s(window: FailureWindow) -> float:
    """Seconds until the window closes (plus one, so that its last failures are counted)."""
    closes = window.window_ms + settings.observability.alert_window_s * 1000
    return max(1.0, math.ceil((closes - now_ms()) / 1000) + 1.0)


def window_summary(client: redis.Redis, subject_id: str, k: Keys = keys) -> dict[str, Any]:
    """How many failed in the window, and the ids kept (the first ones)."""
    start, name = window_of(subject_id)
    data = f"{k.alert_window(name)}:{start}"
    pipe = client.pipeline(transaction=False)
    pipe.hmget(data, ["count", "window_ms"])
    pipe.lrange(f"{data}:ids", 0, -1)
    (count, length_ms), ids = pipe.execute()
    return {
        "task_name": name,
        "window_start_ms": start,
        "window_s": int(length_ms or 0) / 1000,
        "count": int(count or 0),
        "task_ids": list(ids),
    }

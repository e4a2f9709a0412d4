"""Counters the transition and recovery scripts keep in Redis: per task name (transitions by
state and queue, run and wait histograms, final failures by error type), deferrals by cause
and service, and recovery work. /metrics exports them; the stats and the console summarise.
"""

from __future__ import annotations

from dataclasses import dataclass

import redis

from backend.core.keys import Keys, keys
from backend.platform import histograms

__all__ = ["TaskCounters", "deferral_counters", "recovery_counters", "task_counters"]


@dataclass(frozen=True)
class TaskCounters:
    """One task name's counters: transitions by (state, queue), histograms, failures by type."""

    name: str
    transitions: dict[tuple[str, str], int]
    runtime: histograms.Histogram
    wait: histograms.Histogram
    failures: dict[str, int]


def task_counters(client: redis.Redis, k: Keys = keys) -> list[TaskCounters]:
    """Every task name's counters and histograms as the transition script keeps them
    (what /metrics exports and the stats summarise), in one round trip after the names."""
    names = sorted(str(n) for n in client.smembers(k.stats_names))  # type: ignore[union-attr]
    pipe = client.pipeline(transaction=False)
    for name in names:
        pipe.hgetall(k.stats_counts(name))
        pipe.hgetall(k.stats_hist_run(name))
        pipe.hgetall(k.stats_hist_wait(name))
        pipe.hgetall(k.stats_failures(name))
    raw = pipe.execute()
    out = []
    for i, name in enumerate(names):
        by_state_queue: dict[tuple[str, str], int] = {}
        for field, value in raw[4 * i].items():
            state, _, queue = str(field).partition("|")
            key = (state, queue or "unknown")
            by_state_queue[key] = by_state_queue.get(key, 0) + int(value)
        out.append(
            TaskCounters(
                name=name,
                transitions=by_state_queue,
                runtime=histograms.parse(raw[4 * i + 1]),
                wait=histograms.parse(raw[4 * i + 2]),
                failures={str(f): int(v) for f, v in raw[4 * i + 3].items()},
            )
        )
    return out


def recovery_counters(client: redis.Redis, k: Keys = keys) -> dict[str, int]:
    """Reaper requeues, orphan republishes and Redis outage retries, platform-wide."""
    raw: dict[str, str] = client.hgetall(k.stats_recovery)  # type: ignore[assignment]
    return {str(f): int(v) for f, v in raw.items()}


def deferral_counters(client: redis.Redis, k: Keys = keys) -> dict[tuple[str, str], int]:
    """Deferred runs by (cause, service): `rate_limit` or `breaker`."""
    raw: dict[str, str] = client.hgetall(k.stats_deferrals)  # type: ignore[assignment]
    out: dict[tuple[str, str], int] = {}
    for field, value in raw.items():
        cause, _, service = str(field).partition("|")
        out[(cause, service or "unknown")] = int(value)
    return out

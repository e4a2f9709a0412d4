"""Prometheus metrics of the task platform, read at scrape time from Redis and SQL.

Every family is named `ltq_*` in base units (seconds). The task counters and the run and wait
time histograms are kept in Redis by the transition script (backend/platform/counters.py),
so every API replica reports the same totals. Labels are bounded, code-defined values only:
task name, queue, priority, state, error type, service, cause, host or worker name; never a
user, an e-mail, an id or free text (a value outside the expected shape is exported as
`other`). The README's metrics table lists them all; the API adds its HTTP metrics
(backend/api/middleware/metrics.py).
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import redis
from prometheus_client import CollectorRegistry
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector

from backend.core.enums import QueueName
from backend.core.keys import keys
from backend.core.settings import settings
from backend.platform import counters, dead_letters
from backend.platform.outbox import Outbox
from backend.platform.status import TaskStatusManager
from backend.resilience.breakers import BREAKER_STATE_VALUES, breaker_states

__all__ = ["PREFIX", "REGISTRY", "TaskPlatformCollector", "safe_label"]

PREFIX = "ltq_"
REGISTRY = CollectorRegistry(auto_describe=True)

_SHAPES = {
    "task": re.compile(r"[a-z][a-z0-9_]*(\.[a-z0-9_]+)+"),
    "error": re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,79}"),
    "word": re.compile(r"[a-z][a-z0-9_]{0,39}"),
    "host": re.compile(r"[A-Za-z0-9][A-Za-z0-9@._-]{0,99}"),
}


def safe_label(kind: str, value: str) -> str:
    """`value` if it has the shape of its kind (task name, error type, word, host), else
    `other`: a label never carries free text, whatever reached Redis."""
    return value if _SHAPES[kind].fullmatch(value) else "other"


def _gauge(name: str, doc: str, labels: list[str] | None = None) -> GaugeMetricFamily:
    return GaugeMetricFamily(PREFIX + name, doc, labels=labels)


def _counter(name: str, doc: str, labels: list[str] | None = None) -> CounterMetricFamily:
    return CounterMetricFamily(PREFIX + name, doc, labels=labels)


class TaskPlatformCollector(Collector):
    def __init__(self, status: TaskStatusManager) -> None:
        self.status = status
        self.redis: redis.Redis = status.redis

    def collect(self) -> Iterator[Metric]:
        error = _gauge("scrape_error", "1 if this source could not be read", ["source"])
        for source, part in (("redis", self._from_redis), ("database", self._from_database)):
            families: list[Metric] = []
            try:
                families = list(part())
                error.add_metric([source], 0)
            except Exception:
                error.add_metric([source], 1)
            yield from families
        yield error

    # --- Redis: tasks, queues, workers, breakers, recovery ---------------------------------
    def _from_redis(self) -> Iterator[Metric]:
        yield from self._tasks()
        yield from self._queues()
        yield from self._workers()
        yield from self._resilience()

    def _tasks(self) -> Iterator[Metric]:
        transitions = _counter(
            "task_transitions", "Task state transitions", ["task", "queue", "state"]
        )
        retries = _counter(
            "task_retries", "Attempts that failed and were retried", ["task", "queue"]
        )
        failures = _counter(
            "task_failures", "Tasks that failed for good, by error type", ["task", "reason"]
        )
        run = HistogramMetricFamily(
            PREFIX + "task_run_seconds",
            "Run time of an attempt that ended (success or failure)",
            labels=["task"],
        )
        wait = HistogramMetricFamily(
            PREFIX + "task_wait_seconds", "Time from enqueue to first start", labels=["task"]
        )
        for c in counters.task_counters(self.redis, self.status.keys):
            task = safe_label("task", c.name)
            for (state, queue), n in sorted(c.transitions.items()):
                labels = [
                    task,
                    safe_label("word", queue),
                    safe_label("word", state.lower()).upper(),
                ]
                transitions.add_metric(labels, n)
                if state == "RETRY":
                    retries.add_metric(labels[:2], n)
            for reason, n in sorted(c.failures.items()):
                failures.add_metric([task, safe_label("error", reason)], n)
            for family, hist in ((run, c.runtime), (wait, c.wait)):
                family.add_metric([task], hist.cumulative(), sum_value=hist.sum_s)
        yield from (transitions, retries, failures, run, wait)

    def _queues(self) -> Iterator[Metric]:
        depth = _gauge("queue_depth", "Messages waiting", ["queue", "priority"])
        age = _gauge(
            "queue_oldest_age_seconds", "Age of the oldest waiting message (0 if none)", ["queue"]
        )
        paused = _gauge("queue_paused", "1 while operators have the queue paused", ["queue"])
        stopped = {str(q) for q in self.redis.smembers(keys.paused_queues)}  # type: ignore[union-attr]
        for queue, info in self.status.queues_status().items():
            for priority, n in info["depth_by_priority"].items():
                depth.add_metric([queue, priority], n)
            age.add_metric([queue], info["oldest_age_s"] or 0.0)
        for queue in QueueName:
            paused.add_metric([queue.value], 1 if queue.value in stopped else 0)
        yield from (depth, age, paused)

    def _workers(self) -> Iterator[Metric]:
        live = _gauge("workers_live", "Workers with a fresh heartbeat", ["host"])
        expected = _gauge(
            "workers_expected", "Workers the deployment should have (WORKERS_EXPECTED)"
        )
        pool = _gauge(
            "worker_pool_processes", "Pool processes of a worker now (autoscaled)", ["worker"]
        )
        busy = _gauge("worker_busy_slots", "Pool processes running a task now", ["worker"])
        per_host: dict[str, int] = {}
        for w in self.status.live_workers():
            name = safe_label("host", str(w["hostname"]))
            host = safe_label("host", str(w["hostname"]).rpartition("@")[2])
            per_host[host] = per_host.get(host, 0) + 1
            pool.add_metric([name], float(w.get("pool_processes", w.get("concurrency", 0)) or 0))
            busy.add_metric([name], float(w.get("busy", 0) or 0))
        for host, n in sorted(per_host.items()):
            live.add_metric([host], n)
        expected.add_metric([], settings.observability.workers_expected)
        yield from (live, expected, pool, busy)

    def _resilience(self) -> Iterator[Metric]:
        state = _gauge(
            "breaker_state", "Circuit breaker: 0 closed, 1 half-open, 2 open", ["service"]
        )
        for service, info in breaker_states(self.redis).items():
            state.add_metric(
                [safe_label("word", service)], BREAKER_STATE_VALUES.get(info["state"], 2)
            )
        deferrals = _counter(
            "deferrals",
            "Runs sent back for later by a rate limit or an open breaker (no attempt used)",
            ["cause", "service"],
        )
        for (cause, service), n in sorted(
            counters.deferral_counters(self.redis, self.status.keys).items()
        ):
            deferrals.add_metric([safe_label("word", cause), safe_label("word", service)], n)
        recovery = counters.recovery_counters(self.redis, self.status.keys)
        yield from (state, deferrals)
        for field, name, doc in _RECOVERY:
            family = _counter(name, doc)
            family.add_metric([], recovery.get(field, 0))
            yield family

    # --- SQL: outbox and dead letters ------------------------------------------------------
    def _from_database(self) -> Iterator[Metric]:
        backlog = Outbox.backlog()
        pending = _gauge("outbox_backlog", "Tasks accepted while Redis was down, not yet published")
        pending.add_metric([], backlog["pending"])
        oldest = _gauge("outbox_oldest_age_seconds", "Age of the oldest outbox entry (0 if none)")
        oldest.add_metric([], backlog["oldest_age_s"] or 0)
        found = dead_letters.counts()
        waiting = _gauge(
            "dead_letters_waiting",
            "Open dead-letter entries (neither replayed nor discarded)",
            ["queue", "reason"],
        )
        replayed = _counter(
            "dead_letters_replayed", "Dead-letter entries replayed", ["queue", "reason"]
        )
        for family, part in ((waiting, "waiting"), (replayed, "replayed")):
            for (queue, reason), n in sorted(found[part].items()):
                family.add_metric([safe_label("word", queue), safe_label("word", reason)], n)
        yield from (pending, oldest, waiting, replayed)


_RECOVERY: list[tuple[str, str, str]] = [
    (
        "reaper_requeues",
        "reaper_requeues",
        "Messages of dead workers put back on their queue by a reaper",
    ),
    (
        "orphan_republishes",
        "orphan_republishes",
        "Waiting tasks whose lost message was published again",
    ),
    (
        "redis_outage_retries",
        "redis_outage_retries",
        "Redis commands workers retried while Redis was unreachable",
    ),
]

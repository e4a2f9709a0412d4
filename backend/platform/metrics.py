"""Prometheus metrics of the task platform: queue, task and worker figures read from Redis at
scrape time, in the registry the API serves at /metrics (its HTTP metrics are added by
backend.api.middleware.metrics). Labels are queue, task name and state: never a user or an id."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from prometheus_client import CollectorRegistry
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from backend.platform.status import TaskStatusManager

REGISTRY = CollectorRegistry(auto_describe=True)


class TaskPlatformCollector(Collector):
    def __init__(self, status: TaskStatusManager) -> None:
        self.status = status

    def collect(self) -> Iterator[Any]:
        depth = GaugeMetricFamily("queue_depth", "Messages waiting", labels=["queue", "priority"])
        age = GaugeMetricFamily(
            "queue_oldest_age_seconds", "Age of the oldest waiting message", labels=["queue"]
        )
        tasks = CounterMetricFamily("tasks", "Task transitions", labels=["task", "state"])
        runtime = GaugeMetricFamily(
            "task_runtime_ms", "Runtime percentiles (recent sample)", labels=["task", "quantile"]
        )
        workers = GaugeMetricFamily("workers_live", "Workers with a fresh heartbeat")
        scrape_error = GaugeMetricFamily("scrape_error", "1 if Redis could not be read")
        try:
            for queue, info in self.status.queues_status().items():
                for priority, n in info["depth_by_priority"].items():
                    depth.add_metric([queue, priority], n)
                age.add_metric([queue], info["oldest_age_s"] or 0.0)
            for name, stats in self.status.task_stats().items():
                for state, n in stats["counts"].items():
                    tasks.add_metric([name, state], n)
                for point, value in stats["runtime_ms"].items():
                    if value is not None:
                        runtime.add_metric([name, point], value)
            workers.add_metric([], len(self.status.live_workers()))
            scrape_error.add_metric([], 0)
        except Exception:
            scrape_error.add_metric([], 1)
        yield from (depth, age, tasks, runtime, workers, scrape_error)

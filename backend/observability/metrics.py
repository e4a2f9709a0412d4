"""Prometheus metrics: HTTP request counts/latency, and queue/task/worker figures read from Redis
at scrape time. Labels are queue, task name, state, route and status: never a user or an id."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from backend.services.task_status_manager import TaskStatusManager

REGISTRY = CollectorRegistry(auto_describe=True)
HTTP_REQUESTS = Counter(
    "http_requests_total", "HTTP requests", ["method", "route", "status"], registry=REGISTRY
)
HTTP_LATENCY = Histogram(
    "http_request_duration_seconds",
    "HTTP request latency",
    ["route"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5),
    registry=REGISTRY,
)


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


def observe_request(method: str, route: str, status: int, started: float) -> None:
    HTTP_REQUESTS.labels(method, route, str(status)).inc()
    HTTP_LATENCY.labels(route).observe(time.perf_counter() - started)

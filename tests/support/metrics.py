"""Reading /metrics in tests: every family and sample, parsed with prometheus_client's own
parser, and the families the platform promises (the README's metrics table)."""

from __future__ import annotations

from typing import Any

from prometheus_client.parser import text_string_to_metric_families

# Every family /metrics exports, with its type (README: "Metrics").
FAMILIES: dict[str, str] = {
    "ltq_task_transitions": "counter",
    "ltq_task_retries": "counter",
    "ltq_task_failures": "counter",
    "ltq_task_run_seconds": "histogram",
    "ltq_task_wait_seconds": "histogram",
    "ltq_dead_letters_waiting": "gauge",
    "ltq_dead_letters_replayed": "counter",
    "ltq_queue_depth": "gauge",
    "ltq_queue_oldest_age_seconds": "gauge",
    "ltq_queue_paused": "gauge",
    "ltq_workers_live": "gauge",
    "ltq_workers_expected": "gauge",
    "ltq_worker_pool_processes": "gauge",
    "ltq_worker_busy_slots": "gauge",
    "ltq_outbox_backlog": "gauge",
    "ltq_outbox_oldest_age_seconds": "gauge",
    "ltq_breaker_state": "gauge",
    "ltq_deferrals": "counter",
    "ltq_reaper_requeues": "counter",
    "ltq_orphan_republishes": "counter",
    "ltq_redis_outage_retries": "counter",
    "ltq_scrape_error": "gauge",
    "ltq_http_requests": "counter",
    "ltq_http_request_duration_seconds": "histogram",
}
SUFFIXES = ("_total", "_bucket", "_sum", "_count", "_created")


def families(text: str) -> dict[str, Any]:
    """Family name -> parsed family (name without `_total`, as the parser gives it)."""
    return {f.name: f for f in text_string_to_metric_families(text)}


def sample_names(text: str) -> set[str]:
    """Every sample name exposed (`ltq_task_run_seconds_bucket`, `ltq_http_requests_total` ...)."""
    return {s.name for f in text_string_to_metric_families(text) for s in f.samples}


def value(text: str, sample: str, **labels: str) -> float:
    """The sum of the samples named `sample` whose labels include `labels` (0 if none)."""
    total = 0.0
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            if s.name == sample and all(s.labels.get(k) == v for k, v in labels.items()):
                total += s.value
    return total


def family_of(name: str) -> str:
    """The family a sample or query name belongs to (`ltq_x_bucket` -> `ltq_x`)."""
    for suffix in SUFFIXES:
        if name.endswith(suffix) and name[: -len(suffix)] in FAMILIES:
            return name[: -len(suffix)]
    return name

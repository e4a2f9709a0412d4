"""A minimal raw Celery app on the bench Redis: the baseline the platform is compared with.

JSON serializer, results ignored, Celery's defaults otherwise; its broker keys carry the
`ltqraw:` prefix so they never mix with the platform's. `raw.noop` does one INCR and nothing
else, so the benchmark can tell when the last task has run.
"""

from __future__ import annotations

import os
from typing import Any

import redis
from celery import Celery
from celery.signals import worker_ready

PREFIX = "ltqraw:"
DONE_KEY = f"{PREFIX}done"
DEFAULT_QUEUE = "celery"


def _redis_url() -> str:
    url = os.environ.get("REDIS_URL")
    if not url:
        raise RuntimeError("bench.raw_app needs REDIS_URL (the benchmark's private Redis)")
    return url


def ready_key(hostname: str) -> str:
    return f"{PREFIX}ready:{hostname}"


app = Celery("ltqraw", broker=_redis_url())
app.conf.update(
    task_serializer="json",
    accept_content=["json"],
    task_ignore_result=True,
    broker_transport_options={"global_keyprefix": PREFIX},
    broker_connection_retry_on_startup=True,
    task_default_queue=DEFAULT_QUEUE,
)

if os.environ.get("RAW_SAME_GUARANTEES") == "1":
    # The platform's delivery settings (ack after the run, no prefetch), so a run can tell
    # the cost of tracking from the cost of those guarantees.
    app.conf.update(
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        worker_disable_prefetch=True,
    )

_client: redis.Redis | None = None


def _redis() -> redis.Redis:
    global _client
    if _client is None:
        _client = redis.Redis.from_url(_redis_url())
    return _client


@app.task(name="raw.noop")
def noop(n: int) -> None:
    _redis().incr(DONE_KEY)


@worker_ready.connect
def _mark_ready(sender: Any = None, **_: Any) -> None:
    # Lets the benchmark see that this worker consumes (ours has its heartbeat for that).
    _redis().set(ready_key(sender.hostname), "1", ex=3600)

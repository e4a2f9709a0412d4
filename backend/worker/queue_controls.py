"""A worker follows the queues operators paused (backend/platform/controls.py).

Before the consumer starts, a paused queue is left out of what the worker consumes; at every
heartbeat the worker compares what it consumes with the paused set and, where they differ,
sends itself Celery's `cancel_consumer` / `add_consumer` control (run in the consumer's own
thread), so a missed broadcast or a restart never leaves a paused queue consumed.
"""

from __future__ import annotations

from typing import Any

from backend.adapters.redis_clients import get_redis
from backend.core.keys import keys
from backend.core.logging import get_logger
from backend.platform.celery_app import celery_app

log = get_logger(__name__)

_worker: Any = None
_configured: list[str] = []


def paused() -> set[str]:
    return {str(q) for q in get_redis().smembers(keys.paused_queues)}  # type: ignore[union-attr]


def leave_out_paused(app: Any) -> None:
    """At setup (before consuming): remember the configured queues, then drop the paused ones."""
    queues = app.amqp.queues
    _configured[:] = sorted(queues.consume_from)
    try:
        stopped = paused() & set(_configured)
    except Exception as exc:  # Redis down at start: the first heartbeat reconciles
        log.warning("paused_queues_unread", error=type(exc).__name__)
        return
    if stopped:
        queues.deselect(sorted(stopped))
        log.info("queues_paused_at_start", queues=sorted(stopped))


def configured(fallback: list[str]) -> list[str]:
    """The queues this worker was started for (paused ones included)."""
    return list(_configured) or fallback


def bind(consumer: Any, queues: list[str]) -> None:
    """At worker_ready: the consumer whose queues `reconcile` reads."""
    global _worker
    _worker = consumer
    if not _configured:
        _configured[:] = queues


def consuming() -> set[str]:
    task_consumer = getattr(_worker, "task_consumer", None)
    if task_consumer is None:
        return set(_configured)
    return {q.name for q in task_consumer.queues}


def reconcile(hostname: str) -> None:
    """Stop consuming paused queues and start again on resumed ones (one SMEMBERS a beat)."""
    if _worker is None:
        return
    stopped = paused()
    active = consuming()
    for queue in _configured:
        if queue in stopped and queue in active:
            log.info("queue_consumer_cancelled", queue=queue)
            celery_app.control.cancel_consumer(queue, destination=[hostname])
        elif queue not in stopped and queue not in active:
            log.info("queue_consumer_added", queue=queue)
            celery_app.control.add_consumer(queue, destination=[hostname])

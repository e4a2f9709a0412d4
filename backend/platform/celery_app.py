"""The Celery app: broker and transport options, queues, routing by catalogue, beat schedule.

What each task is (queue, retries, limits) lives in `catalogue`; worker behaviour (consumer,
transport, scheduler, TrackedTask) in backend.worker, named here by import path only.
"""

from __future__ import annotations

import sys
from typing import Any

from celery import Celery
from celery.schedules import crontab
from kombu import Queue  # type: ignore[attr-defined]

from backend.core.enums import PRIORITY_STEPS, Priority, QueueName
from backend.core.keys import BROKER_SEP
from backend.core.security.config_check import Process, guard
from backend.core.settings import settings
from backend.platform.catalogue import TASK_MODULES, TASK_SPECS


def route_by_catalogue(name: str, *_: Any, **__: Any) -> dict[str, str] | None:
    """Celery router: a task goes to its spec's queue (specs added at run time included)."""
    spec = TASK_SPECS.get(name)
    return {"queue": spec.queue.value} if spec else None


def process_of(argv: list[str]) -> Process | None:
    """The process `celery ... worker|beat|flower` runs (None: a client, e.g. the API)."""
    names = {Process.WORKER.value, Process.BEAT.value, Process.FLOWER.value}
    return next((Process(a) for a in argv[1:] if a in names), None)


# A worker, beat or Flower refuses to start in production on a fatal configuration verdict.
_process = process_of(sys.argv) if "celery" in sys.argv[0] else None
if _process is not None:
    guard(_process)

celery_app = Celery("legal_triage", include=TASK_MODULES + settings.tasks.extra_modules)

_transport_options = {
    "global_keyprefix": settings.redis.key_prefix,
    "sep": BROKER_SEP,
    "priority_steps": PRIORITY_STEPS,
    # A worker serving several queues drains them in the order given (-Q), priority first.
    "queue_order_strategy": "priority",
    # Long enough that no task still running is redelivered; a dead worker's tasks are
    # recovered by the reaper from heartbeats long before this.
    "visibility_timeout": settings.tasks.visibility_timeout_s,
    "socket_timeout": settings.redis.socket_timeout_s,
    "socket_connect_timeout": settings.redis.socket_timeout_s,
    "health_check_interval": 30,
}

celery_app.conf.update(
    # rediss:// URLs: the same CA and client certificate as the platform's own clients.
    broker_use_ssl=settings.redis.tls_options(settings.redis.effective_broker_url) or None,
    redis_backend_use_ssl=settings.redis.tls_options() or None,
    broker_url=settings.redis.effective_broker_url,
    broker_transport_options=_transport_options,
    broker_connection_retry_on_startup=True,
    broker_connection_max_retries=None,
    result_backend=settings.redis.url,
    result_backend_transport_options={"global_keyprefix": settings.redis.key_prefix},
    # Results and status live in TaskStatusManager; Celery's backend stays for chords/groups.
    task_ignore_result=True,
    result_expires=settings.tasks.result_expires_s,
    task_serializer="json",
    result_serializer="json",
    event_serializer="json",
    accept_content=["json"],
    result_accept_content=["json"],
    task_acks_late=True,
    task_reject_on_worker_lost=True,
    # How long the main process waits for a result from a pool child that died before it calls
    # the job lost and re-queues it (default 10 s): part of the recovery time after a kill.
    worker_lost_wait=2.0,
    task_acks_on_failure_or_timeout=True,
    worker_prefetch_multiplier=1,
    worker_disable_prefetch=True,
    task_queues=[Queue(q.value, routing_key=q.value) for q in QueueName],  # type: ignore[no-untyped-call]
    task_default_queue=QueueName.TRIAGE.value,
    task_routes=[route_by_catalogue],
    task_default_priority=Priority.NORMAL.broker_value,
    task_send_sent_event=False,
    worker_hijack_root_logger=False,
    worker_redirect_stdouts=False,
    worker_cancel_long_running_tasks_on_connection_loss=False,
    # Unknown task names and undecodable messages go to the dead-letter store, bodies unlogged.
    worker_consumer="backend.worker.consumer:DeadLetterConsumer",
    # --autoscale: Celery's autoscaler, keep-alive from settings, resizes logged.
    worker_autoscaler="backend.worker.autoscale:Autoscaler",
    # Same, for bytes on a queue that are not even a JSON envelope (kombu would stop the worker).
    broker_transport="backend.worker.transport:Transport"
    if settings.redis.broker_is_redis
    else None,
    timezone="America/Sao_Paulo",
    enable_utc=True,
    beat_scheduler="backend.worker.scheduler:ResilientRedBeatScheduler",
    redbeat_redis_url=settings.redis.url,
    redbeat_key_prefix=f"{settings.redis.key_prefix}redbeat:",
    redbeat_lock_timeout=settings.beat.lock_timeout_s,
    beat_max_loop_interval=settings.beat.max_loop_interval_s,
    beat_schedule={
        "purge-expired-records": {
            "task": "maintenance.purge_expired",
            "schedule": crontab(minute="17"),
        },
        "canary-ping": {"task": "maintenance.ping", "schedule": 60.0},
        # No reaper entry: every worker runs the reaper in a thread (backend/worker/task.py).
        # The API processes relay every second; this covers a deployment whose API is down.
        "relay-outbox": {"task": "maintenance.relay_outbox", "schedule": 30.0},
        "daily-operations-report": {
            "task": "reports.generate_operations_report",
            "schedule": crontab(hour="6", minute="0"),
            "kwargs": {"period_hours": 24, "report_format": "html"},
        },
    },
)

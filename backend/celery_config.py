"""The Celery app: queues, routing by task name, priorities, retry policies, time limits, beat.

Every task the platform runs has a `TaskSpec` here; routing, the enqueue checks of
CeleryTaskService and the retry/time-limit behaviour of TrackedTask all read it.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, replace
from typing import Any

from celery import Celery
from celery.exceptions import SoftTimeLimitExceeded, TimeLimitExceeded
from celery.schedules import crontab
from kombu import Queue  # type: ignore[attr-defined]

from backend.config import settings
from backend.enums import PRIORITY_STEPS, Priority, QueueName, Role
from backend.keys import BROKER_SEP


class PermanentTaskError(Exception):
    """Raised by a task for a failure that retrying cannot fix (bad input, missing row)."""


@dataclass(frozen=True)
class RetryPolicy:
    """Exponential backoff with jitter: delay_n = min(cap, base * 2**(n-1)) * U(1 - jitter, 1)."""

    max_attempts: int = 3
    backoff_base_s: float = 2.0
    backoff_cap_s: float = 300.0
    jitter: float = 0.5

    def delay_for(self, attempt: int, rand: float) -> float:
        """Delay before attempt `attempt + 1`, given the attempt that failed and U(0,1)."""
        raw = min(self.backoff_cap_s, self.backoff_base_s * 2 ** max(0, attempt - 1))
        return float(round(raw * (1 - self.jitter * rand), 3))

    def merged(self, override: dict[str, Any] | None) -> RetryPolicy:
        if not override:
            return self
        allowed = {k: v for k, v in override.items() if k in self.__dataclass_fields__}
        return replace(self, **allowed)

    def to_dict(self) -> dict[str, float]:
        return {
            "max_attempts": self.max_attempts,
            "backoff_base_s": self.backoff_base_s,
            "backoff_cap_s": self.backoff_cap_s,
            "jitter": self.jitter,
        }


# Errors that another attempt cannot fix: they fail the task at once.
NON_RETRYABLE: tuple[type[BaseException], ...] = (
    PermanentTaskError,
    SoftTimeLimitExceeded,
    TimeLimitExceeded,
    TypeError,
)


@dataclass(frozen=True)
class TaskSpec:
    name: str
    queue: QueueName
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    soft_time_limit_s: float = 60.0
    time_limit_s: float = 90.0
    default_priority: Priority = Priority.NORMAL
    # Who may submit it through the generic POST /api/tasks (domain routes enqueue their own).
    submit_roles: frozenset[Role] = frozenset({Role.OPERATOR, Role.ADMIN})
    # Shared rate limits (settings.rate_limits) taken before each run; over one, the task is
    # deferred until a slot frees. Calls that need a key use `external_call(service, key=...)`
    # in the body (backend/services/external_calls.py).
    rate_limits: tuple[str, ...] = ()


_OPS = frozenset({Role.OPERATOR, Role.ADMIN})
_ALL = frozenset(Role)

TASK_SPECS: dict[str, TaskSpec] = {
    spec.name: spec
    for spec in (
        TaskSpec(
            "triage.classify_case",
            QueueName.TRIAGE,
            RetryPolicy(max_attempts=5, backoff_base_s=2, backoff_cap_s=60),
            soft_time_limit_s=60,
            time_limit_s=90,
            submit_roles=_ALL,
        ),
        TaskSpec(
            "documents.analyse_document",
            QueueName.DOCUMENTS,
            RetryPolicy(max_attempts=3, backoff_base_s=5, backoff_cap_s=300),
            soft_time_limit_s=120,
            time_limit_s=180,
            submit_roles=_ALL,
        ),
        TaskSpec(
            "notifications.send_email",
            QueueName.NOTIFICATIONS,
            RetryPolicy(max_attempts=6, backoff_base_s=5, backoff_cap_s=900),
            soft_time_limit_s=30,
            time_limit_s=60,
            default_priority=Priority.HIGH,
            submit_roles=_OPS,
        ),
        TaskSpec(
            # A batch's completion callback: POST to the requester's URL (backoff for a
            # receiver that is down for a while; a 4xx answer fails it at once).
            "notifications.send_webhook",
            QueueName.NOTIFICATIONS,
            RetryPolicy(max_attempts=6, backoff_base_s=5, backoff_cap_s=600),
            soft_time_limit_s=30,
            time_limit_s=60,
            default_priority=Priority.HIGH,
            submit_roles=_OPS,
        ),
        TaskSpec(
            "reports.generate_operations_report",
            QueueName.REPORTS,
            RetryPolicy(max_attempts=3, backoff_base_s=30, backoff_cap_s=600),
            soft_time_limit_s=300,
            time_limit_s=360,
            default_priority=Priority.LOW,
            submit_roles=_OPS,
        ),
        TaskSpec(
            # A reaper pass on demand (see backend/services/reaper.py).
            "maintenance.reap_lost_tasks",
            QueueName.MAINTENANCE,
            RetryPolicy(max_attempts=1),
            soft_time_limit_s=20,
            time_limit_s=30,
            default_priority=Priority.HIGH,
            submit_roles=_OPS,
        ),
        TaskSpec(
            # Publishes tasks accepted while Redis was down (see backend/services/outbox.py).
            "maintenance.relay_outbox",
            QueueName.MAINTENANCE,
            RetryPolicy(max_attempts=1),
            soft_time_limit_s=60,
            time_limit_s=90,
            default_priority=Priority.HIGH,
            submit_roles=_OPS,
        ),
        TaskSpec(
            "maintenance.purge_expired",
            QueueName.MAINTENANCE,
            RetryPolicy(max_attempts=3, backoff_base_s=60, backoff_cap_s=900),
            soft_time_limit_s=600,
            time_limit_s=660,
            default_priority=Priority.LOW,
            submit_roles=_OPS,
        ),
        TaskSpec(
            # Canary: proves a worker on the queue picks up and completes work end to end.
            "maintenance.ping",
            QueueName.MAINTENANCE,
            RetryPolicy(max_attempts=1),
            soft_time_limit_s=10,
            time_limit_s=20,
            submit_roles=_ALL,
        ),
    )
}


def register_spec(spec: TaskSpec) -> None:
    """Add a task spec (used by modules listed in EXTRA_TASK_MODULES, e.g. test instruments)."""
    TASK_SPECS[spec.name] = spec
    celery_app.conf.task_routes[spec.name] = {"queue": spec.queue.value}


def spec_for(name: str) -> TaskSpec:
    spec = TASK_SPECS[name]
    override = settings.task_policy_overrides.get(name)
    return replace(spec, retry=spec.retry.merged(override)) if override else spec


TASK_MODULES = [
    "backend.tasks.triage_tasks",
    "backend.tasks.document_tasks",
    "backend.tasks.notification_tasks",
    "backend.tasks.analytics_tasks",
    "backend.tasks.maintenance_tasks",
]
EXTRA_TASK_MODULES = [m for m in os.environ.get("EXTRA_TASK_MODULES", "").split(",") if m]

celery_app = Celery("legal_triage", include=TASK_MODULES + EXTRA_TASK_MODULES)

_transport_options = {
    "global_keyprefix": settings.key_prefix,
    "sep": BROKER_SEP,
    "priority_steps": PRIORITY_STEPS,
    # A worker serving several queues drains them in the order given (-Q), priority first.
    "queue_order_strategy": "priority",
    # Long enough that no task still running is redelivered; a dead worker's tasks are
    # recovered by the reaper from heartbeats long before this.
    "visibility_timeout": settings.visibility_timeout_s,
    "socket_timeout": settings.redis_socket_timeout_s,
    "socket_connect_timeout": settings.redis_socket_timeout_s,
    "health_check_interval": 30,
}

celery_app.conf.update(
    broker_url=settings.effective_broker_url,
    broker_transport_options=_transport_options,
    broker_connection_retry_on_startup=True,
    broker_connection_max_retries=None,
    result_backend=settings.redis_url,
    result_backend_transport_options={"global_keyprefix": settings.key_prefix},
    # Results and status live in TaskStatusManager; Celery's backend stays for chords/groups.
    task_ignore_result=True,
    result_expires=settings.result_expires_s,
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
    task_routes={name: {"queue": spec.queue.value} for name, spec in TASK_SPECS.items()},
    task_default_priority=Priority.NORMAL.broker_value,
    task_send_sent_event=False,
    worker_hijack_root_logger=False,
    worker_redirect_stdouts=False,
    worker_cancel_long_running_tasks_on_connection_loss=False,
    # Unknown task names and undecodable messages go to the dead-letter store, bodies unlogged.
    worker_consumer="backend.tasks.consumer:DeadLetterConsumer",
    # Same, for bytes on a queue that are not even a JSON envelope (kombu would stop the worker).
    broker_transport="backend.tasks.transport:Transport" if settings.broker_is_redis else None,
    timezone="America/Sao_Paulo",
    enable_utc=True,
    beat_scheduler="backend.tasks.scheduler:ResilientRedBeatScheduler",
    redbeat_redis_url=settings.redis_url,
    redbeat_key_prefix=f"{settings.key_prefix}redbeat:",
    redbeat_lock_timeout=settings.beat_lock_timeout_s,
    beat_max_loop_interval=settings.beat_max_loop_interval_s,
    beat_schedule={
        "purge-expired-records": {
            "task": "maintenance.purge_expired",
            "schedule": crontab(minute="17"),
        },
        "canary-ping": {"task": "maintenance.ping", "schedule": 60.0},
        # No reaper entry: every worker runs the reaper in a thread (backend/tasks/base.py).
        # The API processes relay every second; this covers a deployment whose API is down.
        "relay-outbox": {"task": "maintenance.relay_outbox", "schedule": 30.0},
        "daily-operations-report": {
            "task": "reports.generate_operations_report",
            "schedule": crontab(hour="6", minute="0"),
            "kwargs": {"period_hours": 24, "report_format": "html"},
        },
    },
)

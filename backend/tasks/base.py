"""TrackedTask: the cross-cutting behaviour of every task, in one place.

Status transitions (one Redis round trip each), history, progress, retries with exponential
backoff and jitter from the task's policy, time limits from its spec, and the guard that keeps
a cancelled or already-finished task from running again when the broker redelivers it.
Worker-level signals (message received, revoked) and the main process's heartbeat and reaper
threads live here too.
"""

from __future__ import annotations

import json
import os
import random
import socket
import threading
import time
import uuid
from collections.abc import Callable
from functools import lru_cache
from typing import Any, TypeVar

from celery import Task
from celery.exceptions import Ignore, Reject, Retry
from celery.signals import (
    setup_logging,
    task_received,
    task_revoked,
    worker_init,
    worker_ready,
    worker_shutdown,
)

from backend.celery_config import NON_RETRYABLE, celery_app, spec_for
from backend.config import settings
from backend.enums import TaskState
from backend.observability.logging import configure_logging, get_logger, scrub
from backend.services import dead_letter
from backend.services.celery_task_service import CeleryTaskService
from backend.services.external_calls import CallDeferred, spread, take_rate_limit
from backend.services.orphans import OrphanSweep
from backend.services.reaper import Reaper
from backend.services.redis_client import get_redis, retry_through_outages
from backend.services.task_records import now_ms
from backend.services.task_status_manager import TaskStatusManager

log = get_logger(__name__)
F = TypeVar("F", bound=Callable[..., Any])
_ERROR_MESSAGE_MAX = 500


class TaskCancelled(Exception):
    """Raised inside a task by `report_progress` when the task was cancelled meanwhile."""


@lru_cache(maxsize=1)
def status_manager() -> TaskStatusManager:
    return TaskStatusManager(get_redis())


@lru_cache(maxsize=1)
def worker_instance() -> str:
    """This worker process's identity: unique even across restarts under one hostname."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


@lru_cache(maxsize=1)
def task_service() -> CeleryTaskService:
    """For tasks that enqueue follow-ups (same idempotency and tracking as the API's)."""
    return CeleryTaskService(get_redis())


def _error_fields(exc: BaseException) -> dict[str, str]:
    return {
        "error_type": type(exc).__name__,
        "error_message": scrub(str(exc))[:_ERROR_MESSAGE_MAX],
    }


class TrackedTask(Task):  # type: ignore[misc]
    # Retries are decided here from the task's policy, not by Celery's own counter.
    max_retries = None
    ignore_result = True
    typing = False
    # Settles the task's domain row once the task failed for good or was cancelled (a case
    # becomes `failed`), called with the task's arguments; set through tracked_task.
    on_final_failure: Callable[..., None] | None = None

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        req = self.request
        if req.called_directly or not req.id:
            return self.run(*args, **kwargs)
        status = status_manager()
        delivery = req.delivery_info or {}
        outcome = status.transition(
            req.id,
            "started",
            detail=f"attempt started on {req.hostname}",
            fields={
                "worker": req.hostname or "",
                "name": self.name,
                "queue": delivery.get("routing_key") or "",
                "max_attempts": str(spec_for(self.name).retry.max_attempts),
                "received_at": getattr(req, "received_at", None),
                "worker_instance": getattr(req, "worker_instance", None),
            },
        )
        if outcome.outcome == "final":
            # Cancelled while queued, or finished before a redelivery: never run again.
            log.info("task_skipped", task=self.name, task_id=req.id, state=outcome.state)
            if outcome.state is TaskState.REVOKED:
                self._settle_final_failure(args, kwargs)
            raise Ignore()
        policy = spec_for(self.name).retry.merged(outcome.policy)
        if outcome.attempts > policy.max_attempts:
            # Redelivered after its worker died on every attempt: stop the poison loop.
            status.transition(
                req.id,
                "failure",
                detail=f"gave up after {outcome.attempts - 1} attempts lost with their worker",
                fields={"error_type": "WorkerLostError", "error_message": "worker lost"},
            )
            self._dead_letter(req.id, "WorkerLostError", "worker lost", None, args, kwargs)
            self._settle_final_failure(args, kwargs)
            raise Ignore()
        try:
            for service in spec_for(self.name).rate_limits:
                take_rate_limit(service)
            return self.run(*args, **kwargs)
        except (Retry, Ignore, Reject):
            raise
        except CallDeferred as deferred:
            raise self._defer(deferred) from None
        except Exception as exc:
            if isinstance(exc, NON_RETRYABLE) or outcome.attempts >= policy.max_attempts:
                raise  # on_failure records the final failure
            delay = policy.delay_for(outcome.attempts, random.random())
            status.transition(
                req.id,
                "retry",
                detail=f"attempt {outcome.attempts} failed ({type(exc).__name__}); "
                f"retry in {delay:.1f}s",
                fields=_error_fields(exc),
            )
            raise self.retry(exc=exc, countdown=delay) from exc

    def _defer(self, deferred: CallDeferred) -> Retry:
        """Send the task back for when its service can take it; the attempt does not count."""
        delay = spread(deferred.delay_s, self.request.retries or 0)
        status_manager().transition(
            self.request.id, "deferred", detail=f"deferred: {deferred.reason}, retry in {delay}s"
        )
        return self.retry(countdown=delay, max_retries=None)  # type: ignore[no-any-return]

    def on_success(self, retval: Any, task_id: str, args: Any, kwargs: Any) -> None:
        status_manager().transition(
            task_id,
            "success",
            detail="completed",
            fields={"result": json.dumps(retval, default=str)},
        )

    def on_failure(
        self, exc: BaseException, task_id: str, args: Any, kwargs: Any, einfo: Any
    ) -> None:
        error = _error_fields(exc)
        fields: dict[str, str] = dict(error)
        if self.request.id != task_id:
            # In the worker's main process: a hard time limit killed the child, or the child
            # was lost. Only if the task is still on that run here: under chaos a job Celery
            # thought was running may have been given back and run (or deferred) since.
            fields["_running_on"] = worker_instance()
        outcome = status_manager().transition(
            task_id, "failure", detail=f"failed: {type(exc).__name__}", fields=fields
        )
        if outcome.outcome == "stale":
            log.warning("stale_failure_ignored", task=self.name, task_id=task_id,
                        error=type(exc).__name__, state=str(outcome.state))  # fmt: skip
            return
        log.warning("task_failed", task=self.name, task_id=task_id, error=type(exc).__name__)
        traceback = getattr(einfo, "traceback", None)
        self._dead_letter(
            task_id, error["error_type"], error["error_message"], traceback, args, kwargs
        )
        self._settle_final_failure(args, kwargs)
        self._alert_operators(task_id)

    def _settle_final_failure(self, args: Any, kwargs: Any) -> None:
        """Run the task's on_final_failure (logs, never raises: the failure is recorded)."""
        if self.on_final_failure is None:
            return
        try:
            self.on_final_failure(*(args or ()), **(kwargs or {}))
        except Exception as exc:
            log.warning("final_failure_hook_failed", task=self.name, error=type(exc).__name__)

    def _dead_letter(
        self,
        task_id: str,
        error_type: str,
        error_message: str,
        traceback: str | None,
        args: Any,
        kwargs: Any,
    ) -> None:
        """Keep the final failure in the dead-letter store (logs, never raises)."""
        dead_letter.record_failure(
            status_manager(), task_id, name=self.name, error_type=error_type,
            error_message=error_message, traceback=traceback, args=args, kwargs=kwargs,
        )  # fmt: skip

    def _alert_operators(self, task_id: str) -> None:
        """E-mail the operators once about a task that failed for good."""
        # A failing e-mail cannot report itself by e-mail: no alert loops.
        if self.name.startswith("notifications.") or not settings.notify_operators_on_failure:
            return
        if not settings.operator_emails:
            return
        try:
            task_service().enqueue(
                "notifications.send_email",
                ["task_failed", task_id],
                priority="HIGH",
                correlation_id=task_id,
                idempotency_key=f"notify:task_failed:{task_id}",
            )
        except Exception as exc:  # the failure itself is recorded; the alert is best effort
            log.warning("failure_alert_not_enqueued", task_id=task_id, error=type(exc).__name__)

    def report_progress(self, current: int, total: int | None = None, message: str = "") -> None:
        """Record progress; raises TaskCancelled if the task was cancelled meanwhile."""
        task_id = self.request.id
        if not task_id:
            return
        outcome = status_manager().report_progress(task_id, current, total, message)
        if outcome.outcome == "final":
            raise TaskCancelled(f"task {task_id} was cancelled")


def tracked_task(
    name: str, *, on_final_failure: Callable[..., None] | None = None
) -> Callable[[F], Any]:
    """Register a function as a TrackedTask named `name`, with its spec's time limits."""
    spec = spec_for(name)
    return celery_app.task(  # type: ignore[no-any-return]
        name=name,
        base=TrackedTask,
        bind=True,
        soft_time_limit=spec.soft_time_limit_s,
        time_limit=spec.time_limit_s,
        on_final_failure=staticmethod(on_final_failure) if on_final_failure else None,
    )


# --- worker signals -------------------------------------------------------------------------


@setup_logging.connect
def _configure_worker_logging(**_: Any) -> None:
    configure_logging(settings.log_level, json_output=settings.log_json)


@worker_init.connect
def _ride_out_redis_outages(**_: Any) -> None:
    # In the main process before the pool forks, so every child inherits it.
    retry_through_outages(settings.worker_redis_outage_retry_s)
    status_manager.cache_clear()
    task_service.cache_clear()


@task_received.connect
def _on_received(request: Any = None, **_: Any) -> None:
    # The worker's main process dispatches every message: no Redis call here. The receipt
    # time rides in the request Celery hands to the pool, and the child records RECEIVED and
    # STARTED together in its one "started" round trip.
    request.request_dict["received_at"] = now_ms()
    # Which process holds it: the reaper tells a dead worker from one restarted under the
    # same hostname by this, not by the hostname.
    request.request_dict["worker_instance"] = worker_instance()
    if request.eta is not None:
        _record_hold(request)


def _record_hold(request: Any) -> None:
    """A message with an ETA waits here, unacknowledged, until due (a countdown, a deferral):
    no child will record who holds it, so this does, for the reaper to give it back if this
    process dies. The main process's one Redis call per message, for these only."""
    try:
        reaper().record_hold(request.id, worker_instance(), request.message.delivery_tag)
    except Exception as exc:  # Redis down: the visibility timeout still restores it
        log.warning("hold_not_recorded", task_id=request.id, error=type(exc).__name__)


@task_revoked.connect
def _on_revoked(
    sender: Any = None,
    request: Any = None,
    terminated: bool = False,
    expired: bool = False,
    **_: Any,
) -> None:
    reason = "terminated" if terminated else "expired" if expired else "revoked"
    status_manager().transition(request.id, "revoked", detail=f"{reason} on {request.hostname}")
    if isinstance(sender, TrackedTask):
        sender._settle_final_failure(request.args, request.kwargs)


class _Periodic(threading.Thread):
    """A daemon thread of the worker's main process: `action` now, then every `interval()`
    seconds until stopped. A failing pass (Redis down) is logged and the next one runs."""

    def __init__(self, name: str, action: Callable[[], None], interval: Callable[[], float]):
        super().__init__(name=name, daemon=True)
        self.action = action
        self.interval = interval
        self.stopped = threading.Event()

    def run(self) -> None:
        while not self.stopped.is_set():
            try:
                self.action()
            except Exception as exc:
                log.warning(f"{self.name}_failed", error=type(exc).__name__)
            self.stopped.wait(self.interval())


@lru_cache(maxsize=1)
def reaper() -> Reaper:
    return Reaper(get_redis())


def _reap() -> None:
    """One reaper pass from this worker: recovery needs only some worker alive, not beat nor a
    free slot on a queue (backend/services/reaper.py; passes of several workers are safe)."""
    give_back_dropped()
    OrphanSweep(get_redis()).run_if_due()
    result = reaper().reap()
    if result["requeued"]:
        log.info(
            "lost_tasks_requeued",
            count=len(result["requeued"]),
            held=len(result["requeued_held"]),
            task_ids=result["requeued"][:20],
        )


# Deliveries (tag -> task id) this worker dropped without running when its broker connection
# broke (backend/tasks/consumer.py `on_close`); the reaper thread gives them back.
_dropped: dict[str, str] = {}
_dropped_lock = threading.Lock()


def remember_dropped(deliveries: list[tuple[str, str]]) -> None:
    if deliveries:
        with _dropped_lock:
            _dropped.update(deliveries)
        log.warning("deliveries_dropped_on_connection_loss", count=len(deliveries))


def give_back_dropped() -> None:
    """Requeue what `remember_dropped` holds; what Redis could not settle stays for next time."""
    with _dropped_lock:
        pending = list(_dropped.items())
    if not pending:
        return
    settled = reaper().give_back(pending)
    with _dropped_lock:
        for tag in settled:
            _dropped.pop(tag, None)
    log.info("dropped_deliveries_given_back", count=len(settled), left=len(pending) - len(settled))


def _reaper_interval() -> float:
    # Jitter keeps the workers' passes apart instead of in lockstep after a common restart.
    return settings.reaper_interval_s * random.uniform(0.8, 1.2)


_threads: list[_Periodic] = []
_hostname: str | None = None


@worker_ready.connect
def _start_worker_threads(sender: Any = None, **_: Any) -> None:
    global _hostname
    controller = sender.controller
    queues = sorted(q.name for q in sender.task_consumer.queues) if sender.task_consumer else []
    info = {
        "pid": os.getpid(),
        "queues": queues,
        "concurrency": controller.concurrency,
        "pool": type(controller.pool).__module__.rsplit(".", 1)[-1],
        "started_at": time.time(),
        "instance": worker_instance(),
    }
    _hostname = hostname = sender.hostname
    _threads[:] = [
        _Periodic(
            "heartbeat",
            lambda: status_manager().heartbeat(hostname, info),
            lambda: settings.worker_heartbeat_s,
        ),
        _Periodic("reaper", _reap, _reaper_interval),
    ]
    for thread in _threads:
        thread.start()


@worker_shutdown.connect
def _stop_worker_threads(**_: Any) -> None:
    for thread in _threads:
        thread.stopped.set()
    if _hostname is not None:
        try:
            status_manager().forget_worker(_hostname)
        except Exception as exc:
            log.warning("worker_forget_failed", error=type(exc).__name__)

"""Celery signal handlers of a worker process: logging, surviving Redis outages, the receipt
of each message, revocations, and starting and stopping the daemon threads."""

from __future__ import annotations

import contextlib
import os
import time
from typing import Any

from celery.signals import (
    celeryd_after_setup,
    setup_logging,
    task_postrun,
    task_prerun,
    task_received,
    task_revoked,
    worker_init,
    worker_ready,
    worker_shutdown,
)
from celery.worker import state as worker_state

from backend.adapters.redis_clients import retry_through_outages
from backend.core import tracing
from backend.core.clock import now_ms
from backend.core.enums import Transition
from backend.core.logging import configure_logging, get_logger
from backend.core.sentry import init_sentry
from backend.core.settings import settings
from backend.worker import context, daemons, queue_controls
from backend.worker.task import TrackedTask

log = get_logger(__name__)


@setup_logging.connect
def _configure_worker_logging(**_: Any) -> None:
    configure_logging(settings.app.log_level, json_output=settings.app.log_json)


@worker_init.connect
def _ride_out_redis_outages(**_: Any) -> None:
    # In the main process before the pool forks, so every child inherits it.
    retry_through_outages(settings.redis.worker_redis_outage_retry_s)
    context.reset()
    init_sentry(_sentry_integrations, component="worker")


def _sentry_integrations() -> list[object]:
    from sentry_sdk.integrations.celery import CeleryIntegration

    return [CeleryIntegration()]


# The trace of the task running in this process (task_prerun to task_postrun).
_traces: dict[str, contextlib.ExitStack] = {}


@task_prerun.connect
def _bind_trace(task_id: str | None = None, task: Any = None, **_: Any) -> None:
    """The task's log lines carry its message's trace (a child span of whoever enqueued it);
    tasks it enqueues continue that trace."""
    if not task_id or task is None:
        return
    parent = getattr(task.request, tracing.HEADER, None)
    stack = contextlib.ExitStack()
    stack.enter_context(tracing.traced(tracing.start(parent)))
    _traces[task_id] = stack


@task_postrun.connect
def _unbind_trace(task_id: str | None = None, **_: Any) -> None:
    stack = _traces.pop(task_id or "", None)
    if stack is not None:
        stack.close()


@celeryd_after_setup.connect
def _leave_out_paused_queues(instance: Any = None, **_: Any) -> None:
    queue_controls.leave_out_paused(instance.app)


@task_received.connect
def _on_received(request: Any = None, **_: Any) -> None:
    # The worker's main process dispatches every message: no Redis call here. The receipt
    # time rides in the request Celery hands to the pool, and the child records RECEIVED and
    # STARTED together in its one "started" round trip.
    request.request_dict["received_at"] = now_ms()
    # Which process holds it: the reaper tells a dead worker from one restarted under the
    # same hostname by this, not by the hostname.
    request.request_dict["worker_instance"] = context.worker_instance()
    if request.eta is not None:
        _record_hold(request)


def _record_hold(request: Any) -> None:
    """A message with an ETA waits here, unacknowledged, until due (a countdown, a deferral):
    no child will record who holds it, so this does, for the reaper to give it back if this
    process dies. The main process's one Redis call per message, for these only."""
    try:
        context.reaper().record_hold(
            request.id, context.worker_instance(), request.message.delivery_tag
        )
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
    context.status_manager().transition(
        request.id, Transition.REVOKED, detail=f"{reason} on {request.hostname}"
    )
    if isinstance(sender, TrackedTask):
        sender.cancelled(request.args, request.kwargs, task_id=request.id)


_threads: list[daemons.Periodic] = []
_hostname: str | None = None


@worker_ready.connect
def _start_worker_threads(sender: Any = None, **_: Any) -> None:
    global _hostname
    controller = sender.controller
    queues = sorted(q.name for q in sender.task_consumer.queues) if sender.task_consumer else []
    autoscaler = getattr(sender, "autoscaler", None)
    info = {
        "pid": os.getpid(),
        "queues": queues,
        "concurrency": controller.concurrency,
        "pool": type(controller.pool).__module__.rsplit(".", 1)[-1],
        "started_at": time.time(),
        "instance": context.worker_instance(),
        "autoscale": [autoscaler.min_concurrency, autoscaler.max_concurrency]
        if autoscaler
        else None,
    }

    def live_info() -> dict[str, Any]:
        # Read at each heartbeat: the autoscaler changes the pool's size.
        try:
            processes = int(controller.pool.num_processes)
        except (AttributeError, TypeError, ValueError):
            processes = int(controller.concurrency)
        return {**info, "pool_processes": processes, "busy": len(worker_state.active_requests)}

    _hostname = sender.hostname
    queue_controls.bind(sender, queues)
    info["queues"] = queue_controls.configured(queues)
    _threads[:] = daemons.start(sender.hostname, live_info)


@worker_shutdown.connect
def _stop_worker_threads(**_: Any) -> None:
    for thread in _threads:
        thread.stopped.set()
    if _hostname is not None:
        try:
            context.status_manager().forget_worker(_hostname)
        except Exception as exc:
            log.warning("worker_forget_failed", error=type(exc).__name__)

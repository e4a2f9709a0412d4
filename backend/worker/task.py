"""TrackedTask: the lifecycle every task shares, with its cross-cutting steps as hooks.

The lifecycle is fixed: one Redis round trip records the start (and refuses to run a task
that was cancelled or already finished when the broker redelivers it), then the body runs,
then success or failure is recorded. What happens around it (limits, deferral, retries with
backoff, dead letters, settling the domain row, alerts) is `backend.worker.hooks`, called in
the order of `DEFAULT_HOOKS`.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from celery import Task
from celery.exceptions import Ignore, Reject, Retry

from backend.adapters.redis_clients import take_outage_retries
from backend.core.enums import TaskState, Transition, TransitionOutcome
from backend.core.errors import TaskCancelled
from backend.core.logging import get_logger
from backend.platform.catalogue import spec_for
from backend.platform.celery_app import celery_app
from backend.worker.context import status_manager, worker_instance
from backend.worker.hooks import DEFAULT_HOOKS, Attempt, FinalFailure, TaskHook, error_fields
from backend.worker.transport import outcome_acknowledges

log = get_logger(__name__)
F = TypeVar("F", bound=Callable[..., Any])


class TrackedTask(Task):  # type: ignore[misc]
    # Retries are decided by the Retries hook from the task's policy, not by Celery's counter.
    max_retries = None
    ignore_result = True
    typing = False
    Request = "backend.worker.request:TrackedRequest"
    hooks: Sequence[TaskHook] = DEFAULT_HOOKS
    # Settles the task's domain row once the task failed for good or was cancelled (a case
    # becomes `failed`), called with the task's arguments and `submitter=(owner, role)` from its
    # record (backend/worker/ownership.py); set through tracked_task.
    on_final_failure: Callable[..., None] | None = None

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        req = self.request
        if req.called_directly or not req.id:
            return self.run(*args, **kwargs)
        spec = spec_for(self.name)
        delivery = req.delivery_info or {}
        outcome = status_manager().transition(
            req.id,
            Transition.STARTED,
            detail=f"attempt started on {req.hostname}",
            fields={
                "worker": req.hostname or "",
                "name": self.name,
                "queue": delivery.get("routing_key") or "",
                "max_attempts": str(spec.retry.max_attempts),
                "received_at": getattr(req, "received_at", None),
                "worker_instance": getattr(req, "worker_instance", None),
                # Outage retries this process made, counted with the first write that works.
                "_outage_retries": take_outage_retries() or None,
            },
        )
        if outcome.outcome == TransitionOutcome.FINAL:
            # Cancelled while queued, or finished before a redelivery: never run again.
            log.info("task_skipped", task=self.name, task_id=req.id, state=outcome.state)
            if outcome.state is TaskState.REVOKED:
                self.cancelled(args, kwargs, task_id=req.id)
            raise Ignore()
        attempt = Attempt(req.id, outcome.attempts, spec.retry.merged(outcome.policy))
        if attempt.number > attempt.policy.max_attempts:
            # Redelivered after its worker died on every attempt: stop the poison loop.
            status_manager().transition(
                req.id,
                Transition.FAILURE,
                detail=f"gave up after {attempt.number - 1} attempts lost with their worker",
                fields={"error_type": "WorkerLostError", "error_message": "worker lost"},
            )
            self.failed_for_good(
                FinalFailure(req.id, "WorkerLostError", "worker lost", None, args, kwargs)
            )
            raise Ignore()
        try:
            for hook in self.hooks:
                hook.before_run(self, attempt)
            return self.run(*args, **kwargs)
        except (Retry, Ignore, Reject):
            raise
        except Exception as exc:
            for hook in self.hooks:
                retry = hook.on_error(self, attempt, exc)
                if retry is not None:
                    raise retry from None if retry.exc is None else exc
            raise  # no hook sends it back: on_failure records the final failure

    def on_success(self, retval: Any, task_id: str, args: Any, kwargs: Any) -> None:
        # The delivery is acknowledged with the outcome, in the same call: the main process
        # then skips its own round trip (backend/worker/request.py).
        properties = self.request.properties or {}
        tag = properties.get("delivery_tag") if outcome_acknowledges() else None
        status_manager().transition(
            task_id,
            Transition.SUCCESS,
            detail="completed",
            fields={"result": json.dumps(retval, default=str)},
            acknowledges=str(tag) if tag else None,
        )

    def on_failure(
        self, exc: BaseException, task_id: str, args: Any, kwargs: Any, einfo: Any
    ) -> None:
        error = error_fields(exc)
        fields: dict[str, str] = dict(error)
        if self.request.id != task_id:
            # In the worker's main process: a hard time limit killed the child, or the child
            # was lost. Only if the task is still on that run here: under chaos a job Celery
            # thought was running may have been given back and run (or deferred) since.
            fields["_running_on"] = worker_instance()
        outcome = status_manager().transition(
            task_id, Transition.FAILURE, detail=f"failed: {type(exc).__name__}", fields=fields
        )
        if outcome.outcome == TransitionOutcome.STALE:
            log.warning("stale_failure_ignored", task=self.name, task_id=task_id,
                        error=type(exc).__name__, state=str(outcome.state))  # fmt: skip
            return
        if outcome.outcome == TransitionOutcome.FINAL and outcome.state != TaskState.FAILURE:
            # The run recorded its outcome (SUCCESS, or it was cancelled) before its process
            # died: nothing failed for good. (A FAILURE already recorded goes on: the child may
            # have died before its own dead-letter hook ran; the hooks are idempotent.)
            log.warning("lost_after_outcome_ignored", task=self.name, task_id=task_id,
                        error=type(exc).__name__, state=str(outcome.state))  # fmt: skip
            return
        log.warning("task_failed", task=self.name, task_id=task_id, error=type(exc).__name__)
        self.failed_for_good(
            FinalFailure(
                task_id,
                error["error_type"],
                error["error_message"],
                getattr(einfo, "traceback", None),
                args,
                kwargs,
            )
        )

    def failed_for_good(self, failure: FinalFailure) -> None:
        """Every hook's on_final_failure, in order; one failing hook does not stop the next."""
        for hook in self.hooks:
            try:
                hook.on_final_failure(self, failure)
            except Exception as exc:
                log.warning("final_failure_hook_failed", task=self.name,
                            hook=type(hook).__name__, error=type(exc).__name__)  # fmt: skip

    def cancelled(self, args: Any, kwargs: Any, *, task_id: str | None = None) -> None:
        for hook in self.hooks:
            try:
                hook.on_cancelled(self, args, kwargs, task_id)
            except Exception as exc:
                log.warning("cancel_hook_failed", task=self.name,
                            hook=type(hook).__name__, error=type(exc).__name__)  # fmt: skip

    def report_progress(self, current: int, total: int | None = None, message: str = "") -> None:
        """Record progress; raises TaskCancelled if the task was cancelled meanwhile."""
        task_id = self.request.id
        if not task_id:
            return
        outcome = status_manager().report_progress(task_id, current, total, message)
        if outcome.outcome == TransitionOutcome.FINAL:
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

"""Shared rate limits before each run, and deferral of a task whose external call may not
happen now (rate limit or open breaker): it goes back for later without using an attempt."""

from __future__ import annotations

from typing import TYPE_CHECKING

from backend.core.enums import DeferralCause, Transition
from backend.core.errors import BreakerOpen, CallDeferred
from backend.platform.catalogue import spec_for
from backend.resilience.external_calls import spread, take_rate_limit
from backend.worker.context import status_manager
from backend.worker.hooks.base import Attempt, TaskHook

if TYPE_CHECKING:
    from celery.exceptions import Retry

    from backend.worker.task import TrackedTask


class RateLimits(TaskHook):
    """Takes a slot of each limit in the task's spec; over one, CallDeferred defers it."""

    def before_run(self, task: TrackedTask, attempt: Attempt) -> None:
        for service in spec_for(task.name).rate_limits:
            take_rate_limit(service)


class Deferral(TaskHook):
    """CallDeferred (from a limit or a breaker) sends the task back for when its service can
    take it; the attempt does not count. Declared before Retries, which would count it."""

    def on_error(self, task: TrackedTask, attempt: Attempt, exc: Exception) -> Retry | None:
        if not isinstance(exc, CallDeferred):
            return None
        delay = spread(exc.delay_s, task.request.retries or 0)
        cause = DeferralCause.BREAKER if isinstance(exc, BreakerOpen) else DeferralCause.RATE_LIMIT
        status_manager().transition(
            attempt.task_id,
            Transition.DEFERRED,
            detail=f"deferred: {exc.reason}, retry in {delay}s",
            fields={"_deferral": f"{cause}|{exc.service or 'unknown'}"},
        )
        return task.retry(countdown=delay, max_retries=None)  # type: ignore[no-any-return]

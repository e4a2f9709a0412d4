"""Retries with exponential backoff and jitter from the task's policy (its spec, overridden by
settings and by the record's own policy), for errors another attempt may fix."""

from __future__ import annotations

import random
from typing import TYPE_CHECKING

from celery.exceptions import SoftTimeLimitExceeded, TimeLimitExceeded

from backend.core.enums import Transition
from backend.core.errors import DataKeyDestroyed, PermanentTaskError, SealBroken
from backend.core.logging import scrub
from backend.worker.context import status_manager
from backend.worker.hooks.base import Attempt, TaskHook

if TYPE_CHECKING:
    from celery.exceptions import Retry

    from backend.worker.task import TrackedTask

# Errors that another attempt cannot fix: they fail the task at once.
NON_RETRYABLE: tuple[type[BaseException], ...] = (
    PermanentTaskError,
    SoftTimeLimitExceeded,
    TimeLimitExceeded,
    TypeError,
    # A sealed value that does not open, or whose owner's key was destroyed (erased).
    SealBroken,
    DataKeyDestroyed,
)
ERROR_MESSAGE_MAX = 500


def error_fields(exc: BaseException) -> dict[str, str]:
    """The error as the task record keeps it: its type and a scrubbed, shortened message."""
    return {
        "error_type": type(exc).__name__,
        "error_message": scrub(str(exc))[:ERROR_MESSAGE_MAX],
    }


class Retries(TaskHook):
    def on_error(self, task: TrackedTask, attempt: Attempt, exc: Exception) -> Retry | None:
        if isinstance(exc, NON_RETRYABLE) or attempt.number >= attempt.policy.max_attempts:
            return None  # on_failure records the final failure
        delay = attempt.policy.delay_for(attempt.number, random.random())
        status_manager().transition(
            attempt.task_id,
            Transition.RETRY,
            detail=f"attempt {attempt.number} failed ({type(exc).__name__}); retry in {delay:.1f}s",
            fields=error_fields(exc),
        )
        return task.retry(exc=exc, countdown=delay)  # type: ignore[no-any-return]

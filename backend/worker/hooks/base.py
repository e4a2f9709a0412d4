"""The hook interface: one concern of a task's run (retries, limits, dead letters, alerts)
as a class whose methods are called at fixed points, in the order of `DEFAULT_HOOKS`.

Modelled on dramatiq's middleware: every method is a no-op here, so a hook overrides only the
points it cares about. TrackedTask owns the lifecycle (status transitions); hooks decide.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from celery.exceptions import Retry

    from backend.platform.catalogue import RetryPolicy
    from backend.worker.task import TrackedTask


@dataclass(frozen=True)
class Attempt:
    """The run being made: which attempt, under which retry policy."""

    task_id: str
    number: int
    policy: RetryPolicy


@dataclass(frozen=True)
class FinalFailure:
    """A task that failed for good (error scrubbed), with the arguments it ran with."""

    task_id: str
    error_type: str
    error_message: str
    traceback: str | None
    args: Any
    kwargs: Any


class TaskHook:
    """Base class: override the points you need."""

    def before_run(self, task: TrackedTask, attempt: Attempt) -> None:
        """Before the task body; raising here counts as the body raising."""

    def on_error(self, task: TrackedTask, attempt: Attempt, exc: Exception) -> Retry | None:
        """The body raised `exc`: return a Retry to send the task back, or None to let the
        next hook decide. When no hook sends it back, the task fails for good."""
        return None

    def on_final_failure(self, task: TrackedTask, failure: FinalFailure) -> None:
        """The task failed for good (already recorded as FAILURE). Must not raise."""

    def on_cancelled(
        self, task: TrackedTask, args: Any, kwargs: Any, task_id: str | None = None
    ) -> None:
        """The task was cancelled (revoked) before or while it ran. Must not raise."""

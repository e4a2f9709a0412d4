"""What happens once a task failed for good or was cancelled: its domain row is settled, the
failure is kept in the dead-letter store, and the operators are told."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from backend.adapters.redis_clients import get_redis
from backend.core.enums import NotificationKind
from backend.core.logging import get_logger
from backend.core.settings import settings
from backend.platform import dead_letters, failure_alerts
from backend.worker.context import status_manager, task_service
from backend.worker.hooks.base import FinalFailure, TaskHook
from backend.worker.ownership import recorded_submitter

if TYPE_CHECKING:
    from backend.worker.task import TrackedTask

log = get_logger(__name__)


class DeadLetter(TaskHook):
    """Keeps the final failure, with its arguments and traceback, in the dead-letter store."""

    def on_final_failure(self, task: TrackedTask, failure: FinalFailure) -> None:
        dead_letters.record_failure(
            status_manager(), failure.task_id, name=task.name, error_type=failure.error_type,
            error_message=failure.error_message, traceback=failure.traceback,
            args=failure.args, kwargs=failure.kwargs,
        )  # fmt: skip


class SettleDomainRow(TaskHook):
    """Runs the task's `on_final_failure` (a case becomes `failed`) with its arguments."""

    def on_final_failure(self, task: TrackedTask, failure: FinalFailure) -> None:
        self.settle(task, failure.task_id, failure.args, failure.kwargs)

    def on_cancelled(
        self, task: TrackedTask, args: Any, kwargs: Any, task_id: str | None = None
    ) -> None:
        self.settle(task, task_id, args, kwargs)

    @staticmethod
    def settle(task: TrackedTask, task_id: str | None, args: Any, kwargs: Any) -> None:
        if task.on_final_failure is None:
            return
        try:
            # Who submitted it, from its record: the callback settles only rows it may touch.
            record = status_manager().get_raw(task_id) if task_id else None
            submitter = recorded_submitter(record)
            task.on_final_failure(*(args or ()), **(kwargs or {}), submitter=submitter)
        except Exception as exc:  # the failure is recorded; the row stays for the operators
            log.warning("final_failure_hook_failed", task=task.name, error=type(exc).__name__)


class AlertOperators(TaskHook):
    """E-mails the operators about tasks that failed for good: at most one e-mail per task
    name per ALERT_WINDOW_S, sent when the window closes, with the count
    (backend/platform/failure_alerts.py)."""

    def on_final_failure(self, task: TrackedTask, failure: FinalFailure) -> None:
        # A failing e-mail cannot report itself by e-mail: no alert loops.
        if task.name.startswith("notifications.") or not settings.mail.notify_operators_on_failure:
            return
        if not settings.mail.operator_emails:
            return
        try:
            window = failure_alerts.count_failure(get_redis(), task.name, failure.task_id)
            if not window.opened:
                return  # counted; the window's e-mail is already due
            subject = failure_alerts.subject_of(window)
            task_service().enqueue(
                "notifications.send_email",
                [NotificationKind.TASK_FAILED, subject],
                priority="HIGH",
                countdown=failure_alerts.delay_s(window),
                correlation_id=failure.task_id,
                idempotency_key=f"notify:task_failed:{subject}",
            )
        except Exception as exc:  # the failure itself is recorded; the alert is best effort
            log.warning(
                "failure_alert_not_enqueued", task_id=failure.task_id, error=type(exc).__name__
            )

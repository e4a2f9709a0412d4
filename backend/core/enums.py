"""Names used across the platform: queues, priorities, task states and roles, each declared once."""

from __future__ import annotations

from enum import StrEnum


class QueueName(StrEnum):
    TRIAGE = "triage"
    DOCUMENTS = "documents"
    NOTIFICATIONS = "notifications"
    REPORTS = "reports"
    MAINTENANCE = "maintenance"


class Priority(StrEnum):
    LOW = "LOW"
    NORMAL = "NORMAL"
    HIGH = "HIGH"
    CRITICAL = "CRITICAL"

    @property
    def broker_value(self) -> int:
        """Celery priority on the Redis transport, where the lowest number is served first.

        The values sit on kombu's priority steps (0, 3, 6, 9), so each level is its own list.
        """
        return _BROKER_PRIORITY[self]


_BROKER_PRIORITY = {Priority.CRITICAL: 0, Priority.HIGH: 3, Priority.NORMAL: 6, Priority.LOW: 9}
PRIORITY_STEPS = sorted(_BROKER_PRIORITY.values())


class TaskState(StrEnum):
    """Celery's state names. RECEIVED is recorded as history only, never as the state.

    ACCEPTED is ours: the task waits in the SQL outbox (Redis was down when it was submitted);
    it is read from there and never stored in Redis."""

    ACCEPTED = "ACCEPTED"
    PENDING = "PENDING"
    STARTED = "STARTED"
    PROGRESS = "PROGRESS"
    RETRY = "RETRY"
    SUCCESS = "SUCCESS"
    FAILURE = "FAILURE"
    REVOKED = "REVOKED"

    @property
    def is_final(self) -> bool:
        return self in FINAL_STATES


FINAL_STATES = frozenset({TaskState.SUCCESS, TaskState.FAILURE, TaskState.REVOKED})


class Role(StrEnum):
    CLIENT = "client"
    OPERATOR = "operator"
    ADMIN = "admin"

    @property
    def sees_everything(self) -> bool:
        return self in (Role.OPERATOR, Role.ADMIN)


class Transition(StrEnum):
    """A change recorded on a task by the transition script (backend/platform/lua)."""

    STARTED = "started"
    RETRY = "retry"
    DEFERRED = "deferred"
    SUCCESS = "success"
    FAILURE = "failure"
    REVOKED = "revoked"


class TransitionOutcome(StrEnum):
    """What the transition script answered: applied, or why not."""

    OK = "ok"
    FINAL = "final"  # the task had already finished (or was cancelled)
    MISSING = "missing"  # no record
    RUNNING = "running"  # it runs now: it cannot be retried or cancelled that way
    IGNORED = "ignored"
    STALE = "stale"  # a report about a run that is no longer the current one


class DeferralCause(StrEnum):
    """Why a run was sent back for later without using an attempt (a metric label)."""

    RATE_LIMIT = "rate_limit"
    BREAKER = "breaker"


class DeadLetterReason(StrEnum):
    """Why an entry is in the dead-letter store."""

    FAILED = "failed"  # the task failed for good
    UNKNOWN_TASK = "unknown_task"  # no worker knows the task's name
    UNDECODABLE = "undecodable"  # the message could not be read at all


class TriageEvent(StrEnum):
    """Events of a case's live stream (GET /api/triage/stream/{case_id})."""

    STARTED = "triage_started"
    UPDATE = "triage_update"
    COMPLETED = "triage_completed"
    FAILED = "triage_failed"


class CaseStatus(StrEnum):
    """A case's own status (its task has a TaskState of its own)."""

    PENDING = "pending"
    TRIAGED = "triaged"
    FAILED = "failed"  # its triage failed for good or was cancelled


class BatchStatus(StrEnum):
    RUNNING = "running"
    COMPLETED = "completed"


class BatchEvent(StrEnum):
    """Events of a batch's live stream (GET /api/triage/batch/{id}/stream)."""

    PROGRESS = "batch_progress"
    COMPLETED = "batch_completed"


class NotificationKind(StrEnum):
    """The e-mails (and the batch webhook) the notifications queue sends."""

    TRIAGE_COMPLETED = "triage_completed"
    DOCUMENT_ANALYSED = "document_analysed"
    BATCH_COMPLETED = "batch_completed"
    REPORT_READY = "report_ready"
    TASK_FAILED = "task_failed"


class PrivacyAction(StrEnum):
    """Rows of the privacy audit trail (backend/platform/privacy_audit.py)."""

    EXPORT = "export"
    ERASURE_REQUESTED = "erasure_requested"
    ERASURE_COMPLETED = "erasure_completed"
    RETENTION = "retention"


class ErasureStep(StrEnum):
    """The steps of a data-subject erasure, in order (each idempotent: a rerun resumes)."""

    TASKS = "revoke and forget tasks"
    FILES = "delete files"
    ROWS = "delete database rows"
    REDIS = "forget Redis keys"
    KEY = "destroy the data key"

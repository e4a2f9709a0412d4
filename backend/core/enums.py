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


# Subjects no token may carry: the platform's own work is owned by `system`.
SYSTEM_OWNER = "system"
RESERVED_SUBJECTS = frozenset({SYSTEM_OWNER})


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
    RECIPIENT_CONFIRMATION = "recipient_confirmation"  # the signed link to a new address


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


class ReportScope(StrEnum):
    PLATFORM = "platform"  # every client's cases and tasks: operators only
    OWN = "own"  # the requester's own cases and tasks


class AuditAction(StrEnum):
    """What an audit trail row records (backend/platform/audit.py)."""

    READ_CASE = "case.read"
    READ_DOCUMENT = "document.read"
    READ_REPORT = "report.read"
    DOWNLOAD_REPORT = "report.download"
    READ_BATCH = "batch.read"
    READ_TASK = "task.read"
    SUBMIT_TASK = "task.submit"
    SUBMIT_CASE = "case.submit"
    SUBMIT_BATCH = "batch.submit"
    UPLOAD_DOCUMENT = "document.upload"
    REQUEST_REPORT = "report.request"
    CANCEL_TASK = "task.cancel"
    RETRY_TASK = "task.retry"
    REPLAY_DEAD_LETTER = "dead_letter.replay"
    DISCARD_DEAD_LETTER = "dead_letter.discard"
    READ_DEAD_LETTER_ARGS = "dead_letter.read_args"
    LIST_DEAD_LETTERS = "dead_letter.list"  # the command line's masked list
    PURGE_QUEUE = "queue.purge"
    PAUSE_QUEUE = "queue.pause"
    RESUME_QUEUE = "queue.resume"
    CHANGE_BREAKER = "breaker.change"
    CHANGE_LIMIT = "limit.change"
    REVOKE_TOKEN = "token.revoke"  # noqa: S105 - a name, not a secret
    READ_AUDIT = "audit.read"
    EXPORT_AUDIT = "audit.export"
    VERIFY_AUDIT = "audit.verify"
    ROTATE_KEYS = "keys.rotate"
    PRIVACY_EXPORT = "privacy.export"
    PRIVACY_ERASE = "privacy.erase"  # an erasure asked for (it runs as a task)
    PRIVACY_ERASED = "privacy.erased"  # the erasure task finished
    PRIVACY_RETENTION = "privacy.retention"  # records past their retention purged
    CONFIRM_RECIPIENT = "recipient.confirm"  # by whoever holds the link (actor `recipient`)
    REVOKE_RECIPIENT = "recipient.revoke"
    DENIED = "access.denied"  # a role without the permission asked (resource: the permission)


class RecipientState(StrEnum):
    """Where an address a client named stands (backend/services/recipients.py)."""

    PENDING = "pending"  # a confirmation link was (or will be) sent; no mail yet
    CONFIRMED = "confirmed"  # its owner followed the link: notifications go to it
    ACCOUNT = "account"  # the account's own address (the token's `email` claim)
    REVOKED = "revoked"  # the client revoked it: no mail until confirmed again


class AuditOutcome(StrEnum):
    OK = "ok"
    REFUSED = "refused"  # not allowed, or someone else's object (answered 404 or 403)
    FAILED = "failed"  # allowed, but the action did not happen


class ResourceType(StrEnum):
    """Kinds of objects the audit trail names."""

    TASK = "task"
    CASE = "case"
    DOCUMENT = "document"
    REPORT = "report"
    BATCH = "batch"
    DEAD_LETTER = "dead_letter"
    QUEUE = "queue"
    BREAKER = "breaker"
    LIMIT = "limit"
    TOKEN = "token"  # noqa: S105 - a name, not a secret
    AUDIT = "audit"
    PERMISSION = "permission"
    SUBJECT = "subject"  # a data subject (privacy actions)
    RECIPIENT = "recipient"  # an e-mail address a client named (the id, never the address)
    DATA_KEYS = "data_keys"  # the key-encryption keys' wrapping of every data key

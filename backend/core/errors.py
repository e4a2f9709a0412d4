"""The project's one error tree. HTTP status codes are chosen only at the API edge
(backend/api/errors.py); errors raised inside tasks never reach it.

PlatformError
 ├── InvalidRequest            bad input: nothing was changed
 │    ├── UnknownTask
 │    ├── UnknownQueue
 │    ├── InvalidPriority
 │    ├── BatchTooLarge
 │    ├── PayloadTooLarge       an upload over its size limit
 │    └── UnsupportedMediaType  an upload whose content is no type we read
 ├── NotFound
 │    ├── TaskNotFound
 │    ├── CaseNotFound
 │    ├── BatchNotFound
 │    ├── ReportNotFound
 │    ├── DocumentNotFound
 │    ├── DeadLetterNotFound
 │    ├── RecipientNotFound     no such recipient among the caller's
 │    └── BreakerNotFound       no breaker configured under that name
 ├── Unauthenticated           no valid bearer token
 │    └── InvalidToken          the token is malformed, expired or badly signed
 ├── InvalidConfirmation       a recipient-confirmation link that is malformed, altered,
 │                             expired or superseded: nothing was confirmed
 ├── Forbidden                 authenticated, but the role may not do this
 ├── Conflict                  the request is valid but the current state forbids it
 ├── RateLimited               too many submissions; `retry_after_s` says when to come back
 │    └── QuotaExceeded         a per-user quota (cases, uploads, bytes, e-mails) is used up
 ├── ServiceUnavailable        a dependency (Redis, broker, database) did not answer
 ├── DataProtectionError       personal data could not be sealed or opened
 │    ├── EncryptionKeyMissing  DATA_KEYS is missing, malformed, or lacks a key a data key names
 │    ├── SealBroken            a sealed value failed authentication (tampered, wrong place)
 │    └── DataKeyDestroyed      the owner's data key was destroyed: their data was erased
 │    └── AuditUnavailable      the audit trail could not be written: the action fails
 ├── ExternalServiceError      an outside service failed a call (worker side)
 │    ├── LLMError              the model could not be asked; `reason` is a short code
 │    └── MailError             the SMTP server refused or could not be reached
 └── TaskError                 raised inside a running task, handled by the worker's hooks
      ├── PermanentTaskError    retrying cannot fix it (bad input, missing row): fails at once
      │    ├── CallbackRefused  a batch callback that cannot be sent, now or later
      │    └── DocumentParseFailed  the parser child refused the document; `code` is stable
      ├── TaskCancelled         the task was cancelled while it ran
      └── CallDeferred          an external call may not happen now; retry in `delay_s`
           └── BreakerOpen      the service's breaker refuses the call

The pure domain keeps its own small errors (backend.domain.parsing.DocumentParseError,
backend.domain.triage_llm.InvalidLLMReply): it imports nothing of the platform.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any


class PlatformError(Exception):
    code = "error"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class InvalidRequest(PlatformError):
    code = "invalid_request"


class UnknownTask(InvalidRequest):
    code = "unknown_task"


class UnknownQueue(InvalidRequest):
    code = "unknown_queue"


class InvalidPriority(InvalidRequest):
    code = "invalid_priority"


class BatchTooLarge(InvalidRequest):
    code = "batch_too_large"


class PayloadTooLarge(InvalidRequest):
    code = "payload_too_large"


class UnsupportedMediaType(InvalidRequest):
    code = "unsupported_media_type"


class NotFound(PlatformError):
    code = "not_found"


class TaskNotFound(NotFound):
    code = "task_not_found"

    def __init__(self, task_id: str) -> None:
        super().__init__(f"task {task_id} not found")


class CaseNotFound(NotFound):
    code = "case_not_found"

    def __init__(self, case_id: str) -> None:
        super().__init__(f"case {case_id} not found")


class BatchNotFound(NotFound):
    code = "batch_not_found"

    def __init__(self, batch_id: str) -> None:
        super().__init__(f"batch {batch_id} not found")


class ReportNotFound(NotFound):
    code = "report_not_found"

    def __init__(self, report_id: str) -> None:
        super().__init__(f"report {report_id} not found")


class DocumentNotFound(NotFound):
    code = "document_not_found"

    def __init__(self, document_id: str) -> None:
        super().__init__(f"document {document_id} not found")


class DeadLetterNotFound(NotFound):
    code = "dead_letter_not_found"

    def __init__(self, task_id: str) -> None:
        super().__init__(f"no dead-letter entry for task {task_id}")


class BreakerNotFound(NotFound):
    code = "breaker_not_found"

    def __init__(self, service: str, known: Iterable[str]) -> None:
        super().__init__(f"no breaker {service!r}; configured: {', '.join(sorted(known))}")


class RecipientNotFound(NotFound):
    code = "recipient_not_found"

    def __init__(self, recipient_id: str) -> None:
        super().__init__(f"recipient {recipient_id} not found")


class InvalidConfirmation(PlatformError):
    code = "invalid_confirmation"

    def __init__(self) -> None:
        # One message for every cause: the answer tells a guesser nothing.
        super().__init__("this confirmation link is invalid or has expired")


class Unauthenticated(PlatformError):
    code = "unauthenticated"


class InvalidToken(Unauthenticated):
    code = "invalid_token"


class Forbidden(PlatformError):
    code = "forbidden"


class Conflict(PlatformError):
    code = "conflict"


class RateLimited(PlatformError):
    code = "rate_limited"

    def __init__(self, message: str, *, retry_after_s: float) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


class QuotaExceeded(RateLimited):
    code = "quota_exceeded"


class ServiceUnavailable(PlatformError):
    code = "service_unavailable"


class DataProtectionError(PlatformError):
    code = "data_protection"


class EncryptionKeyMissing(DataProtectionError):
    code = "encryption_key_missing"


class SealBroken(DataProtectionError):
    code = "seal_broken"


class DataKeyDestroyed(DataProtectionError):
    code = "data_key_destroyed"


class AuditUnavailable(ServiceUnavailable):
    code = "audit_unavailable"


class ExternalServiceError(PlatformError):
    code = "external_service_error"


class LLMError(ExternalServiceError):
    code = "llm_error"

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


class MailError(ExternalServiceError):
    code = "mail_error"


class TaskError(PlatformError):
    code = "task_error"


class PermanentTaskError(TaskError):
    code = "permanent_task_error"


class CallbackRefused(PermanentTaskError):
    code = "callback_refused"


class DocumentParseFailed(PermanentTaskError):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


class TaskCancelled(TaskError):
    code = "task_cancelled"


class CallDeferred(TaskError):
    code = "call_deferred"

    def __init__(self, reason: str, delay_s: float, *, service: str = "") -> None:
        super().__init__(f"{reason}, retry in {delay_s:.2f}s")
        self.reason = reason
        self.delay_s = delay_s
        self.service = service  # the external service that refused (a metric label)


class BreakerOpen(CallDeferred):
    code = "breaker_open"


def describe_validation_errors(errors: Iterable[Mapping[str, Any]], *, limit: int = 5) -> str:
    """One line from pydantic's errors: `field: message; ...` (the body prefix dropped)."""
    parts = [
        f"{'.'.join(str(p) for p in e.get('loc', ()) if p != 'body')}: {e.get('msg')}"
        for e in list(errors)[:limit]
    ]
    return "; ".join(parts)

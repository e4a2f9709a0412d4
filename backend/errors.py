"""The project's one error tree. HTTP status codes are chosen only at the API edge (app.py).

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
 │    └── DeadLetterNotFound
 ├── Forbidden                 authenticated, but the role may not do this
 ├── Conflict                  the request is valid but the current state forbids it
 ├── RateLimited               too many submissions; `retry_after_s` says when to come back
 └── ServiceUnavailable        a dependency (Redis, broker, database) did not answer
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


class Forbidden(PlatformError):
    code = "forbidden"


class Conflict(PlatformError):
    code = "conflict"


class RateLimited(PlatformError):
    code = "rate_limited"

    def __init__(self, message: str, *, retry_after_s: float) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


class ServiceUnavailable(PlatformError):
    code = "service_unavailable"


def describe_validation_errors(errors: Iterable[Mapping[str, Any]], *, limit: int = 5) -> str:
    """One line from pydantic's errors: `field: message; ...` (the body prefix dropped)."""
    parts = [
        f"{'.'.join(str(p) for p in e.get('loc', ()) if p != 'body')}: {e.get('msg')}"
        for e in list(errors)[:limit]
    ]
    return "; ".join(parts)

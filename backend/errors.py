"""The project's one error tree. HTTP status codes are chosen only at the API edge (app.py).

PlatformError
 ├── InvalidRequest            bad input: nothing was changed
 │    ├── UnknownTask
 │    ├── UnknownQueue
 │    └── InvalidPriority
 ├── NotFound
 │    └── TaskNotFound
 ├── Forbidden                 authenticated, but the role may not do this
 ├── Conflict                  the request is valid but the current state forbids it
 └── ServiceUnavailable        a dependency (Redis, broker, database) did not answer
"""

from __future__ import annotations


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


class NotFound(PlatformError):
    code = "not_found"


class TaskNotFound(NotFound):
    code = "task_not_found"

    def __init__(self, task_id: str) -> None:
        super().__init__(f"task {task_id} not found")


class Forbidden(PlatformError):
    code = "forbidden"


class Conflict(PlatformError):
    code = "conflict"


class ServiceUnavailable(PlatformError):
    code = "service_unavailable"

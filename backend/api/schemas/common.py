"""What every response shares: RFC 3339 timestamps with an offset, and the documented error
answers (every status an /api route can give is in the OpenAPI schema, with the error shape)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel

from backend.core.clock import as_utc

# A naive time (SQLite keeps no offset) is UTC; every time leaves with its offset.
UtcDateTime = Annotated[datetime, AfterValidator(as_utc)]


class ErrorDetail(BaseModel):
    code: str
    message: str


class ErrorOut(BaseModel):
    error: ErrorDetail


_ERRORS = {
    400: "malformed JSON",
    401: "no valid bearer token (missing, expired or revoked)",
    403: "the role may not do this, or a bound (queue, priority, scope) was crossed",
    404: "not found, or someone else's",
    409: "the current state forbids it",
    413: "body, file or metadata over its limit",
    415: "an upload of a type we do not read",
    422: "invalid input",
    429: "rate limit or quota; see Retry-After",
    503: "a dependency (database, Redis, the audit trail) is unavailable",
}
ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorOut, "description": text} for status, text in _ERRORS.items()
}

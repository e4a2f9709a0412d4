"""The one place where errors become HTTP: each PlatformError class to its status code, and
every response's error shape `{"error": {"code", "message"}}`, never a stack trace."""

from __future__ import annotations

import math
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from backend.api.middleware.tracing import SCOPE_KEY as TRACE_SCOPE_KEY
from backend.core.errors import (
    Conflict,
    Forbidden,
    InvalidConfirmation,
    InvalidRequest,
    NotFound,
    PayloadTooLarge,
    PlatformError,
    RateLimited,
    ServiceUnavailable,
    Unauthenticated,
    UnsupportedMediaType,
    describe_validation_errors,
)
from backend.core.logging import get_logger

__all__ = ["error_body", "error_response", "install_error_handlers"]

log = get_logger(__name__)

# Most specific first: the first class the error is an instance of decides.
_STATUS_BY_ERROR: list[tuple[type[PlatformError], int]] = [
    (InvalidConfirmation, 400),
    (Unauthenticated, 401),
    (Forbidden, 403),
    (NotFound, 404),
    (Conflict, 409),
    (PayloadTooLarge, 413),
    (UnsupportedMediaType, 415),
    (InvalidRequest, 422),
    (RateLimited, 429),
    (ServiceUnavailable, 503),
]


def error_body(code: str, message: str) -> dict[str, Any]:
    return {"error": {"code": code, "message": message}}


def error_response(
    status: int, code: str, message: str, headers: dict[str, str] | None = None
) -> JSONResponse:
    if status == 401:
        headers = {"WWW-Authenticate": "Bearer"}
    return JSONResponse(error_body(code, message), status_code=status, headers=headers)


async def _platform_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, PlatformError)
    status = next((s for cls, s in _STATUS_BY_ERROR if isinstance(exc, cls)), 400)
    headers = None
    if isinstance(exc, RateLimited):
        # Whole seconds (RFC 9110), rounded up so that a client waiting that long gets a slot.
        headers = {"Retry-After": str(max(1, math.ceil(exc.retry_after_s)))}
    return error_response(status, exc.code, exc.message, headers)


async def _validation_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = exc.errors()
    if any(e.get("type") == "json_invalid" for e in errors):
        return error_response(400, "malformed_json", "request body is not valid JSON")
    detail = describe_validation_errors(errors)
    return error_response(422, "validation_error", detail or "invalid request")


async def _http_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    code = {404: "not_found", 405: "method_not_allowed", 413: "payload_too_large"}.get(
        exc.status_code, "http_error"
    )
    # Starlette's own headers (Allow on a 405) are kept.
    return error_response(exc.status_code, code, str(exc.detail), dict(exc.headers or {}) or None)


async def _unexpected_error(request: Request, exc: Exception) -> JSONResponse:
    # The traceback is logged (scrubbed like every line); the client sees no detail.
    route = getattr(request.scope.get("route"), "path", "unmatched")
    trace = request.scope.get(TRACE_SCOPE_KEY)
    ids = {"trace_id": trace.trace_id, "span_id": trace.span_id} if trace else {}
    log.error("unhandled_error", route=route, error=type(exc).__name__, exc_info=exc, **ids)
    return error_response(500, "internal_error", "internal error")


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(PlatformError, _platform_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(Exception, _unexpected_error)

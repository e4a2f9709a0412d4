"""FastAPI application factory: routers, error shape, body-size limit, metrics, lifespan."""

from __future__ import annotations

import math
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, MutableMapping
from contextlib import asynccontextmanager
from typing import Any

from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException

from backend.config import settings
from backend.errors import (
    Conflict,
    Forbidden,
    InvalidRequest,
    NotFound,
    PayloadTooLarge,
    PlatformError,
    RateLimited,
    ServiceUnavailable,
    UnsupportedMediaType,
    describe_validation_errors,
)
from backend.observability.logging import configure_logging, get_logger
from backend.observability.metrics import REGISTRY, TaskPlatformCollector, observe_request
from backend.routes import (
    dev_routes,
    documents_routes,
    health_routes,
    reports_routes,
    tasks_routes,
    triage_routes,
)
from backend.routes.deps import Unauthenticated
from backend.routes.rate_limit import limit_submissions
from backend.services.celery_task_service import AsyncCeleryTaskService, CeleryTaskService
from backend.services.outbox import Outbox, OutboxRelay, accepted_record
from backend.services.rate_limiter import ApiRateLimiter
from backend.services.redis_client import get_redis, new_async_redis
from backend.services.task_status_manager import AsyncTaskStatusReader

log = get_logger(__name__)

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

_STATUS_BY_ERROR: list[tuple[type[PlatformError], int]] = [
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


def _error_response(
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
    return _error_response(status, exc.code, exc.message, headers)


async def _validation_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = exc.errors()
    if any(e.get("type") == "json_invalid" for e in errors):
        return _error_response(400, "malformed_json", "request body is not valid JSON")
    detail = describe_validation_errors(errors)
    return _error_response(422, "validation_error", detail or "invalid request")


async def _http_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    code = {404: "not_found", 405: "method_not_allowed", 413: "payload_too_large"}.get(
        exc.status_code, "http_error"
    )
    return _error_response(exc.status_code, code, str(exc.detail))


async def _unexpected_error(request: Request, exc: Exception) -> JSONResponse:
    log.error("unhandled_error", path=request.url.path, error=type(exc).__name__)
    return _error_response(500, "internal_error", "internal error")


class BodyLimitAndMetrics:
    """Refuses bodies over `settings.max_body_bytes` with 413 (declared or streamed) and
    records request metrics by route template. Pure ASGI: no per-request task overhead.
    `path_limits` gives some paths (uploads) a limit of their own."""

    def __init__(
        self, app: ASGIApp, max_body: int, path_limits: Mapping[str, int] | None = None
    ) -> None:
        self.app = app
        self.max_body = max_body
        self.path_limits = dict(path_limits or {})

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        limit = self.path_limits.get(scope["path"].rstrip("/"), self.max_body)
        declared = next((v for k, v in scope["headers"] if k == b"content-length"), None)
        if declared is not None and (not declared.isdigit() or int(declared) > limit):
            await self._reject(send, scope, started, limit)
            return
        status_holder = {"status": 500, "started": False}
        received = 0

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise _BodyTooLarge(limit)
            return message

        async def tracking_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                status_holder["status"] = message["status"]
                status_holder["started"] = True
            await send(message)

        try:
            await self.app(scope, limited_receive, tracking_send)
        except _BodyTooLarge:
            if not status_holder["started"]:
                await self._reject(send, scope, started, limit)
            return
        route = scope.get("route")
        observe_request(
            scope["method"],
            getattr(route, "path", "unmatched"),
            int(status_holder["status"]),
            started,
        )

    async def _reject(self, send: Send, scope: Scope, started: float, limit: int) -> None:
        response = _error_response(413, "payload_too_large", f"request body over {limit} bytes")
        await response({"type": "http"}, _empty_receive, send)
        observe_request(scope["method"], "unmatched", 413, started)


class _BodyTooLarge(StarletteHTTPException):
    # An HTTPException, so that FastAPI passes it through while parsing a form or JSON body
    # (any other error there becomes a 400) and _http_error answers 413.
    def __init__(self, limit: int) -> None:
        super().__init__(413, f"request body over {limit} bytes")


async def _empty_receive() -> Message:
    return {"type": "http.disconnect"}


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    redis = new_async_redis()
    service = CeleryTaskService(get_redis())
    app.state.redis = redis
    app.state.task_service = service
    app.state.async_task_service = AsyncCeleryTaskService(redis, service)
    outbox = Outbox(service)
    app.state.outbox = outbox
    app.state.status_reader = AsyncTaskStatusReader(redis, fallback=_outbox_status)
    app.state.api_rate_limiter = ApiRateLimiter.from_settings()
    collector = TaskPlatformCollector(service.status)
    REGISTRY.register(collector)
    relay = OutboxRelay(outbox).start()
    try:
        yield
    finally:
        relay.stop()
        REGISTRY.unregister(collector)
        await redis.aclose()


async def _outbox_status(task_id: str) -> dict[str, Any] | None:
    entry = await run_in_threadpool(Outbox.get, task_id)
    return accepted_record(entry) if entry is not None else None


def create_app() -> FastAPI:
    configure_logging(settings.log_level, json_output=settings.log_json)
    app = FastAPI(
        title="Legal triage: background processing",
        version="1.0.0",
        description="Submit work, follow it live, and operate the task platform. "
        "Every /api call needs `Authorization: Bearer <token>`.",
        lifespan=lifespan,
        dependencies=[Depends(limit_submissions)],
    )
    app.add_exception_handler(PlatformError, _platform_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(Exception, _unexpected_error)
    app.include_router(health_routes.router)
    app.include_router(tasks_routes.router)
    app.include_router(documents_routes.router)
    app.include_router(triage_routes.router)
    app.include_router(reports_routes.router)
    app.include_router(dev_routes.router)

    @app.get("/metrics", include_in_schema=False)
    def metrics() -> Response:
        return Response(generate_latest(REGISTRY), media_type=CONTENT_TYPE_LATEST)

    app.add_middleware(
        BodyLimitAndMetrics,
        max_body=settings.max_body_bytes,
        path_limits={documents_routes.UPLOAD_PATH: documents_routes.UPLOAD_BODY_LIMIT},
    )
    return app


app = create_app()

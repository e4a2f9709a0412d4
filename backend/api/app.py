"""FastAPI application factory: routers, error handlers, middleware and lifespan in one place.

`uvicorn backend.api.app:app` serves it.
"""

from __future__ import annotations

from fastapi import Depends, FastAPI, Request
from fastapi.responses import Response
from prometheus_client import CONTENT_TYPE_LATEST

from backend.api.auth import require_metrics_access
from backend.api.errors import install_error_handlers
from backend.api.lifespan import lifespan
from backend.api.middleware.body_limit import BodyLimitMiddleware
from backend.api.middleware.metrics import RequestMetricsMiddleware, render_metrics
from backend.api.middleware.rate_limit import limit_submissions
from backend.api.middleware.request_id import RequestIdMiddleware
from backend.api.middleware.tracing import TraceContextMiddleware
from backend.api.openapi import responses_for
from backend.api.routes import (
    batches,
    console,
    controls,
    dead_letters,
    dev,
    documents,
    health,
    privacy,
    recipients,
    reports,
    security,
    tasks,
    triage,
)
from backend.core.logging import configure_logging
from backend.core.security.config_check import Process, guard
from backend.core.sentry import init_sentry
from backend.core.settings import settings

# Order matters where paths overlap: the dead-letter store before /api/tasks/{task_id}.
ROUTERS = (
    health.router,
    dead_letters.router,
    tasks.router,
    documents.router,
    batches.router,
    triage.router,
    reports.router,
    dev.router,
    privacy.router,
    controls.router,
    console.router,
    security.router,
    recipients.router,
)


def sentry_integrations() -> list[object]:
    from sentry_sdk.integrations.fastapi import FastApiIntegration
    from sentry_sdk.integrations.starlette import StarletteIntegration

    return [StarletteIntegration(), FastApiIntegration()]


def create_app() -> FastAPI:
    guard(Process.API)  # in production, a fatal configuration verdict stops the process here
    configure_logging(settings.app.log_level, json_output=settings.app.log_json)
    init_sentry(sentry_integrations, component="api")
    app = FastAPI(
        title="Legal triage: background processing",
        version="1.0.0",
        description="Submit work, follow it live, and operate the task platform. "
        "Every /api call needs `Authorization: Bearer <token>`.",
        lifespan=lifespan,
        dependencies=[Depends(limit_submissions)],
    )
    install_error_handlers(app)
    for router in ROUTERS:
        # Every status an /api route can answer is documented (backend/api/openapi.py).
        app.include_router(router, responses=responses_for(router))

    @app.get("/metrics", include_in_schema=False)
    def metrics(request: Request) -> Response:
        """Prometheus text; needs METRICS_TOKEN (a static bearer for the scraper) or the
        token of a role with read_metrics (operators, admins)."""
        require_metrics_access(request)
        return Response(render_metrics(), media_type=CONTENT_TYPE_LATEST)

    app.add_middleware(
        BodyLimitMiddleware,
        max_body=settings.api.max_body_bytes,
        path_limits={documents.UPLOAD_PATH: documents.UPLOAD_BODY_LIMIT},
    )
    app.add_middleware(TraceContextMiddleware)
    app.add_middleware(RequestIdMiddleware)
    app.add_middleware(RequestMetricsMiddleware)  # added last: runs first, sees every answer
    return app


app = create_app()

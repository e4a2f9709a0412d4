"""HTTP request metrics by method, route template and status (never a path with an id), merged
across API processes.

With `PROMETHEUS_MULTIPROC_DIR` set (make up and the systemd unit set it; it must be empty
when the API starts), every uvicorn worker process writes its counts to files there and
/metrics reads them all (prometheus_client's multiprocess mode): a scrape sees the whole
API's totals whichever process answers. Without it, the process's own counts are shown.
"""

from __future__ import annotations

import os
import time

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.multiprocess import MultiProcessCollector

from backend.api.middleware.asgi import ASGIApp, Message, Receive, Scope, Send
from backend.platform.metrics import PREFIX, REGISTRY

HTTP_REGISTRY = CollectorRegistry()
HTTP_REQUESTS = Counter(
    PREFIX + "http_requests",
    "HTTP requests answered",
    ["method", "route", "status"],
    registry=HTTP_REGISTRY,
)
HTTP_LATENCY = Histogram(
    PREFIX + "http_request_duration_seconds",
    "HTTP request latency, until the response started",
    ["method", "route"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
    registry=HTTP_REGISTRY,
)


def render_metrics() -> bytes:
    """The text exposition of /metrics: HTTP metrics of every API process, then the
    platform's (read from Redis and SQL now)."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        merged = CollectorRegistry()
        MultiProcessCollector(merged)  # type: ignore[no-untyped-call]
        http = generate_latest(merged)
    else:
        http = generate_latest(HTTP_REGISTRY)
    return http + generate_latest(REGISTRY)


def observe_request(method: str, route: str, status: int, started: float) -> None:
    HTTP_REQUESTS.labels(method, route, str(status)).inc()
    HTTP_LATENCY.labels(method, route).observe(time.perf_counter() - started)


def _route(scope: Scope) -> str:
    """The matched route's template (`/api/tasks/{task_id}`), never the path itself."""
    return str(getattr(scope.get("route"), "path", "unmatched"))


class RequestMetricsMiddleware:
    """Outermost, so that it also counts what the body limit refuses (as `unmatched`)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500
        observed = False

        async def tracking_send(message: Message) -> None:
            nonlocal status, observed
            if message["type"] == "http.response.start":
                status = message["status"]
                # Latency until the answer starts: a stream (SSE) is not an hour-long request.
                observe_request(scope["method"], _route(scope), status, started)
                observed = True
            await send(message)

        try:
            await self.app(scope, receive, tracking_send)
        finally:
            if not observed:
                observe_request(scope["method"], _route(scope), status, started)

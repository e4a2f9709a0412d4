"""The OpenAPI schema says everything the API can answer: every error status of /api routes
(with the error shape), `text/event-stream` for the streams (STREAM_RESPONSES on their
decorators), 503 for /ready. Fuzzed against the running app in the tests (schemathesis)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from backend.api.schemas.common import ERROR_RESPONSES

__all__ = ["STREAM_RESPONSES", "responses_for"]

STREAM_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "Server-Sent Events",
        "content": {"text/event-stream": {"schema": {"type": "string"}}},
    }
}


def responses_for(router: APIRouter) -> dict[int | str, dict[str, Any]] | None:
    """The documented error answers of a router's routes: all of them under /api."""
    paths = [getattr(route, "path", "") for route in router.routes]
    return ERROR_RESPONSES if any(p.startswith("/api") for p in paths) else None

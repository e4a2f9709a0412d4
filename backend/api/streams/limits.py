"""Abuse limits of every SSE stream: at most SSE_MAX_STREAMS_PER_USER open per user (429
beyond), and at most SSE_MAX_LIFETIME_S each. A stream that reaches its lifetime ends with a
`reconnect` event; the client reconnects with `Last-Event-ID` and the stream resumes from there
(events carry ids; a snapshot the client has already seen is not sent again)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import suppress
from typing import Any

import anyio
from fastapi import Request
from sse_starlette.sse import EventSourceResponse

from backend.adapters.redis_clients import REDIS_DOWN
from backend.api.streams.tasks import sse_response
from backend.core.errors import RateLimited
from backend.core.logging import get_logger
from backend.core.security.tokens import Principal
from backend.core.settings import settings
from backend.platform import stream_slots

__all__ = ["RECONNECT_EVENT", "last_event_id", "limited_stream"]

log = get_logger(__name__)
RECONNECT_EVENT = "reconnect"


def last_event_id(request: Request) -> str | None:
    value = request.headers.get("last-event-id")
    return value[:64] if value else None


async def limited_stream(
    request: Request, principal: Principal, events: AsyncIterator[dict[str, Any]]
) -> EventSourceResponse:
    """The stream, once a slot is free for its user; ended at its lifetime."""
    redis = request.app.state.redis
    lifetime = settings.security.sse_max_lifetime_s
    try:
        slot = await stream_slots.acquire(
            redis,
            principal.user,
            limit=settings.security.sse_max_streams_per_user,
            lifetime_s=lifetime,
        )
    except REDIS_DOWN:
        # Redis is down: the stream could not follow anything anyway.
        log.warning("sse_slot_unavailable")
        slot = ""
    if slot is None:
        raise RateLimited(
            f"at most {settings.security.sse_max_streams_per_user} open streams per user",
            retry_after_s=5,
        )

    async def bounded() -> AsyncIterator[dict[str, Any]]:
        deadline = time.monotonic() + lifetime
        try:
            async for event in _until(events, deadline):
                yield event
            if time.monotonic() >= deadline:
                yield {"event": RECONNECT_EVENT, "data": "{}", "retry": 1000}
        finally:
            if slot:
                # Shielded: a client that hung up cancels this generator, and the slot must
                # still be given back (else it expires by itself after the lifetime).
                with anyio.CancelScope(shield=True), suppress(*REDIS_DOWN):
                    await stream_slots.release(redis, principal.user, slot)

    return sse_response(bounded())


async def _until(
    events: AsyncIterator[dict[str, Any]], deadline: float
) -> AsyncIterator[dict[str, Any]]:
    """Events until the deadline (checked between events; streams yield at least every second
    or so, and the sse ping keeps the connection alive meanwhile)."""
    iterator = events.__aiter__()
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            await _close(iterator)
            return
        try:
            event = await asyncio.wait_for(iterator.__anext__(), timeout=remaining)
        except StopAsyncIteration:
            return
        except TimeoutError:
            await _close(iterator)
            return
        yield event


async def _close(iterator: Any) -> None:
    closer = getattr(iterator, "aclose", None)
    if closer is not None:
        with suppress(Exception):  # a generator cancelled mid-await
            await closer()

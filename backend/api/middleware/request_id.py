"""A request id for every request: the caller's `X-Request-ID` if it is a plain token (at most
64 of [A-Za-z0-9._-]), else a new one; kept in `request.state.request_id` (the audit trail
records it) and sent back in the response's `X-Request-ID`."""

from __future__ import annotations

import re

from backend.api.middleware.asgi import ASGIApp, Message, Receive, Scope, Send
from backend.core import randomness

_VALID = re.compile(rb"[A-Za-z0-9._-]{1,64}")
HEADER = b"x-request-id"


class RequestIdMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        given = next((v for k, v in scope["headers"] if k == HEADER), b"")
        request_id = given if _VALID.fullmatch(given) else randomness.uuid4().hex.encode()
        scope.setdefault("state", {})["request_id"] = request_id.decode()

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), (HEADER, request_id)]
            await send(message)

        await self.app(scope, receive, send_with_id)

"""Refuses request bodies over a limit with 413, whether declared (Content-Length) or
streamed; some paths (uploads) have a limit of their own."""

from __future__ import annotations

from collections.abc import Mapping

from starlette.exceptions import HTTPException as StarletteHTTPException

from backend.api.errors import error_response
from backend.api.middleware.asgi import ASGIApp, Message, Receive, Scope, Send


class BodyTooLarge(StarletteHTTPException):
    # An HTTPException, so that FastAPI passes it through while parsing a form or JSON body
    # (any other error there becomes a 400) and the error handler answers 413.
    def __init__(self, limit: int) -> None:
        super().__init__(413, f"request body over {limit} bytes")


class BodyLimitMiddleware:
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
        limit = self.path_limits.get(scope["path"].rstrip("/"), self.max_body)
        declared = next((v for k, v in scope["headers"] if k == b"content-length"), None)
        if declared is not None and (not declared.isdigit() or int(declared) > limit):
            await _reject(send, limit)
            return
        received = 0
        started = False

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise BodyTooLarge(limit)
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, limited_receive, tracking_send)
        except BodyTooLarge:
            if not started:
                await _reject(send, limit)


async def _reject(send: Send, limit: int) -> None:
    response = error_response(413, "payload_too_large", f"request body over {limit} bytes")
    await response({"type": "http"}, _empty_receive, send)


async def _empty_receive() -> Message:
    return {"type": "http.disconnect"}

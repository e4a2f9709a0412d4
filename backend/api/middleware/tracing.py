"""W3C trace context for every request: the caller's `traceparent` continued (or a trace
started), bound to the request's log lines and to every task it enqueues, and returned in the
`traceparent` response header so that a client can find its request's work."""

from __future__ import annotations

from starlette.datastructures import Headers, MutableHeaders

from backend.api.middleware.asgi import ASGIApp, Message, Receive, Scope, Send
from backend.core import tracing

SCOPE_KEY = "ltq.trace"


class TraceContextMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        context = tracing.start(Headers(scope=scope).get(tracing.HEADER))
        # For the handler of unexpected errors, which Starlette runs outside every middleware.
        scope[SCOPE_KEY] = context

        async def send_with_header(message: Message) -> None:
            if message["type"] == "http.response.start":
                MutableHeaders(scope=message)[tracing.HEADER] = context.header
            await send(message)

        with tracing.traced(context):
            await self.app(scope, receive, send_with_header)

"""Optional error reporting to Sentry: off unless SENTRY_DSN is set.

`send_default_pii=False`, no frame local variables and no request bodies, and every event
passes through the log scrubber first (`before_send`: e-mail addresses, CPF, CNPJ and phone
numbers masked in every string; cookies and the Authorization header dropped). The API adds
the FastAPI integrations, workers the Celery one.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from backend.core.logging import scrub
from backend.core.settings import settings

__all__ = ["init_sentry", "scrub_event"]

_DROPPED_REQUEST_KEYS = ("data", "cookies")


def _scrubbed(value: Any) -> Any:
    if isinstance(value, str):
        return scrub(value)
    if isinstance(value, dict):
        return {k: _scrubbed(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_scrubbed(v) for v in value]
    return value


def scrub_event(event: dict[str, Any], hint: dict[str, Any] | None = None) -> dict[str, Any]:
    """before_send: the event with personal data masked and the request body left out."""
    request = event.get("request")
    if isinstance(request, dict):
        for key in _DROPPED_REQUEST_KEYS:
            request.pop(key, None)
        headers = request.get("headers")
        if isinstance(headers, dict):
            request["headers"] = {
                k: ("[Filtered]" if k.lower() in {"authorization", "cookie"} else v)
                for k, v in headers.items()
            }
    return _scrubbed(event)  # type: ignore[no-any-return]


def init_sentry(integrations: Callable[[], Sequence[Any]], *, component: str) -> bool:
    """Start the Sentry client if SENTRY_DSN is set; True if it was."""
    dsn = settings.observability.sentry_dsn
    if not dsn:
        return False
    import sentry_sdk

    sentry_sdk.init(
        dsn=dsn,
        environment=settings.app.environment,
        send_default_pii=False,
        # Frame locals can hold anything (tokens, case text, the request's headers): never sent;
        # nor request bodies, user identity or queue message data.
        include_local_variables=False,
        max_request_body_size="never",
        data_collection={
            "user_info": False,
            "http_bodies": [],
            "stack_frame_variables": False,
            "database_query_data": False,
            "queues": False,
        },
        before_send=scrub_event,  # type: ignore[arg-type]
        traces_sample_rate=settings.observability.sentry_traces_sample_rate,
        integrations=list(integrations()),
    )
    sentry_sdk.set_tag("component", component)
    return True

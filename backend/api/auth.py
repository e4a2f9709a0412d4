"""Who is calling: a bearer token verified (ours, or the OIDC issuer's in a thread: its keys may
need one HTTP fetch) and checked against the revocation list. Used by the submission limiter
(which runs first) and by `current_principal`: one verification per request."""

from __future__ import annotations

import hmac

from fastapi import Request
from starlette.concurrency import run_in_threadpool

from backend.core.errors import Forbidden, InvalidToken, Unauthenticated
from backend.core.security.permissions import Permission, allowed
from backend.core.security.tokens import Principal, decode_token, is_external
from backend.core.settings import settings
from backend.platform.revocations import is_revoked

__all__ = ["authenticate", "require_metrics_access", "verify"]


async def authenticate(request: Request, token: str) -> Principal:
    """The principal of `token`. Raises InvalidToken (bad, expired or revoked)."""
    cached: Principal | None = getattr(request.state, "principal", None)
    if cached is not None:
        return cached
    principal = await verify(token)
    redis = getattr(request.app.state, "redis", None)
    if redis is not None and await is_revoked(redis, principal.token_id):
        raise InvalidToken("token revoked")
    request.state.principal = principal
    return principal


async def verify(token: str) -> Principal:
    """The principal of `token`, its signature and claims checked, its revocation not (the
    submission limiter checks that in its own round trip). Raises InvalidToken."""
    if is_external(token):
        return await run_in_threadpool(decode_token, token)
    return decode_token(token)


def require_metrics_access(request: Request) -> None:
    """For /metrics (a sync route): METRICS_TOKEN, or a token whose role may read metrics.
    Revocation is not checked here (no event loop); metrics tokens of ours live an hour."""
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token:
        raise Unauthenticated("missing bearer token")
    expected = settings.security.metrics_token
    if expected and hmac.compare_digest(token.encode(), expected.encode()):
        return
    try:
        principal = decode_token(token)
    except InvalidToken:
        raise Unauthenticated("invalid or expired token") from None
    if not allowed(principal.role, Permission.READ_METRICS):
        raise Forbidden("your role may not read metrics")

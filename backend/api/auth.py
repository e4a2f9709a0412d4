"""Who is calling: a bearer token verified (ours, or the OIDC issuer's in a thread: its keys may
need one HTTP fetch) and checked against the revocation list. Used by the submission limiter
(which runs first) and by `current_principal`: one verification per request."""

from __future__ import annotations

from fastapi import Request
from starlette.concurrency import run_in_threadpool

from backend.core.errors import InvalidToken
from backend.core.security.tokens import Principal, decode_token, is_external
from backend.platform.revocations import is_revoked

__all__ = ["authenticate"]


async def authenticate(request: Request, token: str) -> Principal:
    """The principal of `token`. Raises InvalidToken (bad, expired or revoked)."""
    cached: Principal | None = getattr(request.state, "principal", None)
    if cached is not None:
        return cached
    if is_external(token):
        principal = await run_in_threadpool(decode_token, token)
    else:
        principal = decode_token(token)
    redis = getattr(request.app.state, "redis", None)
    if redis is not None and await is_revoked(redis, principal.token_id):
        raise InvalidToken("token revoked")
    request.state.principal = principal
    return principal

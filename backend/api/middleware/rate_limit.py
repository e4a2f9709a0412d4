"""The API's per-user, per-route submission limits (settings.api.rate_limits), as an app-wide
dependency: a route not in the table costs one dict lookup; one in it, one Redis round trip.

The limit is keyed by the token's subject. A request without a valid token is not counted:
the route's own authentication answers it with 401.
"""

from __future__ import annotations

from fastapi import Request

from backend.adapters.redis_clients import REDIS_DOWN
from backend.api.auth import verify
from backend.core.errors import InvalidToken, RateLimited
from backend.core.keys import keys
from backend.core.logging import get_logger
from backend.resilience.rate_limits import ApiRateLimiter

log = get_logger(__name__)


async def limit_submissions(request: Request) -> None:
    limiter: ApiRateLimiter | None = getattr(request.app.state, "api_rate_limiter", None)
    route = request.scope.get("route")
    if limiter is None or route is None:
        return
    item = limiter.limit_for(request.method, getattr(route, "path", ""))
    if item is None:
        return
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer":
        return
    try:
        principal = await verify(token)
    except InvalidToken:
        return
    route_key = f"{request.method} {route.path}"
    jti = principal.token_id
    try:
        if jti:
            # One round trip for the token's revocation and the user's slot (issue 13).
            revoked, retry_after = await limiter.acquire_unless_marked(
                item, route_key, principal.user, keys.revoked_token(jti)
            )
        else:
            revoked, retry_after = False, await limiter.acquire(item, route_key, principal.user)
    except REDIS_DOWN:
        # Fail open: while Redis is down submissions go to the outbox, unlimited. The route's
        # authentication checks revocation itself (from this process's memory of it).
        log.warning("api_rate_limit_unavailable", route=route_key)
        return
    if revoked:
        # Not cached on the request: the route's `current_principal` checks again, answers 401.
        return
    # Cached on the request: the route's `current_principal` does not decode it again.
    request.state.principal = principal
    if retry_after is not None:
        raise RateLimited(
            f"too many requests to {route_key}: limit {item}", retry_after_s=retry_after
        )

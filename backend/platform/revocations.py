"""Token revocation: a list of revoked `jti`s in Redis, each kept until its token would expire.

Every API process reads the same list, so a revoked token answers 401 at once everywhere.
While Redis is unreachable the check falls back to the revocations this process has seen (the
API keeps answering from the outbox then); a token revoked during the outage is refused once
Redis answers again.
"""

from __future__ import annotations

import threading
import time
from typing import Any

from backend.adapters.redis_clients import REDIS_DOWN
from backend.core.keys import keys
from backend.core.logging import get_logger
from backend.core.settings import settings

__all__ = ["is_revoked", "revoke"]

log = get_logger(__name__)
_seen: dict[str, float] = {}  # jti -> expiry (epoch s): revocations this process has seen
_lock = threading.Lock()


def _remember(jti: str, expires_at: float) -> None:
    with _lock:
        now = time.time()
        for old in [j for j, exp in _seen.items() if exp < now]:
            del _seen[old]
        _seen[jti] = expires_at


def _ttl(expires_at: int | None) -> int:
    """Seconds the marker must live: until the token expires (plus the leeway)."""
    if expires_at is None:
        return settings.auth.max_ttl_s + settings.auth.leeway_s
    return max(1, int(expires_at - time.time()) + settings.auth.leeway_s)


def revoke(redis: Any, jti: str, expires_at: int | None = None) -> int:
    """Revoke the token with this `jti` (sync client). Returns the marker's lifetime in s."""
    ttl = _ttl(expires_at)
    redis.set(keys.revoked_token(jti), "1", ex=ttl)
    _remember(jti, time.time() + ttl)
    return ttl


async def is_revoked(aredis: Any, jti: str | None) -> bool:
    """True when the token was revoked (asyncio client)."""
    if not jti:
        return False
    try:
        found = bool(await aredis.exists(keys.revoked_token(jti)))
    except REDIS_DOWN:
        log.warning("revocation_check_unavailable")
        with _lock:
            return _seen.get(jti, 0) > time.time()
    if found:
        _remember(jti, time.time() + settings.auth.max_ttl_s + settings.auth.leeway_s)
    return found

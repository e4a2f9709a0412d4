"""Rate limits shared by every worker process and host, kept in Redis by the `limits` library.

Limits come from settings: `RATE_LIMITS` per external service (`{"smtp": "10/second"}`) and
`RATE_LIMITS_PER_KEY` per service and key (per user, per case). The moving-window strategy
never lets more than N calls through in any window, whichever process asks. A refused call
learns when the oldest call in the window ages out: that is when a slot frees, and the task
is deferred until then (TrackedTask; no worker waits and no attempt is used).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, cast

from limits import RateLimitItem, parse
from limits.aio.storage import RedisStorage as AsyncRedisStorage
from limits.aio.strategies import MovingWindowRateLimiter as AsyncMovingWindowRateLimiter
from limits.storage import RedisStorage
from limits.strategies import MovingWindowRateLimiter
from redis.exceptions import NoScriptError

from backend.core.settings import settings

# limits joins its prefix and key with ":"; this keeps every limiter key under our prefix.
STORAGE_PREFIX = f"{settings.redis.key_prefix}ratelimit"


@dataclass(frozen=True)
class Refusal:
    """A refused call: which limit, and in how many seconds a slot frees."""

    limit: str
    retry_after_s: float


class RateLimiter:
    """Shared limits for the calls a task makes to external services."""

    def __init__(
        self,
        limiter: MovingWindowRateLimiter,
        *,
        service_limits: dict[str, str],
        per_key_limits: dict[str, str],
    ) -> None:
        self.limiter = limiter
        self.service_limits = {s: parse(v) for s, v in service_limits.items()}
        self.per_key_limits = {s: parse(v) for s, v in per_key_limits.items()}

    @classmethod
    def from_settings(cls) -> RateLimiter:
        storage = RedisStorage(
            settings.redis.url,
            key_prefix=STORAGE_PREFIX,
            socket_timeout=settings.redis.socket_timeout_s,
            socket_connect_timeout=settings.redis.socket_timeout_s,
        )
        return cls(
            MovingWindowRateLimiter(storage),
            service_limits=settings.limits.rate_limits,
            per_key_limits=settings.limits.rate_limits_per_key,
        )

    def acquire(self, service: str, key: str | None = None) -> Refusal | None:
        """Take a slot for one call to `service` (and `key`); None if granted, else a Refusal.

        A service without a configured limit is not limited."""
        per_key = self.per_key_limits.get(service) if key is not None else None
        # Check the narrower limit before taking a service-wide slot, so that a call refused
        # for its key does not use up a slot every other key could have had.
        if per_key is not None and key is not None and not self.limiter.test(per_key, service, key):
            return self._refusal(per_key, f"{service}:{key}", service, key)
        item = self.service_limits.get(service)
        if item is not None and not self.limiter.hit(item, service):
            return self._refusal(item, service, service)
        if per_key is not None and key is not None and not self.limiter.hit(per_key, service, key):
            return self._refusal(per_key, f"{service}:{key}", service, key)
        return None

    def _refusal(self, item: RateLimitItem, label: str, *identifiers: str) -> Refusal:
        reset_at = self.limiter.get_window_stats(item, *identifiers).reset_time
        return Refusal(label, retry_after_from(reset_at))


def retry_after_from(reset_at: float) -> float:
    # At least a few ms: the window may free in the same instant another caller takes it.
    return max(0.01, round(reset_at - time.time(), 3))


@lru_cache(maxsize=1)
def worker_rate_limiter() -> RateLimiter:
    """One per process (created lazily, so after the prefork pool has forked)."""
    return RateLimiter.from_settings()


class ApiRateLimiter:
    """Per-user, per-route submission limits for the API (`API_RATE_LIMITS`), asyncio.

    An allowed request costs one Redis round trip (the moving-window Lua script); only a
    refused one makes a second to learn its Retry-After."""

    def __init__(self, limiter: AsyncMovingWindowRateLimiter, route_limits: dict[str, str]) -> None:
        self.limiter = limiter
        self.route_limits = {route: parse(v) for route, v in route_limits.items()}

    @classmethod
    def from_settings(cls) -> ApiRateLimiter:
        storage = AsyncRedisStorage(
            settings.redis.url,
            implementation="redispy",
            key_prefix=f"{STORAGE_PREFIX}:api",
            socket_timeout=settings.redis.socket_timeout_s,
            socket_connect_timeout=settings.redis.socket_timeout_s,
        )
        return cls(AsyncMovingWindowRateLimiter(storage), settings.api.rate_limits)

    def limit_for(self, method: str, path: str) -> RateLimitItem | None:
        return self.route_limits.get(f"{method} {path.rstrip('/') or '/'}")

    async def acquire(self, item: RateLimitItem, route: str, user: str) -> float | None:
        """None if the user may go on, else the seconds until a slot frees."""
        if await self.limiter.hit(item, route, user):
            return None
        return await self._retry_after(item, route, user)

    async def acquire_unless_marked(
        self, item: RateLimitItem, route: str, user: str, marker: str
    ) -> tuple[bool, float | None]:
        """As `acquire`, in one round trip with an EXISTS of `marker` (a revoked token's key):
        (marker found, seconds until a slot frees or None). The slot is taken either way, as
        one the caller would have taken before learning of the marker. Raises redis's
        ConnectionError/TimeoutError when Redis is down."""
        bridge: Any = cast(AsyncRedisStorage, self.limiter.storage).bridge  # the redispy one
        # The script and key of MovingWindowRateLimiter.hit, by its SHA (a pipeline given the
        # Script itself adds a SCRIPT EXISTS round trip; the fallback below loads it).
        sha = bridge.lua_acquire_moving_window.sha
        key = bridge.prefixed_key(item.key_for(route, user))
        pipe: Any = bridge.get_connection().pipeline(transaction=False)
        pipe.exists(marker)
        pipe.evalsha(sha, 1, key, time.time(), item.amount, item.get_expiry(), 1)
        try:
            found, acquired = await pipe.execute()
        except NoScriptError:  # Redis lost its scripts (restart, SCRIPT FLUSH): two calls
            found = await bridge.get_connection().exists(marker)
            acquired = await self.limiter.hit(item, route, user)
        if acquired:
            return bool(found), None
        return bool(found), await self._retry_after(item, route, user)

    async def _retry_after(self, item: RateLimitItem, route: str, user: str) -> float:
        stats = await self.limiter.get_window_stats(item, route, user)
        return retry_after_from(stats.reset_time)

"""Shared Redis clients (sync for workers and CLI, asyncio for the API), one pool per process.

redis-py resets a pool it finds in a forked child, so prefork pool children get their own.
"""

from __future__ import annotations

import math
from functools import lru_cache
from typing import Any

import redis
import redis.asyncio as aioredis
from redis.asyncio.retry import Retry as AsyncRetry
from redis.backoff import ExponentialBackoff
from redis.retry import Retry

from backend.core.settings import settings

# Seconds this process's sync clients keep retrying a command while Redis is unreachable
# (0: fail at once, as the API must, to answer from the outbox instead of hanging).
_outage_retry_s = 0.0
_BACKOFF_CAP_S = 1.0


def retry_through_outages(seconds: float) -> None:
    """Workers call this at start: a Redis restart then delays a status write, an enqueue or
    a lock instead of failing the task that makes it (and leaving its record behind)."""
    global _outage_retry_s
    _outage_retry_s = seconds
    get_redis.cache_clear()


# Everywhere, a command on a pooled connection that Redis closed (it restarted) is retried on a
# new connection at once, instead of failing the request that happened to pick it.
_STALE_RETRIES = 2
# The errors that mean "Redis is unreachable" (down, restarting, network): callers catch this
# tuple to fall back (the outbox, fail-open limits) instead of failing.
REDIS_DOWN: tuple[type[Exception], ...] = (redis.ConnectionError, redis.TimeoutError)
_RETRY_ON = list(REDIS_DOWN)


def _retry_options() -> dict[str, Any]:
    if _outage_retry_s <= 0:
        backoff, retries = ExponentialBackoff(cap=0.05, base=0.01), _STALE_RETRIES
    else:
        # Backoff 0.05, 0.1, ... capped at 1 s: about `_outage_retry_s` seconds in all.
        backoff = ExponentialBackoff(cap=_BACKOFF_CAP_S, base=0.05)
        retries = 5 + math.ceil(_outage_retry_s / _BACKOFF_CAP_S)
    return {"retry": Retry(backoff, retries), "retry_on_error": _RETRY_ON}


@lru_cache(maxsize=4)
def get_redis(url: str | None = None) -> redis.Redis:
    return redis.Redis.from_url(
        url or settings.redis.url,
        socket_timeout=settings.redis.socket_timeout_s,
        socket_connect_timeout=settings.redis.socket_timeout_s,
        health_check_interval=30,
        decode_responses=True,
        **_retry_options(),
        **settings.redis.tls_options(url),
    )


def new_async_redis(url: str | None = None) -> aioredis.Redis:
    """A new asyncio client; the API makes one per app lifespan (pools are bound to a loop)."""
    return aioredis.Redis.from_url(
        url or settings.redis.url,
        socket_timeout=settings.redis.socket_timeout_s,
        socket_connect_timeout=settings.redis.socket_timeout_s,
        health_check_interval=30,
        decode_responses=True,
        max_connections=64,
        retry=AsyncRetry(ExponentialBackoff(cap=0.05, base=0.01), _STALE_RETRIES),
        retry_on_error=_RETRY_ON,
        **settings.redis.tls_options(url),
    )

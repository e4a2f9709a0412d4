"""Shared Redis clients (sync for workers and CLI, asyncio for the API), one pool per process.

redis-py resets a pool it finds in a forked child, so prefork pool children get their own.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable
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


class CountingRetry(Retry):
    """redis-py's Retry, counting each failed try (an outage retry) for the metrics: the count
    is handed to Redis with the next status write once Redis answers again."""

    def call_with_retry(  # type: ignore[override]
        self,
        do: Callable[[], Any],
        fail: Callable[..., Any],
        is_retryable: Callable[[Exception], bool] | None = None,
        with_failure_count: bool = False,
    ) -> Any:
        def counted(error: Exception, *count: int) -> Any:
            _count_outage_retry()
            return fail(error, *count)

        return super().call_with_retry(do, counted, is_retryable, with_failure_count)


_outage_retries = 0
_outage_lock = threading.Lock()


def _count_outage_retry() -> None:
    global _outage_retries
    with _outage_lock:
        _outage_retries += 1


def take_outage_retries() -> int:
    """The outage retries this process made since the last call (then zero)."""
    global _outage_retries
    with _outage_lock:
        taken, _outage_retries = _outage_retries, 0
    return taken


def _retry_options() -> dict[str, Any]:
    if _outage_retry_s <= 0:
        backoff, retries = ExponentialBackoff(cap=0.05, base=0.01), _STALE_RETRIES
        return {"retry": Retry(backoff, retries), "retry_on_error": _RETRY_ON}
    # Backoff 0.05, 0.1, ... capped at 1 s: about `_outage_retry_s` seconds in all.
    backoff = ExponentialBackoff(cap=_BACKOFF_CAP_S, base=0.05)
    retries = 5 + math.ceil(_outage_retry_s / _BACKOFF_CAP_S)
    return {"retry": CountingRetry(backoff, retries), "retry_on_error": _RETRY_ON}


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

"""Shared Redis clients (sync for workers and CLI, asyncio for the API), one pool per process.

redis-py resets a pool it finds in a forked child, so prefork pool children get their own.
"""

from __future__ import annotations

from functools import lru_cache

import redis
import redis.asyncio as aioredis

from backend.config import settings


@lru_cache(maxsize=4)
def get_redis(url: str | None = None) -> redis.Redis:
    return redis.Redis.from_url(
        url or settings.redis_url,
        socket_timeout=settings.redis_socket_timeout_s,
        socket_connect_timeout=settings.redis_socket_timeout_s,
        health_check_interval=30,
        decode_responses=True,
    )


def new_async_redis(url: str | None = None) -> aioredis.Redis:
    """A new asyncio client; the API makes one per app lifespan (pools are bound to a loop)."""
    return aioredis.Redis.from_url(
        url or settings.redis_url,
        socket_timeout=settings.redis_socket_timeout_s,
        socket_connect_timeout=settings.redis_socket_timeout_s,
        health_check_interval=30,
        decode_responses=True,
        max_connections=64,
    )

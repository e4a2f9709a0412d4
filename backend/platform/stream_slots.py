"""Open Server-Sent Event streams per user, counted in Redis across every API process.

Each stream takes a slot (a sorted-set member whose score is when it expires: its lifetime plus
a margin, so a slot of a process that died frees itself) and gives it back when it closes.
"""

from __future__ import annotations

import time
import uuid
from typing import Any

from backend.core.keys import keys

__all__ = ["acquire", "release"]

_MARGIN_S = 30.0


async def acquire(redis: Any, user: str, *, limit: int, lifetime_s: float) -> str | None:
    """A slot id, or None when `user` has `limit` streams open already."""
    key, slot, now = keys.sse_streams(user), uuid.uuid4().hex, time.time()
    async with redis.pipeline(transaction=True) as pipe:
        pipe.zremrangebyscore(key, "-inf", now)
        pipe.zadd(key, {slot: now + lifetime_s + _MARGIN_S})
        pipe.zcard(key)
        pipe.expire(key, int(lifetime_s + _MARGIN_S) + 1)
        _, _, count, _ = await pipe.execute()
    if int(count) > limit:
        await redis.zrem(key, slot)
        return None
    return slot


async def release(redis: Any, user: str, slot: str) -> None:
    await redis.zrem(keys.sse_streams(user), slot)

"""Per-user quotas over fixed windows (a day, an hour), shared by every API process: cases,
uploads and reports per day, e-mail recipients per hour. Each is a Redis counter that expires
with its window; a request over the quota takes nothing and answers 429 until the window ends.
Like the API's rate limits, quotas fail open while Redis is unreachable."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from backend.adapters.redis_clients import REDIS_DOWN, get_redis
from backend.core.errors import QuotaExceeded
from backend.core.keys import keys
from backend.core.logging import get_logger

__all__ = ["DAY", "HOUR", "Quota", "charge", "refund"]

log = get_logger(__name__)
DAY, HOUR = 86_400, 3_600


@dataclass(frozen=True)
class Quota:
    what: str  # cases, uploads, reports, email_recipients
    limit: int
    window_s: int


def charge(user: str, quota: Quota, amount: int = 1, redis: Any = None) -> None:
    """Count `amount` against `user`'s quota, or raise QuotaExceeded (and count nothing)."""
    if amount <= 0:
        return
    now = time.time()
    window = int(now // quota.window_s)
    key = keys.quota(user, quota.what, str(window))
    client = redis or get_redis()
    try:
        pipe = client.pipeline(transaction=True)
        pipe.incrby(key, amount)
        pipe.expire(key, quota.window_s + 60)
        used, _ = pipe.execute()
        if int(used) > quota.limit:
            client.decrby(key, amount)
        else:
            return
    except REDIS_DOWN:
        log.warning("quota_unavailable", quota=quota.what)
        return
    retry = (window + 1) * quota.window_s - now
    raise QuotaExceeded(
        f"quota exceeded: at most {quota.limit} {quota.what.replace('_', ' ')} per "
        f"{'day' if quota.window_s == DAY else 'hour'}",
        retry_after_s=retry,
    )


def refund(user: str, quota: Quota, amount: int = 1, redis: Any = None) -> None:
    """Give back what `charge` took (the request failed on another quota)."""
    if amount <= 0:
        return
    key = keys.quota(user, quota.what, str(int(time.time() // quota.window_s)))
    try:
        (redis or get_redis()).decrby(key, amount)
    except REDIS_DOWN:
        log.warning("quota_unavailable", quota=quota.what)

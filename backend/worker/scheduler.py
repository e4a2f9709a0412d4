"""Beat's scheduler: RedBeat (schedule and HA lock in Redis) that rides out a Redis outage.

RedBeat lets a connection error escape from `tick()`, which ends the beat process: no
schedule and no reaper passes until something restarts it, and then the new beat waits for
the old lock to lapse. Here a tick that cannot reach Redis is logged and tried again shortly;
the lock's TTL keeps running meanwhile (Redis expires keys by wall clock), so an outage
shorter than BEAT_LOCK_TIMEOUT_S keeps the same leader. If the lock lapsed during a longer
outage, this beat waits for it like a standby, so two beats never run the schedule together.
"""

from __future__ import annotations

import time
from types import SimpleNamespace
from typing import Any

from redbeat import RedBeatScheduler
from redbeat.schedulers import acquire_distributed_beat_lock
from redis.exceptions import LockError

from backend.adapters.redis_clients import REDIS_DOWN
from backend.core.logging import get_logger

log = get_logger(__name__)

OUTAGE_RETRY_S = 1.0


class ResilientRedBeatScheduler(RedBeatScheduler):  # type: ignore[misc]
    def tick(self, min: Any = min, **kwargs: Any) -> float:
        if self.lock_key and self.lock is None:
            # Redis failed while this beat started: RedBeat's start-up acquisition was
            # squashed by Celery and left no lock (its tick would crash). Take it now.
            log.warning("beat_lock_missing", action="acquiring it")
            self._reacquire()
            return OUTAGE_RETRY_S
        try:
            return float(super().tick(min=min, **kwargs))
        except REDIS_DOWN as exc:
            log.warning("beat_redis_unavailable", error=type(exc).__name__)
            return OUTAGE_RETRY_S
        except LockError:
            # Lapsed during a long outage, and maybe taken by another beat: stand by for it.
            log.warning("beat_lock_lost", action="waiting to take it again")
            self._reacquire()
            return OUTAGE_RETRY_S

    def _reacquire(self) -> None:
        while True:
            try:
                if self.lock is None:
                    acquire_distributed_beat_lock(sender=SimpleNamespace(scheduler=self))
                    log.info("beat_lock_acquired")
                    return
                if self.lock.acquire(blocking=True, blocking_timeout=self.lock_timeout):
                    log.info("beat_lock_acquired")
                    return
            except REDIS_DOWN as exc:
                log.warning("beat_redis_unavailable", error=type(exc).__name__)
                time.sleep(OUTAGE_RETRY_S)

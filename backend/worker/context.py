"""Per-process handles a worker shares between its task hooks, signals and daemons.

Each is built on first use and cleared at `worker_init`, so a pool child forked afterwards
builds its own connections instead of sharing the parent's sockets.
"""

from __future__ import annotations

import os
import socket
import uuid
from functools import lru_cache

from backend.adapters.redis_clients import get_redis
from backend.platform.enqueue import CeleryTaskService
from backend.platform.recovery.reaper import Reaper
from backend.platform.status import TaskStatusManager


@lru_cache(maxsize=1)
def status_manager() -> TaskStatusManager:
    # Its own connection, held (redis-py's `client()`: same pool settings and retries): the
    # two transitions of every task skip the pool's checkout and release, a third of the
    # client-side cost of a script call. Thread-safe (redis-py locks a held connection), but
    # not fork-safe as a pool is: a forked process builds its own (below).
    return TaskStatusManager(get_redis().client())  # type: ignore[no-untyped-call]


# A pool child forked after the main process used its status manager (billiard replaces a
# child that died or hit its task limit) must not write on the parent's held connection.
os.register_at_fork(after_in_child=status_manager.cache_clear)


@lru_cache(maxsize=1)
def task_service() -> CeleryTaskService:
    """For tasks that enqueue follow-ups (same idempotency and tracking as the API's)."""
    return CeleryTaskService(get_redis())


@lru_cache(maxsize=1)
def reaper() -> Reaper:
    return Reaper(get_redis())


@lru_cache(maxsize=1)
def worker_instance() -> str:
    """This worker process's identity: unique even across restarts under one hostname."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def reset() -> None:
    """Forget the handles (before the pool forks; the identity stays the main process's)."""
    status_manager.cache_clear()
    task_service.cache_clear()
    reaper.cache_clear()

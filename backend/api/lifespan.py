"""What an API process holds while it runs: its Redis clients, services, the outbox relay
thread, the audit writer thread and the platform's metrics collector; all released on
shutdown."""

from __future__ import annotations

import gc
import importlib
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI
from starlette.concurrency import run_in_threadpool

from backend.adapters.redis_clients import get_redis, new_async_redis
from backend.core.settings import settings
from backend.platform.audit import close_writer
from backend.platform.enqueue import AsyncCeleryTaskService, CeleryTaskService
from backend.platform.metrics import REGISTRY, TaskPlatformCollector
from backend.platform.outbox import Outbox, OutboxRelay, accepted_record
from backend.platform.status import AsyncTaskStatusReader
from backend.resilience.rate_limits import ApiRateLimiter


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    # Plug-in task modules (EXTRA_TASK_MODULES): their specs, so that the API accepts them.
    for module in settings.tasks.extra_modules:
        importlib.import_module(module)
    redis = new_async_redis()
    service = CeleryTaskService(get_redis())
    app.state.redis = redis
    app.state.task_service = service
    app.state.async_task_service = AsyncCeleryTaskService(redis, service)
    outbox = Outbox(service)
    app.state.outbox = outbox
    app.state.status_reader = AsyncTaskStatusReader(redis, fallback=_outbox_status)
    app.state.api_rate_limiter = ApiRateLimiter.from_settings()
    collector = TaskPlatformCollector(service.status)
    REGISTRY.register(collector)
    relay = OutboxRelay(outbox).start()
    calm_garbage_collector()
    try:
        yield
    finally:
        relay.stop()
        REGISTRY.unregister(collector)
        await run_in_threadpool(close_writer)  # the audit rows still queued are written
        await redis.aclose()


def calm_garbage_collector() -> None:
    """Take what start-up built out of the collector's sight, and collect the young less often.

    Measured under 20 saturating clients (issue 13): the API ran about one young collection per
    request and a full one every ~400, each full one walking ~160,000 objects (the app, its
    libraries, SQLAlchemy's and pydantic's caches) that never die, a stall of tens of ms each
    time. Frozen, a full collection walks what requests made (~15,000); a larger first
    threshold makes a young collection rarer (each has as much to do: requests' garbage dies
    young)."""
    gc.collect()
    gc.freeze()
    _, second, third = gc.get_threshold()
    gc.set_threshold(GC_YOUNG_THRESHOLD, second, third)
    # The event loop gives up the GIL at each blocking call it makes (a syscall, a lock); a
    # thread holding it then (the audit writer, the outbox relay) keeps it for up to the switch
    # interval before the loop may run again. 1 ms instead of CPython's 5 caps that stall.
    sys.setswitchinterval(SWITCH_INTERVAL_S)


# Container allocations between young collections (CPython's default is 700).
GC_YOUNG_THRESHOLD = 10_000
SWITCH_INTERVAL_S = 0.001


async def _outbox_status(task_id: str) -> dict[str, Any] | None:
    """A task accepted while Redis was down reads ACCEPTED from the outbox."""
    entry = await run_in_threadpool(Outbox.get, task_id)
    return accepted_record(entry) if entry is not None else None

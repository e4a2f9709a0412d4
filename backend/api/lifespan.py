"""What an API process holds while it runs: its Redis clients, services, the outbox relay
thread and the platform's metrics collector; all released on shutdown."""

from __future__ import annotations

import importlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI
from starlette.concurrency import run_in_threadpool

from backend.adapters.redis_clients import get_redis, new_async_redis
from backend.core.settings import settings
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
    try:
        yield
    finally:
        relay.stop()
        REGISTRY.unregister(collector)
        await redis.aclose()


async def _outbox_status(task_id: str) -> dict[str, Any] | None:
    """A task accepted while Redis was down reads ACCEPTED from the outbox."""
    entry = await run_in_threadpool(Outbox.get, task_id)
    return accepted_record(entry) if entry is not None else None

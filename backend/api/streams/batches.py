"""A batch's live stream: its counts now, then whenever they change, until it completes."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator
from typing import Any

from fastapi import Request
from starlette.concurrency import run_in_threadpool

from backend.core.enums import BatchEvent
from backend.services import batches

# How often a batch stream re-reads the counts when no event came (a missed or unpublished
# event must not leave the stream hanging).
BATCH_POLL_S = 2.0


async def batch_events(request: Request, batch_id: str) -> AsyncIterator[dict[str, str]]:
    pubsub = request.app.state.redis.pubsub()
    await pubsub.subscribe(batches.channel(batch_id))
    try:
        # Subscribed before the first read, so no change falls between the two.
        last: dict[str, Any] | None = None
        polled = 0.0
        while not await request.is_disconnected():
            counts = None
            if time.monotonic() - polled >= BATCH_POLL_S:
                counts = await run_in_threadpool(batches.counts_of, batch_id)
                polled = time.monotonic()
            else:
                message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=1.0)
                if message is not None:
                    counts = await run_in_threadpool(batches.counts_of, batch_id)
            if counts is None:
                continue
            name = BatchEvent.COMPLETED if counts.completed else BatchEvent.PROGRESS
            data = batches.event_data(name, counts)
            if data != last:
                last = data
                yield {"event": name, "data": json.dumps(data)}
            if counts.completed:
                return
    finally:
        await pubsub.unsubscribe(batches.channel(batch_id))
        await pubsub.aclose()

"""Following one task live for Server-Sent Events: a snapshot, then each transition until it ends.

Built on the pub/sub channel every TrackedTask transition publishes to (`keys.events`); the
/api/tasks and /api/triage streams both read through `follow_task` and only name the events
their own way.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import redis.asyncio as aioredis
from sse_starlette.sse import EventSourceResponse

from backend.core.enums import TaskState
from backend.platform.status import AsyncTaskStatusReader


@dataclass(frozen=True)
class TaskEvent:
    """The snapshot (`event` "status", `data` the task status object) or one transition
    (`event` the transition's name, `data` what the transition published)."""

    event: str
    state: TaskState
    data: dict[str, Any]
    raw: str
    snapshot: bool = False


async def follow_task(
    redis: aioredis.Redis,
    reader: AsyncTaskStatusReader,
    task_id: str,
    *,
    is_disconnected: Callable[[], Awaitable[bool]],
) -> AsyncIterator[TaskEvent]:
    """The task's current status, then its transitions; stops after a final state."""
    channel = reader.keys.events(task_id)
    pubsub = redis.pubsub()
    await pubsub.subscribe(channel)
    try:
        # Subscribed before the snapshot, so no transition falls between the two.
        snapshot = await reader.get(task_id)
        if snapshot is None:
            return
        state = TaskState(snapshot["state"])
        yield TaskEvent("status", state, snapshot, json.dumps(snapshot), snapshot=True)
        if state.is_final:
            return
        while not await is_disconnected():
            message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=1.0)
            if message is None:
                continue
            data = json.loads(message["data"])
            state = TaskState(data["state"])
            yield TaskEvent(data.get("event", "update"), state, data, message["data"])
            if state.is_final:
                return
    finally:
        await pubsub.unsubscribe(channel)
        await pubsub.aclose()  # type: ignore[no-untyped-call]


def sse_response(events: AsyncIterator[dict[str, str]]) -> EventSourceResponse:
    return EventSourceResponse(events, ping=15, send_timeout=30)

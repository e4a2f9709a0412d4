"""Request and response bodies of /api/tasks/dead-letter."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from backend.core.enums import DeadLetterReason, QueueName


class DeadLetterPageOut(BaseModel):
    items: list[dict[str, Any]]
    next_cursor: str | None


class DeadLetterReplayFilter(BaseModel):
    """Which open entries to replay (all given fields must match); oldest first, at most
    DEAD_LETTER_REPLAY_MAX."""

    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(default=None, max_length=200)
    queue: QueueName | None = None
    reason: DeadLetterReason | None = None
    since: datetime | None = None


class ReplayedOut(BaseModel):
    task_id: str
    replayed_as: str
    status_url: str

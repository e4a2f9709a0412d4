"""Request and response bodies of /api/tasks."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class TaskCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(max_length=200, examples=["triage.classify_case"])
    args: list[Any] = Field(default_factory=list, max_length=50)
    kwargs: dict[str, Any] = Field(default_factory=dict)
    priority: str | None = Field(default=None, examples=["HIGH"])
    queue: str | None = Field(default=None, max_length=50)
    countdown: float | None = Field(default=None, ge=0)
    retry_policy: dict[str, float] | None = None
    correlation_id: str | None = Field(default=None, max_length=100)
    metadata: dict[str, Any] | None = None


class TaskAccepted(BaseModel):
    task_id: str
    created: bool
    # False: accepted while the broker was down, kept in the outbox and published once it is
    # back (the task's state reads ACCEPTED until then).
    queued: bool = True
    status_url: str
    stream_url: str


class TaskStatusOut(BaseModel):
    model_config = ConfigDict(extra="allow")

    task_id: str
    name: str | None
    queue: str | None
    priority: str | None
    state: str | None
    owner: str | None
    created_at: str | None
    started_at: str | None
    finished_at: str | None
    wait_ms: int | None
    runtime_ms: int | None
    attempts: int
    max_attempts: int
    progress: dict[str, Any] | None
    result: Any
    error: dict[str, Any] | None
    worker: str | None
    correlation_id: str | None
    retry_of: str | None = None
    retried_by: str | None = None
    history: list[dict[str, Any]]


class TaskPageOut(BaseModel):
    items: list[TaskStatusOut]
    next_cursor: str | None


class CancelOut(BaseModel):
    task_id: str
    previous_state: str
    state: str


def accepted(task_id: str, created: bool, *, queued: bool = True) -> TaskAccepted:
    return TaskAccepted(
        task_id=task_id,
        created=created,
        queued=queued,
        status_url=f"/api/tasks/{task_id}",
        stream_url=f"/api/tasks/{task_id}/stream",
    )

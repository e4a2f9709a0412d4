"""Request and response bodies of /api/triage (cases and batches)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, EmailStr, Field

from backend.api.schemas.common import UtcDateTime
from backend.services.triage import CaseDraft


class TriageCreate(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    title: str = Field(min_length=1, max_length=300)
    description: str = Field(min_length=1, max_length=20_000)
    client_email: EmailStr | None = None

    def draft(self) -> CaseDraft:
        return CaseDraft(self.title, self.description, self.client_email)


class TriageBatchCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    # Items are validated one by one in the handler, so one bad case does not sink the rest.
    cases: list[Any] = Field(min_length=1)
    # Told once every case is triaged or failed: an e-mail, and/or a signed POST.
    notify_email: EmailStr | None = None
    callback_url: str | None = Field(default=None, min_length=1, max_length=2000)


class TriageAccepted(BaseModel):
    case_id: str
    task_id: str
    created: bool
    # False: accepted while the broker was down; the task is published once it is back
    # (its state reads ACCEPTED until then).
    queued: bool
    status_url: str
    stream_url: str
    task_url: str


class BatchItemError(BaseModel):
    code: str
    message: str


class BatchItemOut(BaseModel):
    index: int
    case_id: str | None = None
    task_id: str | None = None
    created: bool | None = None
    queued: bool | None = None
    status_url: str | None = None
    stream_url: str | None = None
    task_url: str | None = None
    error: BatchItemError | None = None


class TriageBatchAccepted(BaseModel):
    batch_id: str
    batch_url: str
    stream_url: str
    accepted: int
    rejected: int
    items: list[BatchItemOut]


class BatchCaseOut(BaseModel):
    case_id: str
    index: int | None
    status: str
    area: str | None
    urgency: str | None
    error: dict[str, Any] | None


class BatchOut(BaseModel):
    batch_id: str
    status: str
    total: int
    done: int
    failed: int
    pending: int
    created_at: UtcDateTime
    completed_at: UtcDateTime | None
    items: list[BatchCaseOut]
    # Pass as `offset` for the next page of items; None on the last one.
    next_offset: int | None
    stream_url: str


class CaseOut(BaseModel):
    case_id: str
    status: str
    title: str
    area: str | None
    urgency: str | None
    created_at: UtcDateTime
    updated_at: UtcDateTime
    task_id: str | None
    # The triage task's state (None once its record has expired).
    state: str | None
    task: dict[str, Any] | None
    triage: dict[str, Any] | None
    status_url: str
    stream_url: str

"""Server-Sent Event streams: a task's transitions, a case's triage events, a batch's counts."""

from backend.api.streams.batches import batch_events
from backend.api.streams.cases import case_events
from backend.api.streams.tasks import TaskEvent, follow_task, sse_response

__all__ = ["TaskEvent", "batch_events", "case_events", "follow_task", "sse_response"]

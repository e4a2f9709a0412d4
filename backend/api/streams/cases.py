"""A case's live stream: its triage task's events mapped to the triage events clients see
(`triage_started` once, `triage_update`, then `triage_completed` or `triage_failed`)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

from fastapi import Request
from starlette.concurrency import run_in_threadpool

from backend.api.streams.tasks import TaskEvent, follow_task
from backend.core.enums import CaseStatus, TaskState, TriageEvent
from backend.platform.status import AsyncTaskStatusReader
from backend.services import triage
from backend.services.triage import CaseView


async def case_events(
    request: Request,
    case: CaseView,
    reader: AsyncTaskStatusReader,
) -> AsyncIterator[dict[str, str]]:
    """The events of `case` until its triage ends (or the client goes away)."""
    case_id, task_id = case.id, case.task_id
    started = emitted = False
    if task_id:
        async for event in follow_task(
            request.app.state.redis, reader, task_id, is_disconnected=request.is_disconnected
        ):
            name = _event_name(event, started=started)
            started = started or name == TriageEvent.STARTED
            emitted = True
            data = await _event_data(name, event, case_id, task_id, reader)
            yield {"event": name, "data": json.dumps(data)}
    if not emitted and case.status == CaseStatus.TRIAGED:
        # The task record has expired; the case still has its triage.
        yield {"event": TriageEvent.COMPLETED, "data": json.dumps(completed(case, task_id))}


def _event_name(event: TaskEvent, *, started: bool) -> str:
    if event.state is TaskState.SUCCESS:
        return TriageEvent.COMPLETED
    if event.state.is_final:
        return TriageEvent.FAILED
    if event.state in (TaskState.STARTED, TaskState.PROGRESS) and not started:
        return TriageEvent.STARTED
    return TriageEvent.UPDATE


def completed(case: CaseView | None, task_id: str | None) -> dict[str, Any]:
    return {
        "case_id": case.id if case else None,
        "task_id": task_id,
        "state": TaskState.SUCCESS.value,
        "area": case.area if case else None,
        "urgency": case.urgency if case else None,
        "triage": case.triage if case else None,
    }


def _progress(event: TaskEvent) -> dict[str, Any] | None:
    if event.snapshot:
        return event.data.get("progress")  # type: ignore[no-any-return]
    current, total = event.data.get("progress_current"), event.data.get("progress_total")
    if current in (None, ""):
        return None
    return {
        "current": int(current),
        "total": int(total) if total not in (None, "") else None,
        "message": event.data.get("progress_message") or "",
    }


async def _event_data(
    name: str,
    event: TaskEvent,
    case_id: str,
    task_id: str,
    reader: AsyncTaskStatusReader,
) -> dict[str, Any]:
    if name == TriageEvent.COMPLETED:
        return completed(await run_in_threadpool(triage.get_case, case_id), task_id)
    data: dict[str, Any] = {
        "case_id": case_id,
        "task_id": task_id,
        "state": event.state.value,
        "event": event.event,
        "progress": _progress(event),
    }
    if name == TriageEvent.FAILED:
        record = event.data if event.snapshot else await reader.get(task_id)
        data["error"] = (record or {}).get("error")
    return data

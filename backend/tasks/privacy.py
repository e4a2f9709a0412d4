"""Data-subject erasure on the `maintenance` queue: resumable, with progress per step."""

from __future__ import annotations

from typing import Any

from backend.services import privacy
from backend.worker import TrackedTask, task_service, tracked_task


@tracked_task(privacy.ERASE_TASK)
def erase_subject(self: TrackedTask, subject: str, actor: str) -> dict[str, Any]:
    """Erase everything held about `subject`. Every step is idempotent: after a crash the
    redelivered task runs again and finishes what the first run left."""
    return privacy.erase_subject(
        subject,
        task_service(),
        actor=actor,
        own_task_id=self.request.id,
        progress=self.report_progress,
    )

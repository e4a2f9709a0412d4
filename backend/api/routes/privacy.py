"""Data-subject rights (LGPD): a copy of one's data, and erasure.

- `GET /api/me/data`, `DELETE /api/me`: the person, with their own token;
- `GET /api/privacy/subjects/{user}/export`, `POST /api/privacy/subjects/{user}/erase`: admins.

An export is a zip (`data.json` and the person's files). An erasure runs as a task
(`privacy.erase_subject`); the answer gives its `task_id` to follow. Both leave an audit row.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Response, status
from pydantic import BaseModel

from backend.api.deps import Admin, AuditCtx, CurrentUser, TaskServiceDep
from backend.core.enums import Priority, PrivacyAction
from backend.platform import privacy_audit
from backend.platform.audit import AuditContext
from backend.platform.enqueue import CeleryTaskService
from backend.services import privacy

router = APIRouter(tags=["privacy"])

Subject = Annotated[str, Path(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9_.@+-]+$")]


class ErasureAccepted(BaseModel):
    subject: str
    task_id: str
    status_url: str


def _zip(subject: str, content: bytes) -> Response:
    return Response(
        content,
        media_type="application/zip",
        headers={"Content-Disposition": f'attachment; filename="data-{subject}.zip"'},
    )


def _erase(
    service: CeleryTaskService, subject: str, *, owner: str, context: AuditContext
) -> ErasureAccepted:
    actor = context.actor
    privacy_audit.record(
        PrivacyAction.ERASURE_REQUESTED, actor=actor, subject=subject, detail={}, context=context
    )
    task_id = service.enqueue(
        privacy.ERASE_TASK, [subject, actor], priority=Priority.HIGH, owner=owner
    )
    return ErasureAccepted(subject=subject, task_id=task_id, status_url=f"/api/tasks/{task_id}")


@router.get("/api/me/data", response_class=Response)
def my_data(principal: CurrentUser, service: TaskServiceDep, audit: AuditCtx) -> Response:
    """Everything held about the caller, as a zip."""
    content = privacy.export_subject(principal.user, service, actor=principal.user, context=audit)
    return _zip(principal.user, content)


@router.delete("/api/me", status_code=status.HTTP_202_ACCEPTED)
def erase_me(principal: CurrentUser, service: TaskServiceDep, audit: AuditCtx) -> ErasureAccepted:
    """Erase everything held about the caller (a task; follow it at `status_url`)."""
    return _erase(service, principal.user, owner=principal.user, context=audit)


@router.get("/api/privacy/subjects/{user}/export", response_class=Response)
def export_subject(
    user: Subject, principal: Admin, service: TaskServiceDep, audit: AuditCtx
) -> Response:
    return _zip(user, privacy.export_subject(user, service, actor=principal.user, context=audit))


@router.post("/api/privacy/subjects/{user}/erase", status_code=status.HTTP_202_ACCEPTED)
def erase_subject(
    user: Subject, principal: Admin, service: TaskServiceDep, audit: AuditCtx
) -> ErasureAccepted:
    return _erase(service, user, owner=principal.user, context=audit)

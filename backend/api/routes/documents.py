"""/api/documents: upload a document of a case for analysis, and read it back.

A client sees only its own documents (those of its cases): another owner's answers 404.
Uploads have their own size limit (MAX_UPLOAD_BYTES) instead of MAX_BODY_BYTES.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, File, Form, Path, UploadFile, status
from pydantic import BaseModel

from backend.api.deps import AuditCtx, CurrentUser, TaskServiceDep
from backend.api.schemas.common import UtcDateTime
from backend.core.settings import settings
from backend.services import documents

UPLOAD_PATH = "/api/documents"
# Room for the multipart framing and the case_id field around the file itself; the file's
# own size is checked exactly by the handler.
_MULTIPART_OVERHEAD = 64 * 1024
UPLOAD_BODY_LIMIT = settings.parsing.max_upload_bytes + _MULTIPART_OVERHEAD

router = APIRouter(prefix=UPLOAD_PATH, tags=["documents"])

DocumentId = Annotated[str, Path(max_length=64)]


class DocumentAccepted(BaseModel):
    document_id: str
    task_id: str
    # False: accepted while the broker was down; published by the outbox relay once it is back.
    queued: bool
    status_url: str
    task_url: str
    stream_url: str


class DocumentOut(BaseModel):
    document_id: str
    case_id: str | None
    owner: str
    filename: str
    content_type: str | None
    size_bytes: int
    status: str
    error: str | None
    analysis: dict[str, Any] | None
    text: str | None
    task_id: str | None
    task_url: str | None
    created_at: UtcDateTime
    analysed_at: UtcDateTime | None


@router.post("", status_code=status.HTTP_202_ACCEPTED, response_model=DocumentAccepted)
def upload_document(
    principal: CurrentUser,
    ctx: AuditCtx,
    tasks: TaskServiceDep,
    file: Annotated[UploadFile, File(description="PDF, DOCX or plain text")],
    case_id: Annotated[str, Form(min_length=1, max_length=64)],
) -> DocumentAccepted:
    """Store the file and enqueue its analysis; its type is read from the content."""
    # One byte over the limit is enough to know it is too large.
    data = file.file.read(settings.parsing.max_upload_bytes + 1)
    submitted = documents.submit_document(
        tasks, principal=principal, case_id=case_id, filename=file.filename, data=data,
        audit=ctx,
    )  # fmt: skip
    return DocumentAccepted(
        document_id=submitted.document_id,
        task_id=submitted.task_id,
        queued=submitted.queued,
        status_url=f"{UPLOAD_PATH}/{submitted.document_id}",
        task_url=f"/api/tasks/{submitted.task_id}",
        stream_url=f"/api/tasks/{submitted.task_id}/stream",
    )


@router.get("/{document_id}", response_model=DocumentOut)
def get_document(
    document_id: DocumentId, principal: CurrentUser, ctx: AuditCtx, tasks: TaskServiceDep
) -> DocumentOut:
    """The document, its status and analysis; the extracted text is in `text`."""
    document = documents.get_document(principal=principal, document_id=document_id, audit=ctx)
    # Only its owner and operators get this far, so the text goes with it.
    return DocumentOut(
        document_id=document.id,
        case_id=document.case_id,
        owner=document.owner,
        filename=document.filename,
        content_type=document.content_type,
        size_bytes=document.size_bytes,
        status=document.status,
        error=document.error,
        analysis=document.analysis,
        text=document.text,
        task_id=document.task_id,
        task_url=f"/api/tasks/{document.task_id}" if document.task_id else None,
        created_at=document.created_at,
        analysed_at=document.analysed_at,
    )

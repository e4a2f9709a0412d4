"""Accepting document uploads for analysis and reading them back.

An upload is checked completely (size, real type from its bytes, the case) before anything
is kept; then the file, the row and the task are created, and if any step fails the ones
before it are undone, so nothing half-done stays.
"""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass

from sqlalchemy import delete, update

from backend.config import settings
from backend.db.models import Case, Document
from backend.db.session import session_scope
from backend.domain.parsing import sniff
from backend.errors import (
    CaseNotFound,
    DocumentNotFound,
    InvalidRequest,
    PayloadTooLarge,
    UnsupportedMediaType,
)
from backend.security.auth import Principal
from backend.services import document_store
from backend.services.celery_task_service import CeleryTaskService, row_task

ANALYSE_TASK = "documents.analyse_document"


@dataclass(frozen=True)
class SubmittedDocument:
    document_id: str
    task_id: str


class DocumentService:
    def __init__(self, tasks: CeleryTaskService) -> None:
        self.tasks = tasks

    def submit(
        self, *, principal: Principal, case_id: str, filename: str | None, data: bytes
    ) -> SubmittedDocument:
        """Store an uploaded file for `case_id` and enqueue its analysis."""
        if len(data) > settings.max_upload_bytes:
            raise PayloadTooLarge(f"file over {settings.max_upload_bytes} bytes")
        if not data:
            raise InvalidRequest("file: the file is empty")
        kind = sniff(data)
        if kind is None:
            raise UnsupportedMediaType(
                "file: unsupported content; send a PDF, a DOCX or a plain-text (UTF-8 or "
                "Latin-1) file (the type is read from the content, not the name)"
            )
        with session_scope() as session:
            case = session.get(Case, case_id)
            if case is None or not principal.may_see(case.owner):
                raise CaseNotFound(case_id)
            # The document belongs to the case's client, also when an operator uploads it.
            owner = case.owner
        document_id = str(uuid.uuid4())
        document_store.save(document_id, data)
        try:
            with session_scope() as session:
                session.add(
                    Document(
                        id=document_id,
                        owner=owner,
                        case_id=case_id,
                        filename=document_store.display_name(filename),
                        content_type=kind.value,
                        size_bytes=len(data),
                        storage_path=document_store.storage_name(document_id),
                        sha256=hashlib.sha256(data).hexdigest(),
                        status="pending",
                    )
                )
            task_id = self.tasks.submit(
                row_task(ANALYSE_TASK, document_id, owner=owner, key="analyse")
            ).task_id
        except BaseException:
            self._forget(document_id)
            raise
        with session_scope() as session:
            session.execute(
                update(Document).where(Document.id == document_id).values(task_id=task_id)
            )
        return SubmittedDocument(document_id, task_id)

    def _forget(self, document_id: str) -> None:
        with session_scope() as session:
            session.execute(delete(Document).where(Document.id == document_id))
        document_store.delete(document_id)

    def get(self, *, principal: Principal, document_id: str) -> Document:
        """A document its caller may see; anyone else's answers as missing."""
        with session_scope() as session:
            document = session.get(Document, document_id)
            if document is None or not principal.may_see(document.owner):
                raise DocumentNotFound(document_id)
            return document

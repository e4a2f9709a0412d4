"""Accepting document uploads for analysis and reading them back.

An upload is checked completely (size, real type from its bytes, the case) before anything
is kept; then the file is stored, and the row and its task's outbox row are committed together
(if that fails the file is removed again, so nothing half-done stays). The task is published
after the commit, or by the outbox relay while Redis is down.
"""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass

from sqlalchemy import func, select

from backend.adapters import file_store
from backend.core.crypto import keyring
from backend.core.db.models import Case, Document
from backend.core.db.session import session_scope
from backend.core.enums import AuditAction, AuditOutcome, ResourceType
from backend.core.errors import (
    CaseNotFound,
    DocumentNotFound,
    InvalidRequest,
    PayloadTooLarge,
    QuotaExceeded,
    UnsupportedMediaType,
)
from backend.core.security.tokens import Principal
from backend.core.settings import settings
from backend.domain.parsing import sniff
from backend.platform.audit import AuditContext
from backend.platform.enqueue import CeleryTaskService
from backend.platform.outbox import Outbox, stage
from backend.platform.submissions import row_task
from backend.resilience import quotas
from backend.resilience.quotas import Quota

ANALYSE_TASK = "documents.analyse_document"


@dataclass(frozen=True)
class SubmittedDocument:
    document_id: str
    task_id: str
    queued: bool  # False: Redis was down; the outbox relay publishes the task later


def submit_document(
    tasks: CeleryTaskService,
    *,
    principal: Principal,
    case_id: str,
    filename: str | None,
    data: bytes,
    audit: AuditContext | None = None,
) -> SubmittedDocument:
    """Store an uploaded file for `case_id` and enqueue its analysis."""
    if len(data) > settings.parsing.max_upload_bytes:
        raise PayloadTooLarge(f"file over {settings.parsing.max_upload_bytes} bytes")
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
        stored = session.scalar(
            select(func.coalesce(func.sum(Document.size_bytes), 0)).where(
                Document.owner == owner, Document.storage_path.is_not(None)
            )
        )
    if not principal.sees_everything:
        limit = settings.security.upload_bytes_per_user
        if int(stored or 0) + len(data) > limit:
            raise QuotaExceeded(
                f"quota exceeded: at most {limit} bytes of stored files per user",
                retry_after_s=quotas.DAY,
            )
        quotas.charge(
            principal.user, Quota("uploads", settings.security.uploads_per_day, quotas.DAY)
        )
    document_id = str(uuid.uuid4())
    keyring.ensure(owner)  # before the transaction: sealing never waits on its own write lock
    file_store.save(document_id, data, owner=owner)
    try:
        # The row and its task's outbox row commit together: no document without a task.
        with session_scope() as session:
            [staged] = stage(
                session, [row_task(ANALYSE_TASK, document_id, owner=owner, key="analyse")]
            )
            session.add(
                Document(
                    id=document_id,
                    owner=owner,
                    case_id=case_id,
                    filename=file_store.display_name(filename),
                    content_type=kind.value,
                    size_bytes=len(data),
                    storage_path=file_store.storage_name(document_id),
                    sha256=hashlib.sha256(data).hexdigest(),
                    status="pending",
                    task_id=staged.task_id,
                )
            )
            if audit is not None:  # in the row's transaction
                audit.record(
                    session, AuditAction.UPLOAD_DOCUMENT, ResourceType.DOCUMENT, document_id
                )
    except BaseException:
        file_store.delete(document_id)
        raise
    queued = Outbox(tasks).publish([staged])
    return SubmittedDocument(document_id, str(staged.task_id), queued)


def get_document(
    *, principal: Principal, document_id: str, audit: AuditContext | None = None
) -> Document:
    """A document its caller may see; anyone else's answers as missing. With `audit`, the
    read (it carries the document's text) or the refusal is recorded; a read that cannot be
    audited fails."""
    with session_scope() as session:
        document = session.get(Document, document_id)
        if document is None:
            raise DocumentNotFound(document_id)
        visible = principal.may_see(document.owner)
        if audit is not None:
            outcome = AuditOutcome.OK if visible else AuditOutcome.REFUSED
            audit.record(
                session, AuditAction.READ_DOCUMENT, ResourceType.DOCUMENT, document_id, outcome
            )
    if not visible:
        raise DocumentNotFound(document_id)
    return document

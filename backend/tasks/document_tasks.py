"""Document analysis on the `documents` queue."""

from __future__ import annotations

from typing import Any

from backend.celery_config import PermanentTaskError
from backend.db.models import Document
from backend.db.session import session_scope
from backend.domain.documents import analyse_text
from backend.tasks.base import TrackedTask, tracked_task


@tracked_task("documents.analyse_document")
def analyse_document(self: TrackedTask, document_id: str) -> dict[str, Any]:
    with session_scope() as session:
        document = session.get(Document, document_id)
        if document is None:
            raise PermanentTaskError(f"document {document_id} does not exist")
        if document.text is None:
            raise PermanentTaskError(f"document {document_id} has no extracted text")
        analysis: dict[str, Any] = dict(analyse_text(document.text).to_dict())
        document.analysis = analysis
        document.status = "analysed"
        return {
            "document_id": document.id,
            "doc_type": analysis.get("doc_type"),
            "entities": len(analysis.get("entities", [])),
        }

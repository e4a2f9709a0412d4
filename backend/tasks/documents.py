"""Document analysis on the `documents` queue: parse the stored file in a limited child
process, analyse its text, store both, then enqueue the `document_analysed` e-mail."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from celery import current_app
from celery.signals import worker_process_init, worker_process_shutdown, worker_shutdown
from sqlalchemy.orm import Session

from backend.adapters import file_store, parser_pool
from backend.adapters.parser_process import ParsedDocument, parse_isolated
from backend.core.db.models import Case, Document
from backend.core.db.session import session_scope
from backend.core.enums import CaseStatus, NotificationKind, Priority
from backend.core.errors import DocumentParseFailed, PermanentTaskError
from backend.domain.parsing import DocumentKind, ExtractedText, OcrOutcome, build_analysis
from backend.domain.triage import urgency_to_priority
from backend.worker import TrackedTask, task_service, tracked_task
from backend.worker.ownership import may_touch

QUEUE = "documents"


@worker_process_init.connect
def _start_parser(**_: Any) -> None:
    """A pool child that serves this queue starts its parser zygote now (in its main thread,
    without waiting for it), so that its first document does not wait for Python and the
    sandbox to start."""
    selected = current_app.amqp.queues.consume_from
    if selected is None or QUEUE in selected:
        parser_pool.warm()


@worker_process_shutdown.connect
@worker_shutdown.connect
def _stop_parser(**_: Any) -> None:
    parser_pool.stop()


@tracked_task("documents.analyse_document")
def analyse_document(self: TrackedTask, document_id: str) -> dict[str, Any]:
    with session_scope() as session:
        document = session.get(Document, document_id)
        # The same answer for a missing document and someone else's: ids are not an oracle.
        if document is None or not may_touch(self, document.owner):
            raise PermanentTaskError(f"document {document_id} is not available")
        # Redelivered after success was stored: the analysis already happened.
        done = document.status == "analysed" and document.analysis is not None
        has_file, stored_text = document.storage_path is not None, document.text
        owner = document.owner
    if not done:
        # Outside a session: parsing may take seconds.
        self.report_progress(1, 3, "extraindo texto")
        parsed = _parse(document_id, owner, has_file=has_file, stored_text=stored_text)
        self.report_progress(2, 3, "analisando")
        analysis = build_analysis(parsed.extracted, parsed.ocr)
        with session_scope() as session:
            document = _load(session, document_id)
            document.text = parsed.extracted.text
            document.analysis = analysis
            document.status = "analysed"
            document.error = None
            document.analysed_at = datetime.now(UTC)
    with session_scope() as session:
        document = _load(session, document_id)
        summary = _summary(document)
        owner = document.owner
        case = session.get(Case, document.case_id) if document.case_id else None
        priority = _follow_up_priority(case)
    # After the commit, so the e-mail task always finds the analysis. The idempotency key makes
    # a redelivery enqueue nothing new; SentNotification makes sending exactly-once.
    summary["notification_task_id"] = task_service().enqueue(
        "notifications.send_email",
        [NotificationKind.DOCUMENT_ANALYSED, document_id],
        priority=priority,
        owner=owner,
        correlation_id=document_id,
        idempotency_key=f"notify:document_analysed:{document_id}",
    )
    return summary


def _parse(
    document_id: str, owner: str, *, has_file: bool, stored_text: str | None
) -> ParsedDocument:
    if not has_file:
        if stored_text is None:
            raise PermanentTaskError(f"document {document_id} has no stored file")
        # A document created with its text, or whose file retention removed: nothing to extract.
        return ParsedDocument(ExtractedText(DocumentKind.TXT, stored_text, None), OcrOutcome())
    path = file_store.path_for(document_id)
    if not path.exists():
        raise PermanentTaskError(f"document {document_id}: its stored file is missing")
    try:
        # Opened here with the owner's data key; the plain bytes go to the sandbox on stdin.
        return parse_isolated(file_store.load(document_id, owner=owner))
    except DocumentParseFailed as exc:
        with session_scope() as session:
            document = _load(session, document_id)
            document.status = "failed"
            document.error = str(exc)[:500]
        raise PermanentTaskError(f"document {document_id} could not be parsed: {exc}") from exc


def _load(session: Session, document_id: str) -> Document:
    document = session.get(Document, document_id)
    if document is None:
        raise PermanentTaskError(f"document {document_id} was deleted during analysis")
    return document


def _follow_up_priority(case: Case | None) -> str:
    """The case's urgency once it is triaged, NORMAL before that."""
    if case is None or case.status != CaseStatus.TRIAGED or not case.urgency:
        return Priority.NORMAL.value
    try:
        return urgency_to_priority(case.urgency)
    except ValueError:
        return Priority.NORMAL.value


def _summary(document: Document) -> dict[str, Any]:
    analysis = document.analysis or {}
    return {
        "document_id": document.id,
        "doc_type": analysis.get("doc_type"),
        "entities": len(analysis.get("entities", [])),
        "page_count": analysis.get("page_count"),
        "ocr_needed": bool(analysis.get("ocr_needed")),
    }

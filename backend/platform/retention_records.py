"""Retention of the SQL records that hold or point at personal data, each kind by its own age.

- cases: a case, with its documents (rows, extracted text, entities, stored files) and the
  notification-ledger rows about them, is deleted CASE_RETENTION_DAYS after its last activity:
  the newest of the case's `updated_at` and its documents' `created_at` and `analysed_at`.
  A document attached to no case goes by its own last activity, at the same age;
- batches: finished ones BATCH_RETENTION_DAYS after they finished (one that never finished,
  after it was created);
- dead letters: DEAD_LETTER_RETENTION_DAYS after they were written, replayed or not;
- the notification ledger: NOTIFICATION_RETENTION_DAYS after the e-mail was sent (long after
  any redelivery could send it again).

Rows go in batches of `_BATCH`, one transaction each, so a run cut short keeps what it did and
the next run finishes. Deleting, not anonymising: nothing reads a case that old for figures
(reports cover days), and a deleted row cannot leak. The owner's data key stays (it may be
sealing newer rows); a person's whole erasure is `privacy.erase_subject`.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import and_, delete, exists, or_, select

from backend.adapters import file_store
from backend.core.db.models import Batch, Case, DeadLetter, Document, SentNotification
from backend.core.db.session import session_scope
from backend.core.enums import BatchStatus

__all__ = ["purge_batches", "purge_cases", "purge_dead_letters", "purge_notifications"]

_BATCH = 500
_LEDGER_TERMS = 200


def _rowcount(result: Any) -> int:
    return int(getattr(result, "rowcount", 0) or 0)


def _active_since(cutoff: datetime) -> Any:
    """A document active at or after `cutoff` (written, or analysed)."""
    return or_(Document.created_at >= cutoff, Document.analysed_at >= cutoff)


def _delete_documents(session: Any, document_ids: list[str]) -> tuple[int, int]:
    """Delete the documents' files and rows; (rows, files) removed."""
    files = 0
    for document_id in document_ids:
        path = file_store.path_for(document_id)
        if path.exists():
            path.unlink(missing_ok=True)
            files += 1
    rows = _rowcount(session.execute(delete(Document).where(Document.id.in_(document_ids))))
    return rows, files


def _delete_ledger_about(session: Any, ids: list[str]) -> int:
    """Delete the ledger rows keyed `<kind>:<id>` for these ids (a few hundred terms per
    statement: SQLite bounds an expression's depth)."""
    removed = 0
    for start in range(0, len(ids), _LEDGER_TERMS):
        about = or_(
            *(SentNotification.key.endswith(f":{i}") for i in ids[start : start + _LEDGER_TERMS])
        )
        removed += _rowcount(session.execute(delete(SentNotification).where(about)))
    return removed


def purge_cases(*, older_than: datetime) -> dict[str, int]:
    """Delete cases (with their documents, files and ledger rows) and case-less documents whose
    last activity is before `older_than`."""
    counts = {"cases_removed": 0, "documents_removed": 0, "document_files_removed": 0,
              "notifications_removed": 0}  # fmt: skip
    idle_case = and_(
        Case.updated_at < older_than,
        ~exists().where(Document.case_id == Case.id, _active_since(older_than)),
    )
    while True:
        with session_scope() as session:
            case_ids = list(session.scalars(select(Case.id).where(idle_case).limit(_BATCH)))
            if not case_ids:
                break
            document_ids = list(
                session.scalars(select(Document.id).where(Document.case_id.in_(case_ids)))
            )
            rows, files = _delete_documents(session, document_ids)
            counts["documents_removed"] += rows
            counts["document_files_removed"] += files
            counts["notifications_removed"] += _delete_ledger_about(
                session, case_ids + document_ids
            )
            counts["cases_removed"] += _rowcount(
                session.execute(delete(Case).where(Case.id.in_(case_ids)))
            )
    idle_document = and_(
        Document.case_id.is_(None),
        Document.created_at < older_than,
        or_(Document.analysed_at.is_(None), Document.analysed_at < older_than),
    )
    while True:
        with session_scope() as session:
            document_ids = list(
                session.scalars(select(Document.id).where(idle_document).limit(_BATCH))
            )
            if not document_ids:
                break
            rows, files = _delete_documents(session, document_ids)
            counts["documents_removed"] += rows
            counts["document_files_removed"] += files
    return counts


def _delete_in_batches(model: Any, key: Any, condition: Any) -> int:
    removed = 0
    while True:
        with session_scope() as session:
            ids = list(session.scalars(select(key).where(condition).limit(_BATCH)))
            if ids:
                removed += _rowcount(session.execute(delete(model).where(key.in_(ids))))
        if len(ids) < _BATCH:
            return removed


def purge_batches(*, older_than: datetime) -> dict[str, int]:
    """Delete batches finished before `older_than`, or never finished and created before it.
    Their cases stay (they go by their own age)."""
    expired = or_(
        and_(Batch.status == BatchStatus.COMPLETED, Batch.completed_at < older_than),
        and_(Batch.completed_at.is_(None), Batch.created_at < older_than),
    )
    return {"batches_removed": _delete_in_batches(Batch, Batch.id, expired)}


def purge_dead_letters(*, older_than: datetime) -> dict[str, int]:
    """Delete dead letters written before `older_than` (pending, replayed or discarded)."""
    removed = _delete_in_batches(DeadLetter, DeadLetter.task_id, DeadLetter.created_at < older_than)
    return {"dead_letters_removed": removed}


def purge_notifications(*, older_than: datetime) -> dict[str, int]:
    """Delete notification-ledger rows of e-mails sent before `older_than`."""
    removed = _delete_in_batches(
        SentNotification, SentNotification.key, SentNotification.sent_at < older_than
    )
    return {"notifications_removed": removed}

"""Data-subject rights under the LGPD: a copy of everything held about a person, and erasure.

`export_subject` gathers the person's cases, triage results, documents (text and files),
batches, reports, notification recipients, tasks, e-mails sent about their cases, dead
letters and the audit rows
about them, as one zip (`data.json` plus `files/`).

`erase_subject` erases it everywhere, in steps that are each idempotent, so a run killed
half-way is finished by the next (the task is redelivered): queued and running tasks are
revoked and their records, results and idempotency keys forgotten; files go; the SQL rows
(cases, documents, batches, reports, recipients, outbox, dead letters, the notification ledger)
go in one
transaction; then the data key is destroyed, which makes any copy left in a backup unreadable.
The audit trail keeps a row, with a pseudonym and counts only.
"""

from __future__ import annotations

import io
import json
import time
import zipfile
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import redis
from sqlalchemy import delete, or_, select

from backend.adapters import file_store
from backend.core.crypto import keyring
from backend.core.db.models import (
    Batch,
    Case,
    DeadLetter,
    Document,
    OutboxEntry,
    Recipient,
    Report,
    SentNotification,
)
from backend.core.db.session import session_scope
from backend.core.enums import ErasureStep, PrivacyAction, TaskState
from backend.core.errors import Conflict, DataKeyDestroyed, TaskNotFound
from backend.core.keys import keys
from backend.core.settings import settings
from backend.platform import audit, privacy_audit
from backend.platform.enqueue import CeleryTaskService
from backend.platform.status import TaskFilter

ERASE_TASK = "privacy.erase_subject"
_PAGE = 500


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment else None


def _ids(subject: str) -> dict[str, list[str]]:
    with session_scope() as session:
        return {
            "cases": list(session.scalars(select(Case.id).where(Case.owner == subject))),
            "documents": list(
                session.scalars(select(Document.id).where(Document.owner == subject))
            ),
            "batches": list(session.scalars(select(Batch.id).where(Batch.owner == subject))),
            "reports": list(session.scalars(select(Report.id).where(Report.owner == subject))),
        }


def _ledger_filter(ids: list[str]) -> Any:
    return or_(*(SentNotification.key.endswith(f":{item}") for item in ids))


def task_ids(client: redis.Redis, subject: str) -> list[str]:
    return [str(i) for i in client.zrange(TaskFilter(owner=subject).index_keys(keys)[0], 0, -1)]


# --- export ------------------------------------------------------------------------------------


def export_subject(
    subject: str,
    service: CeleryTaskService,
    *,
    actor: str,
    context: audit.AuditContext | None = None,
) -> bytes:
    """Everything held about `subject`, as a zip of `data.json` and their files."""
    buffer = io.BytesIO()
    files: dict[str, bytes] = {}
    try:
        data = _gather(subject, service, files)
    except DataKeyDestroyed:
        data = {"subject": subject, "note": "erased: nothing is held"}
    data["generated_at"] = datetime.now(UTC).isoformat()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("data.json", json.dumps(data, ensure_ascii=False, indent=2, default=str))
        for name, content in files.items():
            archive.writestr(name, content)
    privacy_audit.record(
        PrivacyAction.EXPORT, actor=actor, subject=subject,
        detail={k: len(v) for k, v in data.items() if isinstance(v, list)}, context=context,
    )  # fmt: skip
    return buffer.getvalue()


def _gather(subject: str, service: CeleryTaskService, files: dict[str, bytes]) -> dict[str, Any]:
    ids = _ids(subject)
    with session_scope() as session:
        cases = [
            {"id": c.id, "title": c.title, "description": c.description,
             "client_email": c.client_email, "status": c.status, "area": c.area,
             "urgency": c.urgency, "triage": c.triage, "batch_id": c.batch_id,
             "created_at": _iso(c.created_at), "updated_at": _iso(c.updated_at)}
            for c in session.scalars(select(Case).where(Case.owner == subject))
        ]  # fmt: skip
        documents = []
        for d in session.scalars(select(Document).where(Document.owner == subject)):
            entry = {
                "id": d.id, "case_id": d.case_id, "filename": d.filename,
                "content_type": d.content_type, "size_bytes": d.size_bytes, "sha256": d.sha256,
                "status": d.status, "error": d.error, "analysis": d.analysis, "text": d.text,
                "created_at": _iso(d.created_at), "analysed_at": _iso(d.analysed_at), "file": None,
            }  # fmt: skip
            if d.storage_path and file_store.path_for(d.id).exists():
                name = f"files/{d.id}-{file_store.display_name(d.filename)}"
                files[name] = file_store.load(d.id, owner=subject)
                entry["file"] = name
            documents.append(entry)
        batches = [
            {"id": b.id, "total": b.total, "done": b.done, "failed": b.failed,
             "status": b.status, "notify_email": b.notify_email, "callback_url": b.callback_url,
             "created_at": _iso(b.created_at), "completed_at": _iso(b.completed_at)}
            for b in session.scalars(select(Batch).where(Batch.owner == subject))
        ]  # fmt: skip
        reports = [
            {"id": r.id, "period_hours": r.period_hours, "format": r.format,
             "status": r.status, "created_at": _iso(r.created_at)}
            for r in session.scalars(select(Report).where(Report.owner == subject))
        ]  # fmt: skip
        addresses = [
            {"id": r.id, "address": r.address, "state": r.state,
             "created_at": _iso(r.created_at), "confirmed_at": _iso(r.confirmed_at)}
            for r in session.scalars(select(Recipient).where(Recipient.owner == subject))
        ]  # fmt: skip
        related = ids["cases"] + ids["documents"] + ids["batches"] + ids["reports"]
        emails = []
        for start in range(0, len(related), _PAGE):
            chunk = related[start : start + _PAGE]
            emails += [
                {"key": n.key, "kind": n.kind, "sent_at": _iso(n.sent_at)}
                for n in session.scalars(select(SentNotification).where(_ledger_filter(chunk)))
            ]
        dead = [
            {"task_id": e.task_id, "name": e.name, "args": e.args, "kwargs": e.kwargs,
             "error": e.error_message, "reason": e.reason, "created_at": _iso(e.created_at)}
            for e in session.scalars(select(DeadLetter).where(DeadLetter.owner == subject))
        ]  # fmt: skip
    tasks = [r for r in (service.status.get(t) for t in task_ids(service.redis, subject)) if r]
    return {
        "subject": subject,
        "cases": cases,
        "documents": documents,
        "batches": batches,
        "reports": reports,
        "recipients": addresses,
        "tasks": tasks,
        "emails_sent": emails,
        "dead_letters": dead,
        "audit": privacy_audit.events_about(subject),
    }


# --- erasure -----------------------------------------------------------------------------------


def erase_subject(
    subject: str,
    service: CeleryTaskService,
    *,
    actor: str,
    own_task_id: str | None = None,
    progress: Callable[[int, int, str], None] = lambda _c, _t, _m: None,
) -> dict[str, int]:
    """Erase everything held about `subject`; safe to run again after a crash (it resumes)."""
    steps = list(ErasureStep)
    counts: dict[str, int] = {}
    for number, step in enumerate(steps):
        progress(number, len(steps), step.value)
        counts.update(_STEPS[step](subject, service, own_task_id))
        _test_pause(step, service, own_task_id)
    privacy_audit.record(
        PrivacyAction.ERASURE_COMPLETED, actor=actor, subject=subject, detail=counts
    )
    progress(len(steps), len(steps), "erased")
    return counts


def _test_pause(step: ErasureStep, service: CeleryTaskService, own: str | None) -> None:
    """TEST_ERASURE_PAUSE_AFTER (ENVIRONMENT=test only): say so in Redis and stop here, for
    a test to kill the worker between two steps."""
    hook = settings.privacy
    if settings.app.environment != "test" or hook.test_erasure_pause_after != step.name:
        return
    service.redis.set(f"test:erasure-paused:{own}", step.name, ex=600)
    time.sleep(hook.test_erasure_pause_s)


def _revoke_tasks(subject: str, service: CeleryTaskService, own: str | None) -> dict[str, int]:
    revoked = 0
    for task_id in task_ids(service.redis, subject):
        if task_id == own:
            continue
        state = service.status.get_raw(task_id).get("state")
        if state is None or TaskState(state).is_final:
            continue
        try:
            service.cancel(task_id, terminate=True, requested_by="erasure")
            revoked += 1
        except (Conflict, TaskNotFound):
            pass
    return {"tasks_revoked": revoked}


def _delete_files(subject: str, service: CeleryTaskService, own: str | None) -> dict[str, int]:
    removed = 0
    with session_scope() as session:
        documents = list(session.scalars(select(Document.id).where(Document.owner == subject)))
        reports = [p for p in session.scalars(select(Report.path).where(Report.owner == subject))]
    for document_id in documents:
        path = file_store.path_for(document_id)
        if path.exists():
            path.unlink(missing_ok=True)
            removed += 1
    for report_path in reports:
        if report_path and Path(report_path).resolve().is_relative_to(
            settings.files.reports_dir.resolve()
        ):
            if Path(report_path).exists():
                removed += 1
            Path(report_path).unlink(missing_ok=True)
    return {"files_removed": removed}


def _delete_rows(subject: str, service: CeleryTaskService, own: str | None) -> dict[str, int]:
    ids = _ids(subject)
    related = ids["cases"] + ids["documents"] + ids["batches"] + ids["reports"]
    counts: dict[str, int] = {}
    with session_scope() as session:
        ledger = 0
        for start in range(0, len(related), _PAGE):
            result = session.execute(
                delete(SentNotification).where(_ledger_filter(related[start : start + _PAGE]))
            )
            ledger += int(getattr(result, "rowcount", 0) or 0)
        counts["notifications_removed"] = ledger
        for name, model in (
            ("outbox_removed", OutboxEntry), ("dead_letters_removed", DeadLetter),
            ("documents_removed", Document), ("cases_removed", Case),
            ("batches_removed", Batch), ("reports_removed", Report),
            ("recipients_removed", Recipient),
        ):  # fmt: skip
            result = session.execute(delete(model).where(model.owner == subject))
            counts[name] = int(getattr(result, "rowcount", 0) or 0)
    return counts


def _forget_redis(subject: str, service: CeleryTaskService, own: str | None) -> dict[str, int]:
    client = service.redis
    forgotten = 0
    result_prefix = "celery-task-meta-"
    for task_id in task_ids(client, subject):
        if task_id == own:
            continue
        forgotten += client.delete(
            keys.task(task_id), keys.history(task_id), f"{result_prefix}{task_id}"
        )
        client.zrem(keys.index_all, task_id)
        client.zrem(TaskFilter(owner=subject).index_keys(keys)[0], task_id)
    idem = 0
    for key in client.scan_iter(match=keys.idempotency(subject, "*"), count=500):
        idem += client.delete(key)
    return {"redis_keys_removed": forgotten, "idempotency_keys_removed": idem}


def _destroy_key(subject: str, service: CeleryTaskService, own: str | None) -> dict[str, int]:
    return {"data_key_destroyed": int(keyring.destroy(subject))}


_STEPS: dict[ErasureStep, Callable[[str, CeleryTaskService, str | None], dict[str, int]]] = {
    ErasureStep.TASKS: _revoke_tasks,
    ErasureStep.FILES: _delete_files,
    ErasureStep.ROWS: _delete_rows,
    ErasureStep.REDIS: _forget_redis,
    ErasureStep.KEY: _destroy_key,
}

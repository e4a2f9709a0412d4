"""Retention clean-up: what `maintenance.purge_expired` removes, each kind by its own age.

- task records: Redis expires them after TASK_RECORD_TTL_S; here their index entries go too;
- results: Celery result-backend entries left without an expiry, after RESULT_EXPIRES_S;
- reports: rows and files older than REPORT_RETENTION_DAYS;
- uploads: files under UPLOADS_DIR older than UPLOAD_RETENTION_DAYS, and the document rows'
  references to them (`storage_path`);
- cases with their documents and text, batches, dead letters and the notification ledger,
  each after its own setting (backend/platform/retention_records.py).
Each function returns what it removed, so a run's result says it per kind; a run that removed
personal records leaves a row in the privacy audit trail with those counts.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import redis
from sqlalchemy import select, update

from backend.core.db.models import Document, Report
from backend.core.db.session import session_scope
from backend.core.enums import PrivacyAction
from backend.core.settings import settings
from backend.platform import privacy_audit, retention_records
from backend.platform.status import TaskStatusManager

_BATCH = 500


def purge_task_records(status: TaskStatusManager) -> dict[str, int]:
    return status.purge_expired()


def purge_results(
    client: redis.Redis, prefixes: Iterable[str], *, max_age_s: int, now: datetime
) -> dict[str, int]:
    """Delete result-backend entries with no expiry that are older than `max_age_s`.

    Entries written with an expiry age out in Redis by themselves; one without (written while
    RESULT_EXPIRES_S was 0, or persisted by hand) is deleted once its `date_done` is old
    enough, and given an expiry when it has no date at all.
    """
    cutoff = now - timedelta(seconds=max_age_s)
    removed = expiry_set = 0
    for prefix in prefixes:
        for key in client.scan_iter(match=f"{prefix}*", count=_BATCH):
            if client.ttl(key) != -1:
                continue
            done = _date_done(client.get(key))
            if done is None:
                client.expire(key, max_age_s)
                expiry_set += 1
            elif done < cutoff:
                removed += client.delete(key)
    return {"results_removed": removed, "results_expiry_set": expiry_set}


def _date_done(raw: Any) -> datetime | None:
    try:
        value = json.loads(raw).get("date_done")
        moment = datetime.fromisoformat(value) if value else None
    except (TypeError, ValueError, AttributeError):
        return None
    if moment is not None and moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment


def purge_reports(*, older_than: datetime, reports_dir: Path) -> dict[str, int]:
    """Delete report rows created before `older_than` with their files, then any file left in
    `reports_dir` (no row) that was last written before `older_than`."""
    rows = files = 0
    while True:
        with session_scope() as session:
            batch = session.scalars(
                select(Report).where(Report.created_at < older_than).limit(_BATCH)
            ).all()
            for report in batch:
                if report.path and _unlink_under(Path(report.path), reports_dir):
                    files += 1
                session.delete(report)
        rows += len(batch)
        if len(batch) < _BATCH:
            break
    with session_scope() as session:
        kept = {Path(p).name for p in session.scalars(select(Report.path)) if p}
    for path in _old_files(reports_dir, older_than):
        if path.name not in kept and _unlink_under(path, reports_dir):
            files += 1
    return {"report_rows_removed": rows, "report_files_removed": files}


def purge_uploads(*, older_than: datetime, uploads_dir: Path) -> dict[str, int]:
    """Delete uploaded files last written before `older_than` and clear the document rows'
    references to them (the rows, with their extracted text and analysis, stay)."""
    removed: list[Path] = []
    for path in _old_files(uploads_dir, older_than):
        if _unlink_under(path, uploads_dir):
            removed.append(path)
    _remove_emptied_dirs(removed, uploads_dir)
    cleared = _clear(removed, uploads_dir) if removed else 0
    return {"upload_files_removed": len(removed), "document_refs_cleared": cleared}


def _clear(removed: list[Path], root: Path) -> int:
    """Set `documents.storage_path` to NULL where it names a removed file."""
    names = sorted({str(path.resolve().relative_to(root.resolve())) for path in removed})
    cleared = 0
    with session_scope() as session:
        for start in range(0, len(names), _BATCH):
            result = session.execute(
                update(Document)
                .where(Document.storage_path.in_(names[start : start + _BATCH]))
                .values(storage_path=None)
            )
            cleared += int(getattr(result, "rowcount", 0) or 0)
    return cleared


def _old_files(root: Path, older_than: datetime) -> Iterator[Path]:
    if not root.is_dir():
        return
    cutoff = older_than.timestamp()
    for directory, _, files in os.walk(root):
        for name in files:
            path = Path(directory) / name
            try:
                if path.is_file() and not path.is_symlink() and path.stat().st_mtime < cutoff:
                    yield path
            except FileNotFoundError:  # removed meanwhile
                continue


def _unlink_under(path: Path, root: Path) -> bool:
    """Delete `path` only if it lies under `root` (a row's path is never trusted blindly)."""
    try:
        if not path.resolve().is_relative_to(root.resolve()):
            return False
        path.unlink()
        return True
    except FileNotFoundError:
        return False


def _remove_emptied_dirs(removed: list[Path], root: Path) -> None:
    """Remove the directories that held the removed files, once empty, up to `root`. Only
    those: any other empty directory may be one an upload just made for its file."""
    for path in removed:
        parent = path.parent
        while parent != root and parent.is_relative_to(root):
            try:
                parent.rmdir()
            except OSError:  # not empty, or gone
                break
            parent = parent.parent


def run(
    status: TaskStatusManager, client: redis.Redis, result_prefixes: Iterable[str]
) -> dict[str, dict[str, int]]:
    """Every kind of clean-up, each with its age from settings; what was removed, per kind."""
    now = datetime.now(UTC)
    days = settings.privacy
    records = {
        "cases": retention_records.purge_cases(
            older_than=now - timedelta(days=days.case_retention_days)
        ),
        "batches": retention_records.purge_batches(
            older_than=now - timedelta(days=days.batch_retention_days)
        ),
        "dead_letters": retention_records.purge_dead_letters(
            older_than=now - timedelta(days=days.dead_letter_retention_days)
        ),
        "notifications": retention_records.purge_notifications(
            older_than=now - timedelta(days=days.notification_retention_days)
        ),
    }
    if any(any(counts.values()) for counts in records.values()):
        flat = {f"{kind}.{name}": n for kind, c in records.items() for name, n in c.items() if n}
        privacy_audit.record(
            PrivacyAction.RETENTION, actor="maintenance.purge_expired", subject=None, detail=flat
        )
    return {
        **records,
        "task_records": purge_task_records(status),
        "results": purge_results(
            client, result_prefixes, max_age_s=settings.tasks.result_expires_s, now=now
        ),
        "reports": purge_reports(
            older_than=now - timedelta(days=settings.files.report_retention_days),
            reports_dir=settings.files.reports_dir,
        ),
        "uploads": purge_uploads(
            older_than=now - timedelta(days=settings.files.upload_retention_days),
            uploads_dir=settings.files.uploads_dir,
        ),
    }

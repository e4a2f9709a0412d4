"""maintenance.purge_expired on a real worker: each kind of data goes at its own age, the rest
stays, and the result says what was removed per kind."""

from __future__ import annotations

import json
import os
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from backend.core.db.models import Document, Report
from backend.core.db.session import session_scope
from backend.core.settings import settings
from backend.platform.celery_app import celery_app
from backend.platform.enqueue import CeleryTaskService
from tests.support.waiting import wait_for_state

OLD = datetime.now(UTC) - timedelta(days=400)  # beyond every retention default


@pytest.fixture()
def service(redis_client: Any) -> CeleryTaskService:
    return CeleryTaskService(redis_client)


def _file(path: Path, *, old: bool) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("conteúdo")
    if old:
        os.utime(path, (OLD.timestamp(), OLD.timestamp()))
    return path


def _report(*, old: bool) -> tuple[str, Path]:
    report_id = str(uuid.uuid4())
    path = _file(settings.files.reports_dir / f"{report_id}.csv", old=old)
    with session_scope() as session:
        session.add(
            Report(
                id=report_id, owner="olga", status="ready", path=str(path),
                created_at=OLD if old else datetime.now(UTC),
            )
        )  # fmt: skip
    return report_id, path


def _purge(service: CeleryTaskService) -> dict[str, Any]:
    task_id = service.enqueue("maintenance.purge_expired")
    record = wait_for_state(service.status.get, task_id, {"SUCCESS", "FAILURE"}, timeout=60)
    assert record["state"] == "SUCCESS", record
    return record["result"]  # type: ignore[no-any-return]


def test_each_kind_goes_at_its_own_age(
    service: CeleryTaskService, worker: Any, redis_client: Any
) -> None:
    # task records: index entries whose record expired
    ghost = str(uuid.uuid4())
    redis_client.zadd(service.keys.index_all, {ghost: 1})
    redis_client.zadd(service.keys.index("owner", "ghost"), {ghost: 1})
    # results: Celery result-backend entries left without an expiry
    meta = celery_app.backend.task_keyprefix
    stale, fresh, undated = (f"{meta}{uuid.uuid4()}" for _ in range(3))
    old_done = (
        datetime.now(UTC) - timedelta(seconds=settings.tasks.result_expires_s + 60)
    ).isoformat()
    redis_client.set(stale, json.dumps({"status": "SUCCESS", "date_done": old_done}))
    now_done = datetime.now(UTC).isoformat()
    redis_client.set(fresh, json.dumps({"status": "SUCCESS", "date_done": now_done}))
    redis_client.set(undated, json.dumps({"status": "PENDING"}))
    # reports: an old row with its file, a recent one, old and recent files without a row
    old_id, old_path = _report(old=True)
    new_id, new_path = _report(old=False)
    orphan_old = _file(settings.files.reports_dir / "sobra-antiga.csv", old=True)
    orphan_new = _file(settings.files.reports_dir / "sobra-recente.csv", old=False)
    # uploads: an old file in a sub-directory, a recent one
    upload_old = _file(settings.files.uploads_dir / uuid.uuid4().hex / "peticao.pdf", old=True)
    upload_new = _file(settings.files.uploads_dir / f"{uuid.uuid4().hex}.pdf", old=False)
    just_made = settings.files.uploads_dir / uuid.uuid4().hex  # an upload about to write its file
    just_made.mkdir()

    result = _purge(service)

    assert result["task_records"]["index_entries_removed"] >= 2
    assert redis_client.zscore(service.keys.index_all, ghost) is None
    assert result["results"]["results_removed"] == 1
    assert result["results"]["results_expiry_set"] == 1
    assert not redis_client.exists(stale) and redis_client.exists(fresh)
    assert 0 < redis_client.ttl(undated) <= settings.tasks.result_expires_s
    assert result["reports"] == {"report_rows_removed": 1, "report_files_removed": 2}
    assert not old_path.exists() and not orphan_old.exists()
    assert new_path.exists() and orphan_new.exists()
    with session_scope() as session:
        assert session.get(Report, old_id) is None
        assert session.get(Report, new_id) is not None
    assert result["uploads"]["upload_files_removed"] == 1
    assert not upload_old.exists() and not upload_old.parent.exists()
    assert upload_new.exists() and just_made.is_dir()

    # A second run finds nothing more to remove.
    again = _purge(service)
    assert again["results"]["results_removed"] == 0
    assert again["reports"] == {"report_rows_removed": 0, "report_files_removed": 0}
    assert again["uploads"]["upload_files_removed"] == 0


def test_expired_upload_is_cleared_from_its_document_row(
    service: CeleryTaskService, worker: Any
) -> None:
    with session_scope() as session:
        old_doc = Document(owner="alice", filename="peticao.pdf")
        new_doc = Document(owner="alice", filename="contrato.pdf")
        session.add_all([old_doc, new_doc])
        session.flush()
        for document, old in ((old_doc, True), (new_doc, False)):
            document.storage_path = _file(settings.files.uploads_dir / document.id, old=old).name
        ids = old_doc.id, new_doc.id
    result = _purge(service)
    assert result["uploads"] == {"upload_files_removed": 1, "document_refs_cleared": 1}
    with session_scope() as session:
        old_row, new_row = (session.get(Document, i) for i in ids)
        assert old_row is not None and old_row.storage_path is None
        assert new_row is not None and new_row.storage_path == ids[1]
    assert not (settings.files.uploads_dir / ids[0]).exists()
    assert (settings.files.uploads_dir / ids[1]).exists()

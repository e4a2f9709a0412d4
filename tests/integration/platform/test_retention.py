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


# --- personal records: cases with their documents, batches, dead letters, the ledger ---------


def _ago(days: int) -> datetime:
    return datetime.now(UTC) - timedelta(days=days)


def _aged(model: Any, key: str, **moments: datetime) -> None:
    """Set a row's timestamps as if it were written then (an UPDATE naming the columns, so
    `onupdate` leaves them alone)."""
    from sqlalchemy import update

    with session_scope() as session:
        pk = next(iter(model.__table__.primary_key.columns))
        session.execute(update(model).where(pk == key).values(**moments))


def _case_with_document(owner: str, *, file: bool) -> tuple[str, str]:
    from backend.adapters import file_store
    from backend.core.db.models import Case

    with session_scope() as session:
        case = Case(owner=owner, title="Caso antigo", description="Meu CPF é 111.444.777-35")
        session.add(case)
        session.flush()
        document = Document(owner=owner, case_id=case.id, filename="rg.pdf", text="RG 12.345")
        session.add(document)
        session.flush()
        ids = case.id, document.id
    if file:
        file_store.save(ids[1], b"conteudo pessoal", owner=owner)
        with session_scope() as session:
            row = session.get(Document, ids[1])
            assert row is not None
            row.storage_path = ids[1]
    return ids


def test_personal_records_go_at_their_own_age_and_the_run_counts_them(
    service: CeleryTaskService, worker: Any
) -> None:
    from sqlalchemy import select

    from backend.adapters import file_store
    from backend.core.db.models import Batch, Case, DeadLetter, PrivacyEvent, SentNotification
    from backend.core.enums import BatchStatus

    privacy = settings.privacy
    beyond_case = privacy.case_retention_days + 30
    # Cases: one idle past CASE_RETENTION_DAYS (its document too) goes with its document, the
    # file and its e-mail ledger row; one as old whose document was analysed recently stays,
    # as does a recent one.
    expired_case, expired_doc = _case_with_document("renata", file=True)
    _aged(Case, expired_case, created_at=_ago(beyond_case), updated_at=_ago(beyond_case))
    _aged(Document, expired_doc, created_at=_ago(beyond_case), analysed_at=_ago(beyond_case))
    lively_case, lively_doc = _case_with_document("renata", file=False)
    _aged(Case, lively_case, created_at=_ago(beyond_case), updated_at=_ago(beyond_case))
    _aged(Document, lively_doc, created_at=_ago(beyond_case), analysed_at=_ago(3))
    recent_case, _ = _case_with_document("renata", file=False)
    # A document on no case goes by its own last activity.
    with session_scope() as session:
        loose_old = Document(owner="renata", filename="solto.pdf", text="texto antigo")
        loose_new = Document(owner="renata", filename="novo.pdf", text="texto novo")
        session.add_all([loose_old, loose_new])
        session.flush()
        loose = loose_old.id, loose_new.id
    _aged(Document, loose[0], created_at=_ago(beyond_case))
    # Batches: finished long ago, never finished and created long ago, finished recently.
    beyond_batch = privacy.batch_retention_days + 1
    with session_scope() as session:
        batches = [
            Batch(owner="renata", total=1, done=1, status=BatchStatus.COMPLETED,
                  notify_email="renata@example.org"),
            Batch(owner="renata", total=2, status=BatchStatus.RUNNING),
            Batch(owner="renata", total=1, done=1, status=BatchStatus.COMPLETED),
        ]  # fmt: skip
        session.add_all(batches)
        session.flush()
        batch_ids = [b.id for b in batches]
    _aged(Batch, batch_ids[0], created_at=_ago(beyond_batch + 1), completed_at=_ago(beyond_batch))
    _aged(Batch, batch_ids[1], created_at=_ago(beyond_batch))
    _aged(Batch, batch_ids[2], created_at=_ago(beyond_batch), completed_at=_ago(1))
    # Dead letters and ledger rows: one past their retention, one recent, each.
    dead = [uuid.uuid4().hex for _ in range(2)]
    ledger = [f"triage_completed:{uuid.uuid4()}" for _ in range(2)]
    with session_scope() as session:
        for task_id in dead:
            letter = DeadLetter(task_id=task_id, name="triage.classify_case", queue="triage",
                                owner="renata", error_type="E", reason="failed")  # fmt: skip
            letter.args, letter.kwargs, letter.history = ["x"], {}, []
            letter.error_message = "falhou"
            session.add(letter)
        session.add_all(SentNotification(key=k, kind="triage_completed") for k in ledger)
        session.add(
            SentNotification(key=f"triage_completed:{expired_case}", kind="triage_completed")
        )
    _aged(DeadLetter, dead[0], created_at=_ago(privacy.dead_letter_retention_days + 1))
    _aged(SentNotification, ledger[0], sent_at=_ago(privacy.notification_retention_days + 1))

    result = _purge(service)

    assert result["cases"] == {"cases_removed": 1, "documents_removed": 2,
                               "document_files_removed": 1, "notifications_removed": 1}  # fmt: skip
    assert result["batches"] == {"batches_removed": 2}
    assert result["dead_letters"] == {"dead_letters_removed": 1}
    assert result["notifications"] == {"notifications_removed": 1}
    assert not file_store.path_for(expired_doc).exists()
    with session_scope() as session:
        assert session.get(Case, expired_case) is None
        assert session.get(Document, expired_doc) is None
        assert session.get(Document, loose[0]) is None
        for kept in (lively_case, recent_case):
            assert session.get(Case, kept) is not None
        kept_doc = session.get(Document, lively_doc)
        assert kept_doc is not None and kept_doc.text == "RG 12.345"
        assert session.get(Document, loose[1]) is not None
        assert [session.get(Batch, b) is not None for b in batch_ids] == [False, False, True]
        assert session.get(DeadLetter, dead[0]) is None
        assert session.get(DeadLetter, dead[1]) is not None
        assert session.get(SentNotification, ledger[0]) is None
        assert session.get(SentNotification, ledger[1]) is not None
        audit = session.scalars(
            select(PrivacyEvent)
            .where(PrivacyEvent.action == "retention")
            .order_by(PrivacyEvent.at.desc())
        ).first()
    assert audit is not None and audit.subject_ref is None
    assert audit.detail["cases.cases_removed"] == 1 and audit.detail["batches.batches_removed"] == 2

    # Nothing is left to remove: the next run counts zeros.
    again = _purge(service)
    assert again["cases"]["cases_removed"] == 0 and again["batches"]["batches_removed"] == 0
    assert again["dead_letters"]["dead_letters_removed"] == 0
    assert again["notifications"]["notifications_removed"] == 0

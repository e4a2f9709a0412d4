"""Personal data at rest and the data subject's rights, on the real API, worker, Redis and
SQLite: planted values never appear in clear on disk or in Redis' append-only file, a person
gets all of it back in their export, and after erasure every read answers 404 and a byte
search finds nothing (the search itself is shown to work on a value stored in clear)."""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path
from typing import Any

from sqlalchemy import select

from backend.core.db.models import Case, DataKey, Document, PrivacyEvent
from backend.core.db.session import session_scope
from backend.core.settings import settings
from backend.platform import privacy_audit
from backend.platform.audit import verify
from backend.platform.enqueue import CeleryTaskService
from backend.services import privacy
from tests.support import environment
from tests.support.http import auth
from tests.support.planted import CPF, EMAIL, needles, plant, search
from tests.support.waiting import wait_for_state

SUBJECT = "carla"


def _disk(redis_server: Any) -> list[Path]:
    # Everything the run writes: the SQLite file and its WAL, uploads, reports, Redis' data
    # (the append-only file). The SMTP sink is in memory here, outside this folder.
    return [environment.tmp_dir()]


def test_planted_values_are_sealed_exported_and_erased(
    app_client: Any, tokens: dict[str, str], worker: Any, redis_server: Any, redis_client: Any
) -> None:
    from backend.core.security.tokens import issue_token

    token = issue_token(SUBJECT, "client")
    service = CeleryTaskService(redis_client)
    ids = plant(app_client, token, service)
    wanted = needles()
    redis_client.ping()  # the AOF is written before Redis answers the next command

    # The values are held (the API gives them back) ...
    shown = app_client.get(f"/api/documents/{ids['document_id']}", headers=auth(token)).json()
    assert CPF in shown["text"] and shown["filename"] == f"{EMAIL}.txt"
    # ... but not in clear anywhere on disk, nor in Redis' append-only file.
    before = search(_disk(redis_server), wanted)
    print("planted-value search before erasure:", before or "none found")
    assert before == {}
    # The search does read those files: a value stored in clear (the case id) is found.
    assert search(_disk(redis_server), {"case_id": ids["case_id"].encode()})

    # Export: everything about the person, and nothing about anyone else.
    export = app_client.get("/api/me/data", headers=auth(token))
    assert export.status_code == 200 and export.headers["content-type"] == "application/zip"
    archive = zipfile.ZipFile(io.BytesIO(export.content))
    data = json.loads(archive.read("data.json"))
    assert [c["id"] for c in data["cases"]] == [ids["case_id"]]
    assert data["cases"][0]["client_email"] == EMAIL and CPF in data["cases"][0]["description"]
    assert data["cases"][0]["triage"]["area"]
    [doc] = data["documents"]
    assert CPF in doc["text"] and CPF.encode() in archive.read(doc["file"])
    assert {t["task_id"] for t in data["tasks"]} >= {ids["triage_task"]}
    assert any(e["action"] == "export" for e in data["audit"]) is False  # written after
    admin_copy = app_client.get(f"/api/privacy/subjects/{SUBJECT}/export",
                                headers=auth(tokens["admin"]))  # fmt: skip
    assert admin_copy.status_code == 200
    assert app_client.get(f"/api/privacy/subjects/{SUBJECT}/export",
                          headers=auth(tokens["operator"])).status_code == 403  # fmt: skip
    assert app_client.get("/api/me/data", headers=auth(tokens["bob"])).status_code == 200

    # Erasure: a task with progress; afterwards every read answers 404.
    erased = app_client.delete("/api/me", headers=auth(token))
    assert erased.status_code == 202, erased.text
    record = wait_for_state(
        service.status.get, erased.json()["task_id"], {"SUCCESS", "FAILURE"}, 60
    )
    assert record["state"] == "SUCCESS", record
    result = record["result"]
    assert result["cases_removed"] == 1 and result["documents_removed"] == 1
    assert result["files_removed"] == 1 and result["data_key_destroyed"] == 1
    for url in (f"/api/triage/{ids['case_id']}", f"/api/documents/{ids['document_id']}",
                f"/api/tasks/{ids['triage_task']}"):  # fmt: skip
        assert app_client.get(url, headers=auth(token)).status_code == 404, url
    with session_scope() as session:
        assert session.get(DataKey, SUBJECT) is None
        assert session.get(Case, ids["case_id"]) is None
        assert session.get(Document, ids["document_id"]) is None
        audit = session.scalars(
            select(PrivacyEvent).where(
                PrivacyEvent.subject_ref == privacy_audit.subject_ref(SUBJECT)
            )
        ).all()
    # The audit trail stays, under a pseudonym and with counts only.
    assert {e.action for e in audit} >= {"export", "erasure_requested", "erasure_completed"}
    assert all(SUBJECT not in json.dumps(e.detail) for e in audit)
    # ... and in the tamper-evident trail admins read, by pseudonym, with who did what.
    trail = app_client.get(
        "/api/audit", params={"resource": f"subject:{privacy_audit.subject_ref(SUBJECT)}"},
        headers=auth(tokens["admin"]),
    ).json()["items"]  # fmt: skip
    seen = {(row["action"], row["actor"], row["role"]) for row in trail}
    assert {
        ("privacy.export", SUBJECT, "client"),
        ("privacy.export", "adam", "admin"),
        ("privacy.erase", SUBJECT, "client"),
        ("privacy.erased", SUBJECT, "system"),
    } <= seen
    assert SUBJECT not in {row["resource_id"] for row in trail}
    assert verify().ok
    redis_client.ping()
    after = search(_disk(redis_server), wanted)
    print("planted-value search after erasure:", after or "none found")
    assert after == {}
    assert not search([settings.files.uploads_dir], {"document": ids["document_id"].encode()})


def test_an_erasure_cut_short_is_finished_by_the_next_run(
    app_client: Any, worker: Any, redis_client: Any
) -> None:
    """A run that stopped after deleting the files (a crash) leaves rows without files; the
    redelivered task finishes the job and is idempotent."""
    from backend.core.security.tokens import issue_token

    subject = "dora"
    service = CeleryTaskService(redis_client)
    ids = plant(app_client, issue_token(subject, "client"), service)
    steps = privacy._STEPS
    for step in list(steps)[:2]:  # revoke tasks, delete files ... then the process dies
        steps[step](subject, service, None)
    assert not settings.files.uploads_dir.joinpath(ids["document_id"]).exists()
    with session_scope() as session:
        assert session.get(Document, ids["document_id"]) is not None
    counts = privacy.erase_subject(subject, service, actor="test")
    assert counts["documents_removed"] == 1 and counts["data_key_destroyed"] == 1
    again = privacy.erase_subject(subject, service, actor="test")
    assert again["documents_removed"] == 0 and again["data_key_destroyed"] == 0
    with session_scope() as session:
        assert session.get(Case, ids["case_id"]) is None

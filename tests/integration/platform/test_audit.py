"""Finding 7: the audit trail. One SQL row per action (who, what, which id, outcome, request
id, source; no personal data), refusals included; GET /api/audit for admins with filters and
paging; `audit export`; an action that cannot be audited fails; `audit verify` finds a
changed or deleted row."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import uuid
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import func, select, text

from backend.core.db.models import AuditEntry, Case
from backend.core.db.session import get_engine, session_scope
from backend.core.enums import AuditAction, ResourceType
from backend.core.errors import AuditUnavailable
from backend.platform import audit
from tests.support.environment import ROOT
from tests.support.http import auth

SECRET_TITLE = "Maria da Silva, CPF 123.456.789-09, despejo"


def rows(**where: str) -> list[AuditEntry]:
    with session_scope() as session:
        query = select(AuditEntry).order_by(AuditEntry.seq)
        for name, value in where.items():
            query = query.where(getattr(AuditEntry, name) == value)
        return list(session.scalars(query))


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "backend", "audit", *args],
        cwd=ROOT, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip


def test_actions_and_refusals_are_recorded_without_personal_data(
    app_client: Any, tokens: dict[str, str]
) -> None:
    alice, bob = auth(tokens["alice"]), auth(tokens["bob"])
    body = {"title": SECRET_TITLE, "description": "Aluguel atrasado", "client_email": "m@x.com"}
    r = app_client.post("/api/triage", json=body, headers=alice | {"X-Request-ID": "req-audit-1"})
    assert r.status_code == 202
    case_id, task_id = r.json()["case_id"], r.json()["task_id"]
    assert app_client.get(f"/api/triage/{case_id}", headers=alice).status_code == 200
    assert app_client.get(f"/api/triage/{case_id}", headers=bob).status_code == 404
    assert app_client.get(f"/api/tasks/{task_id}", headers=bob).status_code == 404
    assert app_client.get("/api/audit", headers=bob).status_code == 403

    submitted = rows(action="case.submit", resource_id=case_id)
    assert len(submitted) == 1
    row = submitted[0]
    assert (row.actor, row.role, row.outcome, row.request_id) == (
        "alice",
        "client",
        "ok",
        "req-audit-1",
    )
    assert row.source  # the client's address
    reads = [(r.actor, r.outcome) for r in rows(action="case.read", resource_id=case_id)]
    assert reads == [("alice", "ok"), ("bob", "refused")]
    assert [(r.actor, r.outcome) for r in rows(action="task.read", resource_id=task_id)] == [
        ("bob", "refused")
    ]
    denied = rows(action="access.denied", actor="bob", resource_id="read_audit")
    assert denied and denied[-1].outcome == "refused"
    # Never the personal data itself.
    with session_scope() as session:
        dump = json.dumps([list(r) for r in session.execute(select(AuditEntry)).all()], default=str)
    assert "Maria" not in dump and "123.456" not in dump and "m@x.com" not in dump


def test_admins_read_the_trail_with_filters_and_cursor_paging(
    app_client: Any, tokens: dict[str, str]
) -> None:
    alice, admin = auth(tokens["alice"]), auth(tokens["admin"])
    since = datetime.now(UTC).isoformat()
    created = []
    for i in range(3):
        r = app_client.post("/api/triage", json={"title": f"Caso {i}", "description": "x"},
                            headers=alice)  # fmt: skip
        created.append(r.json()["case_id"])
    seen: list[dict[str, Any]] = []
    cursor = None
    while True:
        params = {"actor": "alice", "action": "case.submit", "since": since, "limit": 2}
        if cursor:
            params["cursor"] = cursor
        r = app_client.get("/api/audit", params=params, headers=admin)
        assert r.status_code == 200, r.text
        seen += r.json()["items"]
        cursor = r.json()["next_cursor"]
        if not cursor:
            break
    assert [item["resource_id"] for item in seen] == created
    assert all(item["at"].endswith(("+00:00", "Z")) for item in seen)
    one = app_client.get("/api/audit", params={"resource": f"case:{created[1]}"}, headers=admin)
    assert [i["resource_id"] for i in one.json()["items"]] == [created[1]]
    params = {"until": since, "action": "case.submit", "actor": "alice", "limit": 1000}
    until = app_client.get("/api/audit", params=params, headers=admin)
    assert not {i["resource_id"] for i in until.json()["items"]} & set(created)
    # Operators may not read it; reading it is itself audited.
    assert app_client.get("/api/audit", headers=auth(tokens["operator"])).status_code == 403
    assert rows(action="audit.read", actor="adam")

    export = cli("export", "--since", since, "--actor", "alice", "--action", "case.submit")
    assert export.returncode == 0, export.stderr
    lines = [json.loads(line) for line in export.stdout.splitlines()]
    assert [line["resource_id"] for line in lines] == created


def test_an_action_that_cannot_be_audited_fails_and_leaves_nothing(
    app_client: Any, tokens: dict[str, str], failing_audit: None
) -> None:
    if not str(get_engine().url).startswith("sqlite"):
        pytest.skip("the trigger is SQLite's")
    with session_scope() as session:
        before = session.scalar(select(func.count()).select_from(Case))
    title = f"Sem auditoria {uuid.uuid4().hex}"
    r = app_client.post("/api/triage", json={"title": title, "description": "x"},
                        headers=auth(tokens["alice"]))  # fmt: skip
    assert r.status_code == 503 and r.json()["error"]["code"] == "audit_unavailable"
    with session_scope() as session:
        assert session.scalar(select(func.count()).select_from(Case)) == before


def test_verify_finds_a_changed_or_a_deleted_row(app_client: Any, tokens: dict[str, str]) -> None:
    for _ in range(3):
        app_client.get("/api/tasks", headers=auth(tokens["admin"]))
        app_client.get("/api/audit", params={"limit": 1}, headers=auth(tokens["admin"]))
    ok = cli("verify")
    assert ok.returncode == 0, ok.stderr
    assert "intact" in ok.stdout
    target = rows(action="audit.read")[-2]
    engine = get_engine()
    with engine.begin() as conn:
        original = (
            conn.execute(text("SELECT * FROM audit_log WHERE seq = :s"), {"s": target.seq})
            .mappings()
            .one()
        )
        conn.execute(
            text("UPDATE audit_log SET actor = 'someone' WHERE seq = :s"), {"s": target.seq}
        )
    try:
        changed = cli("verify")
        assert changed.returncode == 1
        assert f"row {target.seq}" in changed.stderr and "changed" in changed.stderr
    finally:
        with engine.begin() as conn:
            conn.execute(text("UPDATE audit_log SET actor = :a WHERE seq = :s"),
                         {"a": original["actor"], "s": target.seq})  # fmt: skip
    assert audit.verify().ok
    # A deleted row in the middle, then the last row.
    for seq in (target.seq, rows()[-1].seq):
        with engine.begin() as conn:
            saved = dict(
                conn.execute(text("SELECT * FROM audit_log WHERE seq = :s"), {"s": seq})
                .mappings()
                .one()
            )
            conn.execute(text("DELETE FROM audit_log WHERE seq = :s"), {"s": seq})
        try:
            deleted = audit.verify()
            assert not deleted.ok and "missing" in str(deleted.problem), deleted
        finally:
            with engine.begin() as conn:
                columns = ", ".join(saved)
                values = ", ".join(f":{c}" for c in saved)
                conn.execute(text(f"INSERT INTO audit_log ({columns}) VALUES ({values})"), saved)
        assert audit.verify().ok


def test_rows_recorded_at_once_share_a_transaction_and_keep_the_chain() -> None:
    ctx = audit.AuditContext(actor="writer-test", role="operator", request_id="req-batch")
    ids = [f"batch-{uuid.uuid4().hex[:8]}-{i}" for i in range(60)]

    async def record_all() -> None:
        await asyncio.gather(*(ctx.record_async(AuditAction.READ_TASK, ResourceType.TASK, i)
                               for i in ids))  # fmt: skip

    asyncio.run(record_all())
    written = [r for r in rows(actor="writer-test") if r.resource_id in set(ids)]
    assert sorted(r.resource_id for r in written) == sorted(ids)
    seqs = [r.seq for r in written]
    assert seqs == sorted(seqs) and len(set(seqs)) == len(ids)
    assert audit.verify().ok


def test_a_batch_that_cannot_be_written_fails_every_caller_and_the_writer_goes_on(
    failing_audit: None,
) -> None:
    if not str(get_engine().url).startswith("sqlite"):
        pytest.skip("the trigger is SQLite's")
    ctx = audit.AuditContext(actor="writer-fail", role="operator")

    async def record_three() -> list[BaseException | None]:
        return await asyncio.gather(
            *(
                ctx.record_async(AuditAction.READ_TASK, ResourceType.TASK, f"x{i}")
                for i in range(3)
            ),
            return_exceptions=True,
        )

    outcomes = asyncio.run(record_three())
    assert all(isinstance(o, AuditUnavailable) for o in outcomes), outcomes
    assert rows(actor="writer-fail") == []
    with get_engine().begin() as conn:
        conn.execute(text("DROP TRIGGER audit_refuses"))
        conn.execute(
            text(
                "CREATE TRIGGER audit_refuses BEFORE INSERT ON audit_log WHEN 0 "
                "BEGIN SELECT RAISE(ABORT, 'never'); END"
            )
        )  # fmt: skip (the fixture drops it)
    asyncio.run(ctx.record_async(AuditAction.READ_TASK, ResourceType.TASK, "after"))
    assert [r.resource_id for r in rows(actor="writer-fail")] == ["after"]
    assert audit.verify().ok

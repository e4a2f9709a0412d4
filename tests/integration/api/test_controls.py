"""Queue and breaker controls through the API, on real workers: a paused queue keeps its
messages and no worker takes them (not even one started while it is paused) until resumed; a
purge (admins) empties it and marks the tasks REVOKED; breakers (admins) open, close and reset;
every action is audited with who did it, in the control stream and the SQL audit trail;
clients may not use any of it, operators may not purge or change a breaker."""

from __future__ import annotations

import time
import uuid
from typing import Any

import pytest

from backend.platform.enqueue import CeleryTaskService
from tests.support.http import auth
from tests.support.metrics import value
from tests.support.waiting import wait_for_state

QUIET_S = 3.0  # long enough for a worker that should not take a message to have taken it


def _untouched(service: CeleryTaskService, task_id: str) -> None:
    time.sleep(QUIET_S)
    assert service.status.get(task_id)["state"] == "PENDING"
    assert service.status.queue_status("reports")["depth"] >= 1


def test_paused_queue_keeps_its_messages_until_resumed(
    app_client: Any, tokens: dict[str, str], redis_client: Any, worker_factory: Any
) -> None:
    service = CeleryTaskService(redis_client)
    ops = auth(tokens["operator"])
    own = worker_factory(["reports"], concurrency=1)
    try:
        r = app_client.post("/api/queues/reports/pause", headers=ops)
        assert r.status_code == 200 and r.json()["paused"] and own.hostname in r.json()["workers"]
        task_id = service.enqueue("testing.record", [uuid.uuid4().hex, "a"])
        _untouched(service, task_id)
        # A worker (re)started while the queue is paused does not consume it either.
        own.stop()
        own = worker_factory(["reports"], concurrency=1)
        _untouched(service, task_id)
        listed = {
            q["queue"]: q for q in app_client.get("/api/queues", headers=ops).json()["queues"]
        }
        assert listed["reports"]["paused"] and listed["triage"]["paused"] is False
        metrics = app_client.get("/metrics", headers=auth(tokens["operator"])).text
        assert value(metrics, "ltq_queue_paused", queue="reports") == 1
        r = app_client.post("/api/queues/reports/resume", headers=ops)
        assert r.status_code == 200 and r.json()["paused"] is False
        wait_for_state(service.status.get, task_id, {"SUCCESS"})
    finally:
        app_client.post("/api/queues/reports/resume", headers=ops)
        own.stop()
    audit = app_client.get("/api/controls/audit", headers=ops).json()["items"]
    actions = [(a["actor"], a["action"], a["target"]) for a in audit[:2]]
    assert actions == [("olga", "queue_resume", "reports"), ("olga", "queue_resume", "reports")]
    assert any(a["action"] == "queue_pause" and a["actor"] == "olga" for a in audit)


def test_purge_revokes_the_waiting_tasks(
    app_client: Any, tokens: dict[str, str], redis_client: Any
) -> None:
    service = CeleryTaskService(redis_client)
    ops, admin = auth(tokens["operator"]), auth(tokens["admin"])
    before = service.status.queue_status("reports")["depth"]
    ids = [
        service.enqueue("testing.record", [uuid.uuid4().hex, str(i)], priority=p)
        for i, p in enumerate(["LOW", "NORMAL", "HIGH", "CRITICAL", "NORMAL"])
    ]
    # Operators watch; purging is for admins (the refusal changes nothing).
    assert app_client.post("/api/queues/reports/purge", headers=ops).status_code == 403
    assert service.status.queue_status("reports")["depth"] == before + 5
    r = app_client.post("/api/queues/reports/purge", headers=admin)
    assert r.status_code == 200
    assert r.json() == {"queue": "reports", "removed": before + 5, "revoked": before + 5}
    assert service.status.queue_status("reports")["depth"] == 0
    for task_id in ids:
        record = service.status.get(task_id)
        assert record["state"] == "REVOKED"
        assert record["history"][-1]["detail"] == "purged from reports by adam"
    audit = app_client.get("/api/controls/audit?limit=1", headers=ops).json()["items"][0]
    assert audit["action"] == "queue_purge" and audit["removed"] == str(before + 5)
    rows = _sql_audit(app_client, tokens, "queue.purge")
    assert (rows[-1]["actor"], rows[-1]["role"], rows[-1]["resource_id"]) == (
        "adam", "admin", "reports"
    )  # fmt: skip


def _sql_audit(app_client: Any, tokens: dict[str, str], action: str) -> list[dict[str, Any]]:
    """The SQL audit trail's rows of one action, oldest first (every page)."""
    rows: list[dict[str, Any]] = []
    params: dict[str, Any] = {"action": action, "limit": 500}
    while True:
        page = app_client.get("/api/audit", params=params, headers=auth(tokens["admin"])).json()
        rows += page["items"]
        if not page.get("next_cursor"):
            return rows
        params["cursor"] = page["next_cursor"]


def test_breakers_open_close_and_reset(
    app_client: Any, tokens: dict[str, str], redis_client: Any
) -> None:
    ops, admin = auth(tokens["operator"]), auth(tokens["admin"])
    for action in ("open", "close", "reset"):
        assert app_client.post(f"/api/breakers/testsvc/{action}", headers=ops).status_code == 403
    r = app_client.post("/api/breakers/testsvc/open", headers=admin)
    assert r.status_code == 200 and r.json()["state"] == "open" and r.json()["forced"]
    states = {
        b["breaker"]: b for b in app_client.get("/api/breakers", headers=ops).json()["breakers"]
    }
    assert states["testsvc"]["state"] == "open"
    assert (
        value(
            app_client.get("/metrics", headers=auth(tokens["operator"])).text,
            "ltq_breaker_state",
            service="testsvc",
        )
        == 2
    )
    # Held open: after its cool-down (2 s for testsvc) it lets no probe through.
    from backend.resilience.breakers import breaker_for

    breaker = breaker_for("testsvc")
    assert breaker is not None
    time.sleep(2.5)
    assert breaker.allow().allowed is False
    r = app_client.post("/api/breakers/testsvc/close", headers=admin)
    assert r.json()["state"] == "closed" and not r.json()["forced"]
    assert breaker.allow().allowed is True
    r = app_client.post("/api/breakers/testsvc/reset", headers=admin)
    assert r.json()["state"] == "closed" and r.json()["consecutive_failures"] == 0
    assert app_client.post("/api/breakers/nosuch/open", headers=admin).status_code == 404
    assert app_client.post("/api/breakers/testsvc/explode", headers=admin).status_code == 422
    assert app_client.post("/api/queues/nosuch/pause", headers=ops).status_code == 422
    # The breaker's own audit stream names who changed it (a reset of a closed one changes
    # nothing there; the control audit has it).
    stream = redis_client.xrevrange("ltqtest:audit:breakers", count=2)
    assert [e[1]["reason"] for e in stream] == ["closed by adam", "opened by adam"]
    audit = app_client.get("/api/controls/audit?limit=3", headers=ops).json()["items"]
    assert [a["action"] for a in audit] == ["breaker_reset", "breaker_close", "breaker_open"]
    # The SQL audit trail: the three changes (ok), and the unknown breaker's (failed).
    rows = _sql_audit(app_client, tokens, "breaker.change")[-4:]
    assert [(r["actor"], r["resource_id"], r["outcome"]) for r in rows] == [
        ("adam", "testsvc", "ok"), ("adam", "testsvc", "ok"), ("adam", "testsvc", "ok"),
        ("adam", "nosuch", "failed"),
    ]  # fmt: skip


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("get", "/api/queues"),
        ("post", "/api/queues/triage/pause"),
        ("post", "/api/queues/triage/purge"),
        ("get", "/api/breakers"),
        ("post", "/api/breakers/llm/open"),
        ("get", "/api/outbox"),
        ("get", "/api/limits"),
        ("get", "/api/batches"),
        ("get", "/api/throughput"),
        ("get", "/api/controls/audit"),
    ],
)
def test_clients_may_not_control(
    app_client: Any, tokens: dict[str, str], method: str, path: str
) -> None:
    assert getattr(app_client, method)(path, headers=auth(tokens["alice"])).status_code == 403
    assert getattr(app_client, method)(path).status_code == 401


def test_console_files_are_served_with_a_strict_policy(app_client: Any) -> None:
    page = app_client.get("/console")
    assert page.status_code == 200 and "LTQ operator console" in page.text
    assert "script-src 'self'" in page.headers["content-security-policy"]
    assert app_client.get("/console/app.js").headers["content-type"].startswith("text/javascript")
    assert app_client.get("/console/../app.py").status_code == 404
    assert app_client.get("/console/secrets.txt").status_code == 404

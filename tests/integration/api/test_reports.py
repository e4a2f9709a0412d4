"""/api/reports over HTTP with a real worker on the `reports` queue: validation, who sees what,
409 before ready, CSV and HTML downloads, a failed report, and the scheduled report's e-mail."""

from __future__ import annotations

import csv
import io
import time
import uuid
from collections.abc import Iterator
from email.header import decode_header, make_header
from typing import Any

import pytest
from sqlalchemy import func, select

from backend.core.db.models import Case, Report
from backend.core.db.session import session_scope
from backend.platform.enqueue import CeleryTaskService
from tests.support.http import auth
from tests.support.waiting import wait_for_state


@pytest.fixture(scope="module")
def service(redis_server: Any) -> CeleryTaskService:
    from backend.adapters.redis_clients import get_redis

    return CeleryTaskService(get_redis())


@pytest.fixture(scope="module")
def reports_worker(worker_factory: Any) -> Iterator[Any]:
    """Not started: the first tests need reports to stay queued."""
    reports = worker_factory(["reports"], concurrency=1, start=False)
    yield reports
    reports.stop()


def running(reports: Any) -> Any:
    if reports.proc is None or reports.proc.poll() is not None:
        reports.start()
    return reports


def report_count() -> int:
    with session_scope() as session:
        return int(session.scalar(select(func.count()).select_from(Report)) or 0)


def post(client: Any, token: str, body: Any, **headers: str) -> Any:
    return client.post("/api/reports", json=body, headers={**auth(token), **headers})


@pytest.mark.parametrize(
    "body",
    [
        {"period_hours": 0},
        {"period_hours": 721},
        {"period_hours": "muitas"},
        {"format": "pdf"},
        {"period_hours": 24, "owner": "bob"},
    ],
)
def test_bad_requests_get_422_and_create_nothing(
    app_client: Any, tokens: dict[str, str], body: dict[str, Any]
) -> None:
    before = report_count()
    r = post(app_client, tokens["alice"], body)
    assert r.status_code == 422, r.text
    assert r.json()["error"]["code"] == "validation_error"
    assert report_count() == before


def test_unauthenticated_gets_401(app_client: Any) -> None:
    assert app_client.post("/api/reports", json={}).status_code == 401
    assert app_client.get(f"/api/reports/{uuid.uuid4()}").status_code == 401


def test_cancelled_report_reads_failed(
    app_client: Any, tokens: dict[str, str], reports_worker: Any
) -> None:
    r = post(app_client, tokens["alice"], {"period_hours": 1})
    assert r.status_code == 202, r.text
    accepted = r.json()
    cancel = app_client.delete(f"/api/tasks/{accepted['task_id']}", headers=auth(tokens["alice"]))
    assert cancel.status_code == 200, cancel.text
    body = app_client.get(accepted["status_url"], headers=auth(tokens["alice"])).json()
    assert body["status"] == "failed" and body["error"] == {"type": "revoked"}
    assert body["download_url"] is None


def test_requester_and_operators_see_it_others_get_404_then_it_downloads(
    app_client: Any, tokens: dict[str, str], service: CeleryTaskService, reports_worker: Any
) -> None:
    alice, bob, operator = (auth(tokens[u]) for u in ("alice", "bob", "operator"))
    key = {"Idempotency-Key": f"report-{uuid.uuid4().hex}"}
    r = post(app_client, tokens["alice"], {"period_hours": 24, "format": "csv"}, **key)
    assert r.status_code == 202, r.text
    accepted = r.json()
    assert set(accepted) == {"report_id", "task_id", "queued", "status_url"}
    assert accepted["queued"] is True
    assert accepted["status_url"] == f"/api/reports/{accepted['report_id']}"
    # The same key again names the same report, and creates no other row.
    before = report_count()
    again = post(app_client, tokens["alice"], {"period_hours": 24, "format": "csv"}, **key).json()
    assert again == accepted and report_count() == before

    url = accepted["status_url"]
    pending = app_client.get(url, headers=alice).json()
    assert pending["status"] == "pending" and pending["owner"] == "alice"
    assert app_client.get(url, headers=operator).status_code == 200
    not_found = app_client.get(url, headers=bob)
    assert not_found.status_code == 404
    assert not_found.json()["error"]["code"] == "report_not_found"
    early = app_client.get(f"{url}/download", headers=alice)
    assert early.status_code == 409 and early.json()["error"]["code"] == "conflict"
    assert app_client.get(f"{url}/download", headers=bob).status_code == 404

    running(reports_worker)
    record = wait_for_state(service.status.get, accepted["task_id"], {"SUCCESS", "FAILURE"})
    assert record["state"] == "SUCCESS", record
    ready = app_client.get(url, headers=alice).json()
    assert ready["status"] == "ready" and ready["summary"]["period_hours"] == 24
    assert ready["download_url"] == f"{url}/download"

    download = app_client.get(ready["download_url"], headers=alice)
    assert download.status_code == 200
    assert download.headers["content-type"] == "text/csv; charset=utf-8"
    disposition = download.headers["content-disposition"]
    assert disposition.startswith("attachment;") and disposition.endswith('.csv"')
    rows = list(csv.reader(io.StringIO(download.text)))
    assert rows[0] == ["section", "key", "metric", "value"]
    assert ["summary", "", "period_hours", "24"] in rows
    assert app_client.get(ready["download_url"], headers=operator).status_code == 200
    assert app_client.get(ready["download_url"], headers=bob).status_code == 404


def test_html_report_has_the_period_cases_and_failures(
    app_client: Any,
    tokens: dict[str, str],
    service: CeleryTaskService,
    worker: Any,
    reports_worker: Any,
) -> None:
    with session_scope() as session:
        session.add(
            Case(owner="alice", title="t", description="d", area="consumidor", urgency="high")
        )
    failed = service.enqueue("testing.always_fail", [uuid.uuid4().hex])
    wait_for_state(service.status.get, failed, {"FAILURE"})
    running(reports_worker)
    accepted = post(app_client, tokens["operator"], {"period_hours": 1, "format": "html"}).json()
    record = wait_for_state(service.status.get, accepted["task_id"], {"SUCCESS", "FAILURE"})
    assert record["state"] == "SUCCESS", record
    assert record["result"]["cases"] >= 1 and record["result"]["tasks_failed"] >= 1
    download = app_client.get(
        f"{accepted['status_url']}/download", headers=auth(tokens["operator"])
    )
    assert download.headers["content-type"] == "text/html; charset=utf-8"
    assert download.headers["content-disposition"].endswith('.html"')
    page = download.text
    assert page.count("<svg") == 7
    assert "Consumidor" in page and "Alta" in page
    assert "RuntimeError" in page and "testing.always_fail" in page


def test_scheduled_report_is_created_and_announced_by_email(
    service: CeleryTaskService, worker: Any, reports_worker: Any, mailbox: Any
) -> None:
    running(reports_worker)
    before = len(mailbox.messages)
    # What beat sends for "daily-operations-report": no report id, only the period and format.
    task_id = service.enqueue(
        "reports.generate_operations_report", kwargs={"period_hours": 24, "report_format": "html"}
    )
    record = wait_for_state(service.status.get, task_id, {"SUCCESS", "FAILURE"})
    assert record["state"] == "SUCCESS", record
    report_id = record["result"]["report_id"]
    with session_scope() as session:
        report = session.get(Report, report_id)
        assert report is not None
        assert (report.owner, report.status, report.format) == ("system", "ready", "html")
    message = _wait_for_mail(mailbox, before + 1)[-1]
    assert message["To"] == "ops@example.com"
    assert str(make_header(decode_header(message["Subject"]))).startswith("Relatório pronto")
    text = next(p for p in message.walk() if p.get_content_type() == "text/plain")
    assert f"/api/reports/{report_id}/download" in text.get_payload(decode=True).decode()


def _wait_for_mail(mailbox: Any, count: int, timeout: float = 30) -> list[Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if len(mailbox.messages) >= count:
            return list(mailbox.messages)
        time.sleep(0.1)
    raise AssertionError(f"expected {count} e-mails, got {len(mailbox.messages)}")


def test_a_clients_report_counts_only_its_own_work_platform_reports_are_for_operators(
    app_client: Any, tokens: dict[str, str], reports_worker: Any
) -> None:
    """Finding 4: before, a client's report counted every client's cases and tasks."""
    from backend.core.security.tokens import issue_token

    loner = issue_token(f"loner-{uuid.uuid4().hex[:8]}", "client")
    for token in (loner, tokens["bob"], tokens["bob"]):
        case = {"title": "Despejo", "description": "Aluguel atrasado"}
        assert app_client.post("/api/triage", json=case, headers=auth(token)).status_code == 202
    assert post(app_client, loner, {"scope": "platform"}).status_code == 403
    assert post(app_client, loner, {"period_hours": 720}).status_code == 422  # clients: ≤ 168 h
    own = post(app_client, loner, {"period_hours": 1, "format": "csv"}).json()
    platform = post(app_client, tokens["operator"], {"period_hours": 1, "format": "csv"}).json()
    running(reports_worker)
    summaries = {}
    for name, accepted, token in (("own", own, loner), ("platform", platform, tokens["operator"])):
        deadline = time.monotonic() + 60
        while (body := app_client.get(accepted["status_url"], headers=auth(token)).json())[
            "status"
        ] != "ready":
            assert time.monotonic() < deadline, body
            time.sleep(0.1)
        summaries[name] = body
    assert summaries["own"]["scope"] == "own" and summaries["own"]["summary"]["cases"] == 1
    # Its own tasks only: its one triage and this report's own task, nobody else's.
    assert summaries["own"]["summary"]["tasks"] == 2
    assert summaries["platform"]["scope"] == "platform"
    assert summaries["platform"]["summary"]["cases"] >= 3

"""The /api/triage contract over HTTP with a real worker: submit, stream, read, batch,
idempotency under concurrency, ownership on every route, bad input that changes nothing,
and the urgency of a case setting the priority of its e-mail."""

from __future__ import annotations

import json
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from sqlalchemy import func, select

from backend.core.db.models import Case
from backend.core.db.session import session_scope
from backend.platform.enqueue import CeleryTaskService
from tests.support.cases import ARREST, PENSION
from tests.support.http import auth, read_sse
from tests.support.recipients import confirmed
from tests.support.waiting import wait_for_state


@pytest.fixture(scope="module")
def service(redis_server: Any) -> CeleryTaskService:
    from backend.adapters.redis_clients import get_redis

    return CeleryTaskService(get_redis())


def count_cases() -> int:
    with session_scope() as session:
        return int(session.scalar(select(func.count()).select_from(Case)) or 0)


def count_triage_tasks(service: CeleryTaskService) -> int:
    return int(service.redis.zcard(service.keys.index("name", "triage.classify_case")))


def post_case(client: Any, token: str | None, body: Any, **headers: str) -> Any:
    h = auth(token) if token else {}
    h.update(headers)
    return client.post("/api/triage", json=body, headers=h)


def wait_triaged(client: Any, token: str, case_id: str) -> dict[str, Any]:
    def get(_: str) -> dict[str, Any]:
        body: dict[str, Any] = client.get(f"/api/triage/{case_id}", headers=auth(token)).json()
        return body

    return wait_for_state(get, case_id, {"SUCCESS", "FAILURE"})


def read_stream(client: Any, token: str, case_id: str) -> list[tuple[str, dict[str, Any]]]:
    return read_sse(client, f"/api/triage/stream/{case_id}", token)


def test_submit_stream_in_order_then_read_the_triage(
    app_client: Any, tokens: dict[str, str], service: CeleryTaskService, worker: Any
) -> None:
    # Both of the shared worker's processes sleep a moment, so the stream opens while the
    # triage is still queued and sees every step.
    key = uuid.uuid4().hex
    for i in range(2):
        service.enqueue("testing.sleep", [f"{key}-{i}", 4.0], owner="olga")
    deadline = time.monotonic() + 30
    while not all(service.redis.get(f"test:{key}-{i}:started") for i in range(2)):
        assert time.monotonic() < deadline, "the sleeping tasks did not start"
        time.sleep(0.05)
    r = post_case(app_client, tokens["alice"], ARREST)
    assert r.status_code == 202, r.text
    accepted = r.json()
    case_id, task_id = accepted["case_id"], accepted["task_id"]
    assert accepted["created"] is True
    assert accepted["status_url"] == f"/api/triage/{case_id}"
    assert accepted["stream_url"] == f"/api/triage/stream/{case_id}"

    events = read_stream(app_client, tokens["alice"], case_id)
    names = [name for name, _ in events]
    assert names[0] == "triage_update" and events[0][1]["state"] == "PENDING"
    assert names.count("triage_started") == 1
    started = names.index("triage_started")
    assert set(names[:started]) == {"triage_update"}
    assert names[-1] == "triage_completed"
    progress = [data["progress"] for name, data in events[started:-1] if data["progress"]]
    assert [p["current"] for p in progress][-2:] == [1, 2]
    completed = events[-1][1]
    assert (completed["area"], completed["urgency"]) == ("criminal", "critical")
    assert completed["triage"]["reasons"] and completed["task_id"] == task_id

    case = app_client.get(accepted["status_url"], headers=auth(tokens["alice"])).json()
    assert case["state"] == "SUCCESS" and case["status"] == "triaged"
    assert (case["triage"]["area"], case["triage"]["urgency"]) == ("criminal", "critical")
    assert case["triage"]["engine"] == "rules-v5"
    assert case["task"]["task_id"] == task_id and case["task"]["owner"] == "alice"
    # A finished case streams its outcome at once.
    assert [name for name, _ in read_stream(app_client, tokens["alice"], case_id)] == [
        "triage_completed"
    ]


@pytest.mark.parametrize(
    ("case", "priority"), [(ARREST, "CRITICAL"), (PENSION, "LOW")], ids=["critical", "low"]
)
def test_urgency_sets_the_priority_of_the_e_mail(
    app_client: Any,
    tokens: dict[str, str],
    service: CeleryTaskService,
    worker: Any,
    mailbox: Any,
    case: dict[str, str],
    priority: str,
) -> None:
    address = f"{uuid.uuid4().hex[:8]}@example.com"
    confirmed("alice", address)  # the confirmation flow: test_recipients.py
    r = post_case(app_client, tokens["alice"], {**case, "client_email": address})
    assert r.status_code == 202, r.text
    record = wait_for_state(service.status.get, r.json()["task_id"], {"SUCCESS", "FAILURE"})
    assert record["state"] == "SUCCESS", record
    assert record["result"]["priority"] == priority
    notification = wait_for_state(
        service.status.get, record["result"]["notification_task_id"], {"SUCCESS", "FAILURE"}
    )
    assert notification["name"] == "notifications.send_email"
    assert notification["priority"] == priority
    assert notification["result"]["sent"] is True
    assert any(m["To"] == address for m in mailbox.messages)


def test_case_without_e_mail_enqueues_no_notification(
    app_client: Any, tokens: dict[str, str], service: CeleryTaskService, worker: Any
) -> None:
    r = post_case(app_client, tokens["alice"], PENSION)
    record = wait_for_state(service.status.get, r.json()["task_id"], {"SUCCESS", "FAILURE"})
    assert record["state"] == "SUCCESS" and "notification_task_id" not in record["result"]


def test_twenty_concurrent_identical_requests_make_one_case_and_one_task(
    app_client: Any, tokens: dict[str, str], service: CeleryTaskService, worker: Any
) -> None:
    key = f"triage-{uuid.uuid4().hex}"
    cases_before, tasks_before = count_cases(), count_triage_tasks(service)

    def call(_: int) -> Any:
        return post_case(app_client, tokens["alice"], PENSION, **{"Idempotency-Key": key})

    with ThreadPoolExecutor(max_workers=20) as pool:
        responses = list(pool.map(call, range(20)))
    assert [r.status_code for r in responses] == [202] * 20, responses[0].text
    assert len({r.json()["case_id"] for r in responses}) == 1
    assert len({r.json()["task_id"] for r in responses}) == 1
    assert sum(r.json()["created"] for r in responses) == 1
    assert count_cases() == cases_before + 1
    assert count_triage_tasks(service) == tasks_before + 1

    # Later: the same answer; the same key for another case is a conflict; bob's key is his own.
    case_id = responses[0].json()["case_id"]
    assert wait_triaged(app_client, tokens["alice"], case_id)["state"] == "SUCCESS"
    again = post_case(app_client, tokens["alice"], PENSION, **{"Idempotency-Key": key})
    assert again.status_code == 202
    assert (again.json()["case_id"], again.json()["created"]) == (case_id, False)
    other = post_case(app_client, tokens["alice"], ARREST, **{"Idempotency-Key": key})
    assert other.status_code == 409 and other.json()["error"]["code"] == "conflict"
    bobs = post_case(app_client, tokens["bob"], PENSION, **{"Idempotency-Key": key})
    assert bobs.status_code == 202 and bobs.json()["case_id"] != case_id
    assert count_cases() == cases_before + 2
    assert count_triage_tasks(service) == tasks_before + 2


def test_batch_accepts_the_valid_items_and_reports_the_invalid_one(
    app_client: Any, tokens: dict[str, str], service: CeleryTaskService, worker: Any
) -> None:
    cases_before, tasks_before = count_cases(), count_triage_tasks(service)
    body = {"cases": [ARREST, {**PENSION, "client_email": "not-an-address"}, PENSION]}
    r = app_client.post("/api/triage/batch", json=body, headers=auth(tokens["alice"]))
    assert r.status_code == 202, r.text
    result = r.json()
    assert (result["accepted"], result["rejected"]) == (2, 1)
    items = result["items"]
    assert [item["index"] for item in items] == [0, 1, 2]
    assert "case_id" not in items[1] and items[1]["error"]["code"] == "validation_error"
    assert "client_email" in items[1]["error"]["message"]
    assert count_cases() == cases_before + 2
    assert count_triage_tasks(service) == tasks_before + 2
    areas = [
        wait_triaged(app_client, tokens["alice"], items[i]["case_id"])["triage"]["area"]
        for i in (0, 2)
    ]
    assert areas == ["criminal", "previdenciario"]


def test_batch_replayed_with_its_idempotency_key_creates_nothing_more(
    app_client: Any, tokens: dict[str, str], service: CeleryTaskService
) -> None:
    headers = {**auth(tokens["alice"]), "Idempotency-Key": f"batch-{uuid.uuid4().hex}"}
    body = {"cases": [ARREST, PENSION]}
    first = app_client.post("/api/triage/batch", json=body, headers=headers).json()
    cases_before, tasks_before = count_cases(), count_triage_tasks(service)
    again = app_client.post("/api/triage/batch", json=body, headers=headers).json()
    pairs = [(i["case_id"], i["task_id"]) for i in first["items"]]
    assert [(i["case_id"], i["task_id"]) for i in again["items"]] == pairs
    assert len(set(pairs)) == 2 and not any(i["created"] for i in again["items"])
    assert (count_cases(), count_triage_tasks(service)) == (cases_before, tasks_before)


@pytest.fixture(scope="module")
def alices_case(app_client: Any, tokens: dict[str, str], worker: Any) -> str:
    r = post_case(app_client, tokens["alice"], PENSION)
    case_id: str = r.json()["case_id"]
    wait_triaged(app_client, tokens["alice"], case_id)
    return case_id


@pytest.mark.parametrize(
    ("who", "status"),
    [(None, 401), ("bad-token", 401), ("bob", 404), ("alice", 200), ("operator", 200)],
)
@pytest.mark.parametrize("route", ["/api/triage/{id}", "/api/triage/stream/{id}"])
def test_reading_a_case_is_for_its_owner_and_operators(
    app_client: Any, tokens: dict[str, str], alices_case: str, route: str, who: Any, status: int
) -> None:
    headers = {} if who is None else auth(tokens.get(who, who))
    r = app_client.get(route.format(id=alices_case), headers=headers)
    assert r.status_code == status, r.text
    if status != 200:
        assert r.json()["error"]["code"] in {"unauthenticated", "case_not_found"}


@pytest.mark.parametrize("route", ["/api/triage/{id}", "/api/triage/stream/{id}"])
def test_unknown_case_is_404(app_client: Any, tokens: dict[str, str], route: str) -> None:
    r = app_client.get(route.format(id=uuid.uuid4()), headers=auth(tokens["operator"]))
    assert r.status_code == 404 and r.json()["error"]["code"] == "case_not_found"


@pytest.mark.parametrize("who", [None, "bad-token"])
@pytest.mark.parametrize(
    ("path", "body"), [("/api/triage", PENSION), ("/api/triage/batch", {"cases": [PENSION]})]
)
def test_submitting_needs_a_valid_token(
    app_client: Any, service: CeleryTaskService, path: str, body: Any, who: str | None
) -> None:
    before = (count_cases(), count_triage_tasks(service))
    r = app_client.post(path, json=body, headers=auth(who) if who else {})
    assert r.status_code == 401 and r.json()["error"]["code"] == "unauthenticated"
    assert (count_cases(), count_triage_tasks(service)) == before


def test_operator_may_submit_and_read_any_case(
    app_client: Any, tokens: dict[str, str], alices_case: str
) -> None:
    r = post_case(app_client, tokens["operator"], PENSION)
    assert r.status_code == 202
    case = app_client.get(f"/api/triage/{alices_case}", headers=auth(tokens["operator"]))
    assert case.json()["triage"]["area"] == "previdenciario"


@pytest.mark.parametrize(
    ("path", "body", "headers", "status", "code"),
    [
        ("/api/triage", {**PENSION, "title": ""}, {}, 422, "validation_error"),
        ("/api/triage", {**PENSION, "title": "   "}, {}, 422, "validation_error"),
        ("/api/triage", {**PENSION, "title": "x" * 301}, {}, 422, "validation_error"),
        ("/api/triage", {**PENSION, "description": "x" * 20_001}, {}, 422, "validation_error"),
        ("/api/triage", {"title": "Só o título"}, {}, 422, "validation_error"),
        ("/api/triage", {**PENSION, "client_email": "a@"}, {}, 422, "validation_error"),
        ("/api/triage", {**PENSION, "owner": "bob"}, {}, 422, "validation_error"),
        ("/api/triage", [PENSION], {}, 422, "validation_error"),
        ("/api/triage", PENSION, {"Idempotency-Key": "no spaces"}, 422, "invalid_request"),
        ("/api/triage", PENSION, {"Idempotency-Key": "k" * 201}, 422, "validation_error"),
        ("/api/triage/batch", {"cases": []}, {}, 422, "validation_error"),
        ("/api/triage/batch", {"cases": [{"title": "x"}, 7]}, {}, 422, "invalid_request"),
        ("/api/triage/batch", {"cases": [PENSION] * 101}, {}, 422, "batch_too_large"),
    ],
    ids=[
        "empty-title", "blank-title", "long-title", "long-description", "no-description",
        "bad-email", "extra-field", "not-an-object", "bad-key", "long-key", "empty-batch",
        "all-invalid-batch", "batch-too-large",
    ],
)  # fmt: skip
def test_bad_input_is_refused_and_creates_nothing(
    app_client: Any,
    tokens: dict[str, str],
    service: CeleryTaskService,
    path: str,
    body: Any,
    headers: dict[str, str],
    status: int,
    code: str,
) -> None:
    before = (count_cases(), count_triage_tasks(service))
    r = app_client.post(path, json=body, headers={**auth(tokens["alice"]), **headers})
    assert r.status_code == status, r.text
    assert r.json()["error"]["code"] == code
    assert (count_cases(), count_triage_tasks(service)) == before


@pytest.mark.parametrize("path", ["/api/triage", "/api/triage/batch"])
def test_malformed_and_oversized_bodies_create_nothing(
    app_client: Any, tokens: dict[str, str], service: CeleryTaskService, path: str
) -> None:
    before = (count_cases(), count_triage_tasks(service))
    headers = {**auth(tokens["alice"]), "Content-Type": "application/json"}
    r = app_client.post(path, content=b'{"title": "x",', headers=headers)
    assert r.status_code == 400 and r.json()["error"]["code"] == "malformed_json"
    huge = json.dumps({"cases": [PENSION] * 2, "title": "x", "description": "y" * 1_100_000})
    r = app_client.post(path, content=huge, headers=headers)
    assert r.status_code == 413 and r.json()["error"]["code"] == "payload_too_large"
    assert (count_cases(), count_triage_tasks(service)) == before


def test_stream_of_a_failed_triage_ends_with_triage_failed(
    app_client: Any, tokens: dict[str, str], service: CeleryTaskService, worker: Any
) -> None:
    task_id = service.enqueue("testing.always_fail", [uuid.uuid4().hex], owner="alice")
    wait_for_state(service.status.get, task_id, {"FAILURE"})
    with session_scope() as session:
        case = Case(owner="alice", title="t", description="d", task_id=task_id)
        session.add(case)
        session.flush()
        case_id = case.id
    events = read_stream(app_client, tokens["alice"], case_id)
    assert [name for name, _ in events] == ["triage_failed"]
    assert events[0][1]["error"]["type"] == "RuntimeError"
    case_view = app_client.get(f"/api/triage/{case_id}", headers=auth(tokens["alice"])).json()
    assert (case_view["state"], case_view["triage"]) == ("FAILURE", None)

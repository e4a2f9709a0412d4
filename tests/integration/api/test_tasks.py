"""The /api/tasks contract over HTTP: roles and ownership on every endpoint, bad input,
idempotency under concurrency. Real Redis, real worker."""

from __future__ import annotations

import json
import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from backend.core.keys import keys
from backend.platform.enqueue import CeleryTaskService
from tests.support.http import auth
from tests.support.waiting import wait_for_state


@pytest.fixture(scope="module")
def service(redis_server: Any) -> CeleryTaskService:
    from backend.adapters.redis_clients import get_redis

    return CeleryTaskService(get_redis())


@pytest.fixture(scope="module")
def alice_failed(service: CeleryTaskService, worker: Any) -> str:
    task_id = service.enqueue("testing.always_fail", [uuid.uuid4().hex], owner="alice")
    wait_for_state(service.status.get, task_id, {"FAILURE"})
    return task_id


@pytest.fixture(scope="module")
def bob_task(service: CeleryTaskService) -> str:
    # Waits on the idle `reports` queue, so it stays PENDING and cancellable.
    return service.enqueue("testing.record", ["x", "y"], owner="bob")


def submit(client: Any, token: str | None, body: Any, **headers: str) -> Any:
    h = auth(token) if token else {}
    h.update(headers)
    return client.post("/api/tasks", json=body, headers=h)


def test_submit_and_read_own_task(app_client: Any, tokens: dict[str, str], worker: Any) -> None:
    r = submit(app_client, tokens["alice"], {"name": "maintenance.ping", "priority": "high"})
    assert r.status_code == 202, r.text
    body = r.json()
    assert body["created"] and body["status_url"] == f"/api/tasks/{body['task_id']}"
    status = app_client.get(body["status_url"], headers=auth(tokens["alice"]))
    assert status.status_code == 200
    keys = set(status.json())
    assert {
        "task_id", "name", "queue", "priority", "state", "owner", "created_at", "started_at",
        "finished_at", "wait_ms", "runtime_ms", "attempts", "max_attempts", "progress",
        "result", "error", "worker", "correlation_id", "history",
    } <= keys  # fmt: skip


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("post", "/api/tasks"),
        ("get", "/api/tasks"),
        ("get", "/api/tasks/stats"),
        ("get", "/api/tasks/queue/triage"),
        ("get", "/api/tasks/some-id"),
        ("delete", "/api/tasks/some-id"),
        ("post", "/api/tasks/retry/some-id"),
        ("get", "/api/tasks/some-id/stream"),
    ],
)
def test_every_api_endpoint_needs_a_valid_token(app_client: Any, method: str, path: str) -> None:
    assert getattr(app_client, method)(path).status_code == 401
    bad = {"Authorization": "Bearer not-a-token"}
    r = getattr(app_client, method)(path, headers=bad)
    assert r.status_code == 401
    assert r.json()["error"]["code"] == "unauthenticated"


def test_operator_only_endpoints(
    app_client: Any, tokens: dict[str, str], alice_failed: str
) -> None:
    for path in ("/api/tasks/stats", "/api/tasks/queue/triage"):
        assert app_client.get(path, headers=auth(tokens["alice"])).status_code == 403
        assert app_client.get(path, headers=auth(tokens["operator"])).status_code == 200
        assert app_client.get(path, headers=auth(tokens["admin"])).status_code == 200
    retry = f"/api/tasks/retry/{alice_failed}"
    assert app_client.post(retry, headers=auth(tokens["alice"])).status_code == 403
    r = app_client.post(retry, headers=auth(tokens["operator"]))
    assert r.status_code == 202
    again = app_client.post(retry, headers=auth(tokens["admin"]))
    assert again.status_code == 202 and again.json()["task_id"] == r.json()["task_id"]
    r = submit(app_client, tokens["alice"], {"name": "maintenance.purge_expired"})
    assert r.status_code == 403
    assert (
        submit(app_client, tokens["operator"], {"name": "maintenance.purge_expired"}).status_code
        == 202
    )


def test_client_sees_only_own_tasks(
    app_client: Any, tokens: dict[str, str], alice_failed: str, bob_task: str
) -> None:
    alice, op = auth(tokens["alice"]), auth(tokens["operator"])
    assert app_client.get(f"/api/tasks/{alice_failed}", headers=alice).status_code == 200
    # Another owner's task does not exist for a client: 404, not 403.
    for path in (f"/api/tasks/{bob_task}", f"/api/tasks/{bob_task}/stream"):
        r = app_client.get(path, headers=alice)
        assert r.status_code == 404 and r.json()["error"]["code"] == "task_not_found"
    assert app_client.delete(f"/api/tasks/{bob_task}", headers=alice).status_code == 404
    assert app_client.get(f"/api/tasks/{bob_task}", headers=op).status_code == 200
    listed = app_client.get("/api/tasks", params={"owner": "bob", "limit": 500}, headers=alice)
    assert listed.status_code == 200
    assert all(item["owner"] == "alice" for item in listed.json()["items"])
    everyone = app_client.get("/api/tasks", params={"owner": "bob"}, headers=op).json()["items"]
    assert bob_task in {item["task_id"] for item in everyone}


def test_cancel_rules(app_client: Any, tokens: dict[str, str], service: CeleryTaskService) -> None:
    mine = service.enqueue("testing.record", ["x", "z"], owner="alice")
    r = app_client.delete(
        f"/api/tasks/{mine}", params={"terminate": "true"}, headers=auth(tokens["alice"])
    )
    assert r.status_code == 403
    r = app_client.delete(f"/api/tasks/{mine}", headers=auth(tokens["alice"]))
    assert r.status_code == 200 and r.json()["previous_state"] == "PENDING"
    again = app_client.delete(f"/api/tasks/{mine}", headers=auth(tokens["operator"]))
    assert again.status_code == 409


def test_stream_of_finished_task_sends_snapshot(
    app_client: Any, tokens: dict[str, str], alice_failed: str
) -> None:
    with app_client.stream(
        "GET", f"/api/tasks/{alice_failed}/stream", headers=auth(tokens["alice"])
    ) as r:
        assert r.status_code == 200
        text = "".join(r.iter_text())
    assert "event: status" in text and '"state": "FAILURE"' in text


def _count_records(service: CeleryTaskService) -> int:
    return int(service.redis.zcard(service.keys.index_all))


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({"name": "no.such.task"}, 422, "unknown_task"),
        ({"name": "maintenance.ping", "queue": "nowhere"}, 422, "unknown_queue"),
        ({"name": "maintenance.ping", "priority": "URGENTISSIMO"}, 422, "invalid_priority"),
        ({"name": "maintenance.ping", "countdown": -1}, 422, "validation_error"),
        ({"name": "maintenance.ping", "unexpected": 1}, 422, "validation_error"),
    ],
)
def test_bad_input_is_refused_and_enqueues_nothing(
    app_client: Any,
    tokens: dict[str, str],
    service: CeleryTaskService,
    body: Any,
    status: int,
    code: str,
) -> None:
    before = _count_records(service)
    r = submit(app_client, tokens["operator"], body)
    assert r.status_code == status, r.text
    assert r.json()["error"]["code"] == code
    assert _count_records(service) == before


def test_malformed_json_and_oversized_body(
    app_client: Any, tokens: dict[str, str], service: CeleryTaskService
) -> None:
    before = _count_records(service)
    headers = {**auth(tokens["operator"]), "Content-Type": "application/json"}
    r = app_client.post("/api/tasks", content=b'{"name": "maintenance.ping",', headers=headers)
    assert r.status_code == 400 and r.json()["error"]["code"] == "malformed_json"
    huge = json.dumps({"name": "maintenance.ping", "metadata": {"x": "a" * 2_000_000}})
    r = app_client.post("/api/tasks", content=huge, headers=headers)
    assert r.status_code == 413 and r.json()["error"]["code"] == "payload_too_large"
    assert _count_records(service) == before


def test_concurrent_requests_with_one_idempotency_key_make_one_task(
    app_client: Any, tokens: dict[str, str], service: CeleryTaskService
) -> None:
    key = f"idem-{uuid.uuid4().hex}"
    before = _count_records(service)

    def call(_: int) -> Any:
        body = {"name": "testing.flaky", "args": [key, 0], "queue": "reports"}
        return submit(app_client, tokens["operator"], body, **{"Idempotency-Key": key})

    with ThreadPoolExecutor(max_workers=20) as pool:
        responses = list(pool.map(call, range(20)))
    assert all(r.status_code == 202 for r in responses)
    ids = {r.json()["task_id"] for r in responses}
    assert len(ids) == 1
    assert sum(r.json()["created"] for r in responses) == 1
    assert _count_records(service) == before + 1


def test_health_ready_docs_metrics(
    app_client: Any, tokens: dict[str, str], redis_client: Any, worker: Any
) -> None:
    assert app_client.get("/health").json() == {"status": "ok"}
    ready = app_client.get("/ready")
    assert ready.status_code == 200 and ready.json()["checks"]["workers"] >= 1
    spec = app_client.get("/openapi.json").json()
    assert "/api/tasks/{task_id}" in spec["paths"] and "/api/tasks/stats" in spec["paths"]
    # Finding 10: /metrics needs an operator's token (or METRICS_TOKEN); a client's is refused.
    assert app_client.get("/metrics").status_code == 401
    assert app_client.get("/metrics", headers=auth(tokens["alice"])).status_code == 403
    # A scrape (and /ready) writes nothing to Redis: a stale worker entry stays for the reaper.
    stale = f"gone-{uuid.uuid4().hex}"
    redis_client.zadd(keys.workers, {stale: 1.0})
    metrics = app_client.get("/metrics", headers=auth(tokens["operator"])).text
    assert "ltq_queue_depth" in metrics and "ltq_http_requests_total" in metrics
    app_client.get("/ready")
    assert redis_client.zscore(keys.workers, stale) == 1.0
    redis_client.zrem(keys.workers, stale)


def test_stream_follows_a_running_task_to_the_end(
    app_client: Any, tokens: dict[str, str], service: CeleryTaskService, worker: Any
) -> None:
    from backend.core.db.models import Case
    from backend.core.db.session import session_scope

    with session_scope() as session:
        case = Case(owner="alice", title="Dúvida", description="Quero saber sobre aposentadoria.")
        session.add(case)
        session.flush()
        case_id = case.id
    # Held back 1 s so the stream is open before the worker starts it.
    task_id = service.enqueue("triage.classify_case", [case_id], owner="alice", countdown=1)
    events = []
    with app_client.stream(
        "GET", f"/api/tasks/{task_id}/stream", headers=auth(tokens["alice"])
    ) as r:
        for line in r.iter_lines():
            if line.startswith("event:"):
                events.append(line.split(":", 1)[1].strip())
    assert events[0] == "status"
    assert events[-1] == "success"
    assert "started" in events and events.count("progress") == 2

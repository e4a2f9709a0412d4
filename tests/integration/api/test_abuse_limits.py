"""Finding 3 (and 10): one token cannot starve the others. Open SSE streams per user are capped
(429 beyond) and each lives at most SSE_MAX_LIFETIME_S, then the client resumes with
`Last-Event-ID`; task metadata is capped; cases, uploads, stored bytes, e-mail recipients and
reports have per-user quotas. A client's view of a task carries no host names or raw errors."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from backend.core.security.tokens import issue_token
from backend.core.settings import settings
from backend.platform.enqueue import CeleryTaskService
from backend.platform.submissions import TaskRequest
from tests.support.http import auth
from tests.support.processes import ApiProcess
from tests.support.waiting import wait_for_state


@pytest.fixture(scope="module")
def service(redis_server: Any) -> CeleryTaskService:
    from backend.adapters.redis_clients import get_redis

    return CeleryTaskService(get_redis())


@pytest.fixture(scope="module")
def small_api(services: Any) -> Iterator[ApiProcess]:
    """A real API process with small stream limits: 2 per user, 2 seconds each."""
    import os

    env = {**os.environ, "SSE_MAX_STREAMS_PER_USER": "2", "SSE_MAX_LIFETIME_S": "2"}
    api = ApiProcess(env=env).start()
    yield api
    api.stop()


def fresh_client() -> tuple[str, str]:
    user = f"u-{uuid.uuid4().hex[:10]}"
    return user, issue_token(user, "client")


def waiting_task(service: CeleryTaskService, owner: str) -> str:
    """A task that stays queued for an hour: its stream would stay open that long."""
    return service.submit(TaskRequest("maintenance.ping", owner=owner, countdown=3000)).task_id


def sse_events(response: httpx.Response) -> Iterator[tuple[str, str | None, str]]:
    event, event_id = "message", None
    for line in response.iter_lines():
        if line.startswith("event:"):
            event = line.split(":", 1)[1].strip()
        elif line.startswith("id:"):
            event_id = line.split(":", 1)[1].strip()
        elif line.startswith("data:"):
            yield event, event_id, line.split(":", 1)[1].strip()
            event, event_id = "message", None


def test_streams_per_user_are_capped_and_freed_on_close(
    small_api: ApiProcess, service: CeleryTaskService
) -> None:
    user, token = fresh_client()
    _, other = fresh_client()
    task_id = waiting_task(service, user)
    url = f"{small_api.url}/api/tasks/{task_id}/stream"
    with httpx.Client(timeout=10) as client:
        with (
            client.stream("GET", url, headers=auth(token)) as first,
            client.stream("GET", url, headers=auth(token)) as second,
        ):
            assert first.status_code == second.status_code == 200
            third = client.get(url, headers=auth(token))
            assert third.status_code == 429 and third.headers["Retry-After"]
            assert third.json()["error"]["code"] == "rate_limited"
            # Other users are not affected by this one's streams.
            other_task = waiting_task(service, other.split(".")[0])
            assert client.get(f"{small_api.url}/api/tasks/{other_task}", headers=auth(other))
        # Both closed: the slots are free again (given back as the server sees the hang-up).
        deadline = time.monotonic() + 10
        while (
            again := client.get(f"{url}?probe", headers=auth(token), timeout=5)
        ).status_code != 200:
            assert again.status_code == 429 and time.monotonic() < deadline
            time.sleep(0.2)


def test_a_stream_ends_at_its_lifetime_and_resumes_with_last_event_id(
    small_api: ApiProcess, service: CeleryTaskService
) -> None:
    user, token = fresh_client()
    task_id = waiting_task(service, user)
    url = f"{small_api.url}/api/tasks/{task_id}/stream"
    with httpx.Client(timeout=30) as client:
        with client.stream("GET", url, headers=auth(token)) as r:
            events = list(sse_events(r))  # ends by itself after about 2 seconds
        assert [e for e, _, _ in events] == ["status", "reconnect"]
        last_id = events[0][1]
        assert last_id is not None
        # Resumed: the snapshot it has already seen is not sent again.
        headers = auth(token) | {"Last-Event-ID": last_id}
        with client.stream("GET", url, headers=headers) as r:
            resumed = list(sse_events(r))
        assert [e for e, _, _ in resumed] == ["reconnect"]
        # A client whose snapshot is out of date gets the current one.
        service.cancel(task_id, requested_by=user)
        with client.stream("GET", url, headers=headers) as r:
            caught_up = list(sse_events(r))
        assert caught_up[0][0] == "status" and json.loads(caught_up[0][2])["state"] == "REVOKED"


def test_task_metadata_is_capped(app_client: Any, tokens: dict[str, str]) -> None:
    big = {"name": "maintenance.ping", "metadata": {"blob": "x" * (17 * 1024)}}
    r = app_client.post("/api/tasks", json=big, headers=auth(tokens["alice"]))
    assert r.status_code == 413 and r.json()["error"]["code"] == "payload_too_large"
    small = {"name": "maintenance.ping", "metadata": {"blob": "x" * 1024}}
    assert (
        app_client.post("/api/tasks", json=small, headers=auth(tokens["alice"])).status_code == 202
    )


def test_cases_and_email_recipients_have_quotas(
    app_client: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(settings.security, "cases_per_day", 3)
    monkeypatch.setattr(settings.security, "email_recipients_per_hour", 2)
    _, token = fresh_client()
    case = {"title": "Despejo", "description": "Aluguel atrasado"}
    mailed = {**case, "client_email": "cliente@example.com"}
    assert app_client.post("/api/triage", json=mailed, headers=auth(token)).status_code == 202
    # A batch that would mail two more recipients is over the hourly quota: nothing created.
    batch = {"cases": [mailed, mailed]}
    over = app_client.post("/api/triage/batch", json=batch, headers=auth(token))
    assert over.status_code == 429 and over.json()["error"]["code"] == "quota_exceeded"
    assert int(over.headers["Retry-After"]) > 0
    assert app_client.post("/api/triage", json=case, headers=auth(token)).status_code == 202
    assert app_client.post("/api/triage", json=case, headers=auth(token)).status_code == 202
    fourth = app_client.post("/api/triage", json=case, headers=auth(token))
    assert fourth.status_code == 429 and "cases per day" in fourth.json()["error"]["message"]


def test_uploads_and_stored_bytes_have_quotas(
    app_client: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(settings.security, "uploads_per_day", 2)
    monkeypatch.setattr(settings.security, "upload_bytes_per_user", 3000)
    _, token = fresh_client()
    case = {"title": "Despejo", "description": "Aluguel atrasado"}
    case_id = app_client.post("/api/triage", json=case, headers=auth(token)).json()["case_id"]

    def upload(size: int) -> httpx.Response:
        files = {"file": ("a.txt", b"a" * size, "text/plain")}
        response: httpx.Response = app_client.post(
            "/api/documents", data={"case_id": case_id}, files=files, headers=auth(token)
        )
        return response

    assert upload(2000).status_code == 202
    too_much = upload(2000)  # 4000 bytes stored would be over 3000
    assert too_much.status_code == 429 and "bytes" in too_much.json()["error"]["message"]
    assert upload(500).status_code == 202
    assert upload(10).status_code == 429  # the third upload of the day


def test_a_clients_task_record_carries_no_host_names_or_raw_errors(
    app_client: Any, tokens: dict[str, str], service: CeleryTaskService, worker: Any
) -> None:
    key = uuid.uuid4().hex
    task_id = service.submit(
        TaskRequest("testing.always_fail", [key], owner="alice", owner_role="client")
    ).task_id
    wait_for_state(service.status.get, task_id, {"FAILURE"})
    mine = app_client.get(f"/api/tasks/{task_id}", headers=auth(tokens["alice"])).json()
    ops = app_client.get(f"/api/tasks/{task_id}", headers=auth(tokens["operator"])).json()
    assert ops["worker"] and ops["worker"] in json.dumps(ops)
    assert mine["worker"] is None and ops["worker"] not in json.dumps(mine)
    assert mine["error"]["type"] == ops["error"]["type"]
    assert mine["error"]["message"] == "the task failed" != ops["error"]["message"]

"""Dead-letter store on a real worker, Redis and database: final failures, unknown and garbage
messages land there; replay (one, many), discard, API roles and CLI."""

from __future__ import annotations

import json
import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime
from typing import Any

import pytest

from backend.core.db.models import DeadLetter
from backend.core.db.session import session_scope
from backend.core.errors import Conflict, DeadLetterNotFound
from backend.core.keys import keys
from backend.platform import dead_letters
from backend.platform.dead_letters import DeadLetterFilter
from backend.platform.enqueue import CeleryTaskService
from backend.platform.messages import build_message
from tests.support.http import auth
from tests.support.waiting import wait_for_state


@pytest.fixture()
def service(redis_client: Any) -> CeleryTaskService:
    return CeleryTaskService(redis_client)


def wait_for_entry(task_id: str, timeout: float = 20) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            return dead_letters.get(task_id)
        except DeadLetterNotFound:
            time.sleep(0.05)
    raise AssertionError(f"no dead-letter entry for {task_id}")


def failed_task(service: CeleryTaskService, owner: str = "alice") -> tuple[str, str]:
    key = uuid.uuid4().hex
    task_id = service.enqueue(
        "testing.always_fail", [key], owner=owner, retry_policy={"max_attempts": 2}
    )
    wait_for_state(service.status.get, task_id, {"FAILURE"})
    return task_id, key


def test_final_failure_lands_with_args_error_traceback_history(
    service: CeleryTaskService, worker: Any
) -> None:
    task_id, key = failed_task(service)
    entry = wait_for_entry(task_id)
    assert entry["reason"] == "failed"
    assert entry["name"] == "testing.always_fail" and entry["queue"] == "maintenance"
    assert entry["owner"] == "alice" and entry["args"] == [key] and entry["kwargs"] == {}
    assert entry["error"] == {"type": "RuntimeError", "message": "this task always fails"}
    assert "RuntimeError" in entry["traceback"] and "always_fail" in entry["traceback"]
    states = [h["state"] for h in entry["history"]]
    assert states[0] == "PENDING" and "RETRY" in states and states[-1] == "FAILURE"
    assert entry["attempts"] == 2 and entry["replayed_as"] is None


def test_replay_runs_a_new_attempt_linked_both_ways(
    service: CeleryTaskService, worker: Any, redis_client: Any
) -> None:
    task_id, key = failed_task(service)
    wait_for_entry(task_id)
    new_id = dead_letters.replay(task_id, requested_by="olga", service=service)
    new = wait_for_state(service.status.get, new_id, {"FAILURE"})
    old = service.status.get(task_id)
    assert new["retry_of"] == task_id and new["owner"] == "alice"
    assert old is not None and old["retried_by"] == new_id
    assert dead_letters.get(task_id)["replayed_as"] == new_id
    # 2 attempts, then the spec's 4 (the per-enqueue policy override is not carried over)
    assert int(redis_client.get(f"test:{key}:attempts")) == 6
    with pytest.raises(Conflict, match="already replayed"):
        dead_letters.replay(task_id, requested_by="olga", service=service)
    # The replay failed for good too: it has an entry of its own.
    assert wait_for_entry(new_id)["args"] == [key]


def ping_succeeds(service: CeleryTaskService) -> None:
    ping = service.enqueue("maintenance.ping")
    assert wait_for_state(service.status.get, ping, {"SUCCESS", "FAILURE"})["state"] == "SUCCESS"


def test_unknown_task_name_lands_and_worker_keeps_serving(
    service: CeleryTaskService, worker: Any, redis_client: Any
) -> None:
    task_id = str(uuid.uuid4())
    message = build_message(
        task_id=task_id,
        task_name="testing.no_such_task",
        queue="maintenance",
        broker_priority=0,
        args=["CPF 123.456.789-09"],
        kwargs={},
    )
    redis_client.lpush(keys.broker_queue("maintenance", 0), message)
    entry = wait_for_entry(task_id)
    assert entry["reason"] == "unknown_task" and entry["name"] == "testing.no_such_task"
    assert entry["queue"] == "maintenance"
    assert "123.456.789-09" not in (entry["traceback"] or "")
    assert "123.456.789-09" not in worker.log.read_text()
    ping_succeeds(service)
    assert redis_client.llen(keys.broker_queue("maintenance", 0)) == 0


def test_garbage_message_lands_and_worker_keeps_serving(
    service: CeleryTaskService, worker: Any, redis_client: Any
) -> None:
    marker = uuid.uuid4().hex
    redis_client.lpush(keys.broker_queue("maintenance", 0), f"{{not json {marker}")
    deadline = time.monotonic() + 20
    found: list[dict[str, Any]] = []
    while time.monotonic() < deadline and not found:
        page = dead_letters.list_entries(DeadLetterFilter(reason="undecodable"), limit=500)
        found = [e for e in page.items if marker in (e["traceback"] or "")]
        time.sleep(0.1)
    assert found, worker.log.read_text()[-3000:]
    ping_succeeds(service)


def test_replay_many_by_filter(service: CeleryTaskService, worker: Any) -> None:
    since = datetime.now(UTC)
    failed = [failed_task(service)[0] for _ in range(2)]
    for task_id in failed:
        wait_for_entry(task_id)
    outcome = dead_letters.replay_many(
        DeadLetterFilter(name="testing.always_fail", since=since),
        requested_by="olga",
        service=service,
    )
    by_original = {r["task_id"]: r["new_task_id"] for r in outcome["replayed"]}
    assert set(failed) <= set(by_original)
    for task_id in failed:
        new = wait_for_state(service.status.get, by_original[task_id], {"FAILURE", "SUCCESS"})
        assert new["retry_of"] == task_id
    again = dead_letters.replay_many(
        DeadLetterFilter(name="testing.always_fail", since=since),
        requested_by="olga",
        service=service,
    )
    assert not set(failed) & {r["task_id"] for r in again["replayed"]}


def test_discard_then_no_replay(service: CeleryTaskService, worker: Any) -> None:
    task_id, _ = failed_task(service)
    wait_for_entry(task_id)
    assert dead_letters.discard(task_id)["discarded_at"]
    with pytest.raises(Conflict, match="discarded"):
        dead_letters.replay(task_id, requested_by="olga", service=service)
    with pytest.raises(Conflict):
        dead_letters.discard(task_id)
    page = dead_letters.list_entries(DeadLetterFilter(name="testing.always_fail"), limit=500)
    assert task_id not in {e["task_id"] for e in page.items}
    with pytest.raises(DeadLetterNotFound):
        dead_letters.discard(str(uuid.uuid4()))


def test_entry_survives_redis_loss_and_replays_from_sql(
    service: CeleryTaskService, worker: Any, clean_redis: Any
) -> None:
    task_id, key = failed_task(service)
    before = wait_for_entry(task_id)
    clean_redis.flushdb()  # every task record, history and key gone, as after losing Redis
    assert service.status.get(task_id) is None
    assert dead_letters.get(task_id) == before
    new_id = dead_letters.replay(task_id, requested_by="olga", service=service)
    new = wait_for_state(service.status.get, new_id, {"FAILURE"})
    assert new["retry_of"] == task_id and new["owner"] == "alice" and new["name"] == before["name"]
    assert clean_redis.exists(keys.task(task_id)) == 0  # no stub record for the expired one
    assert int(clean_redis.get(f"test:{key}:attempts")) == 4


def test_an_entry_without_priority_replays_with_the_specs_default(
    service: CeleryTaskService, worker: Any, clean_redis: Any
) -> None:
    # Entries written for messages that carried none (e.g. published by another producer).
    task_id, _key = failed_task(service)
    wait_for_entry(task_id)
    with session_scope() as session:
        entry = session.get(DeadLetter, task_id)
        assert entry is not None
        entry.priority = None
    clean_redis.flushdb()  # the record gone: the replay reads the entry
    new_id = dead_letters.replay(task_id, requested_by="olga", service=service)
    new = wait_for_state(service.status.get, new_id, {"FAILURE"})
    assert new["retry_of"] == task_id and new["priority"] == "NORMAL"


def test_api_lists_replays_discards_operators_only(
    service: CeleryTaskService, worker: Any, app_client: Any, tokens: dict[str, str]
) -> None:
    replay_me, _ = failed_task(service)
    discard_me, _ = failed_task(service)
    wait_for_entry(replay_me)
    wait_for_entry(discard_me)
    client, operator = auth(tokens["alice"]), auth(tokens["operator"])
    for method, path in (
        ("GET", "/api/tasks/dead-letter"),
        ("POST", f"/api/tasks/dead-letter/{replay_me}/replay"),
        ("POST", "/api/tasks/dead-letter/replay"),
        ("DELETE", f"/api/tasks/dead-letter/{discard_me}"),
    ):
        resp = app_client.request(method, path, headers=client, json={})
        assert resp.status_code == 403, (method, path)
        assert resp.json()["error"]["code"] == "forbidden"

    # Page one entry at a time: every entry comes exactly once, newest first. (Other tests'
    # failing tasks may land here meanwhile, so no fixed positions are assumed.)
    seen: list[dict[str, Any]] = []
    cursor = None
    while True:
        params: dict[str, Any] = {"name": "testing.always_fail", "reason": "failed", "limit": 1}
        if cursor:
            params["cursor"] = cursor
        resp = app_client.get("/api/tasks/dead-letter", params=params, headers=operator)
        assert resp.status_code == 200
        body = resp.json()
        assert len(body["items"]) <= 1
        seen.extend(body["items"])
        cursor = body["next_cursor"]
        if not cursor:
            break
    ids = [item["task_id"] for item in seen]
    assert len(ids) == len(set(ids)) and {replay_me, discard_me} <= set(ids)
    # Operators see no stack trace; an admin's raw view (audited) has it.
    assert all(item["traceback"] is None for item in seen)
    raw = app_client.get(
        "/api/tasks/dead-letter", params={"name": "testing.always_fail", "raw": "true"},
        headers=auth(tokens["admin"]),
    ).json()["items"]  # fmt: skip
    assert any("RuntimeError" in (item["traceback"] or "") for item in raw)
    stamps = [item["created_at"] for item in seen]
    assert stamps == sorted(stamps, reverse=True)

    resp = app_client.post(f"/api/tasks/dead-letter/{replay_me}/replay", headers=operator)
    assert resp.status_code == 202
    new_id = resp.json()["replayed_as"]
    assert wait_for_state(service.status.get, new_id, {"FAILURE"})["retry_of"] == replay_me
    resp = app_client.post(f"/api/tasks/dead-letter/{replay_me}/replay", headers=operator)
    assert resp.status_code == 409 and resp.json()["error"]["code"] == "conflict"

    # Discarding is for admins (issue 10): an operator is refused.
    admin = auth(tokens["admin"])
    resp = app_client.delete(f"/api/tasks/dead-letter/{discard_me}", headers=operator)
    assert resp.status_code == 403
    resp = app_client.delete(f"/api/tasks/dead-letter/{discard_me}", headers=admin)
    assert resp.status_code == 200 and resp.json()["discarded_at"]
    assert (
        app_client.delete(f"/api/tasks/dead-letter/{discard_me}", headers=admin).status_code == 409
    )
    missing = app_client.post(f"/api/tasks/dead-letter/{uuid.uuid4()}/replay", headers=operator)
    assert missing.status_code == 404
    assert missing.json()["error"]["code"] == "dead_letter_not_found"
    bad = app_client.get("/api/tasks/dead-letter", params={"reason": "nope"}, headers=operator)
    assert bad.status_code == 422

    resp = app_client.post(
        "/api/tasks/dead-letter/replay",
        json={"name": "testing.no_such_task", "reason": "unknown_task"},
        headers=operator,
    )
    assert resp.status_code == 202
    assert resp.json()["task_ids"] == []  # an unknown task cannot run: skipped, not replayed


def test_cli_lists_replays_and_discards(service: CeleryTaskService, worker: Any) -> None:
    replay_me, _ = failed_task(service)
    discard_me, _ = failed_task(service)
    wait_for_entry(replay_me)
    wait_for_entry(discard_me)

    def cli(*argv: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "backend", "dead-letter", *argv],
            capture_output=True, text=True, timeout=60, check=False,
        )  # fmt: skip

    listed = cli("list", "--name", "testing.always_fail", "--limit", "500")
    assert listed.returncode == 0, listed.stderr
    assert {replay_me, discard_me} <= {
        json.loads(line)["task_id"] for line in listed.stdout.splitlines()
    }
    replayed = cli("replay", replay_me)
    assert replayed.returncode == 0
    new_id = replayed.stdout.strip().splitlines()[-1]  # after any log line
    assert wait_for_state(service.status.get, new_id, {"FAILURE"})["retry_of"] == replay_me
    assert cli("discard", discard_me).returncode == 0
    again = cli("discard", discard_me)
    assert again.returncode == 1 and "discarded" in again.stderr


def test_hard_time_limit_lands(service: CeleryTaskService, worker: Any) -> None:
    # on_failure runs in the worker's main process here: the pool child was killed.
    task_id = service.enqueue("testing.stubborn", [uuid.uuid4().hex, True])
    wait_for_state(service.status.get, task_id, {"FAILURE"}, timeout=30)
    entry = wait_for_entry(task_id)
    assert entry["error"]["type"] == "TimeLimitExceeded" and entry["reason"] == "failed"
    assert entry["history"][-1]["state"] == "FAILURE"

"""No task lost when Redis is down at enqueue time: the transactional outbox and its relay.

The test Redis is really stopped mid-run and started again; a real worker runs what the relay
publishes. Also: a process that died between commit and publish (the relay publishes), and one
that died between publish and deleting its outbox row (published twice, runs once).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select

from backend.core.db.models import Case, OutboxEntry
from backend.core.db.session import session_scope
from backend.devtools.redis_server import RedisServer
from backend.platform.enqueue import CeleryTaskService
from backend.platform.outbox import ACCEPTED, Outbox, from_payload, stage, to_payload
from backend.platform.submissions import TaskRequest, row_task
from tests.support.http import auth, read_sse
from tests.support.waiting import wait_for, wait_for_state


def _case(title: str) -> dict[str, str]:
    return {
        "title": title,
        "description": "Fui demitido sem justa causa e não recebi as verbas rescisórias.",
    }


def _outbox_rows(task_ids: list[str]) -> int:
    with session_scope() as session:
        query = select(func.count()).where(OutboxEntry.task_id.in_(task_ids))
        return int(session.execute(query).scalar_one())


def _started_count(record: dict[str, Any]) -> int:
    return sum(1 for h in record["history"] if h["state"] == "STARTED")


@pytest.fixture
def redis_down(redis_server: RedisServer) -> Iterator[RedisServer]:
    """Stops the test Redis; the test starts it again (and it is restarted if the test fails)."""
    redis_server.stop()
    try:
        yield redis_server
    finally:
        redis_server.start()


def test_redis_down_api_accepts_into_the_outbox_and_the_relay_publishes_once_back(
    app_client: Any,
    tokens: dict[str, str],
    redis_client: Any,
    worker: Any,
    redis_down: RedisServer,
) -> None:
    alice = auth(tokens["alice"])
    key = {"Idempotency-Key": f"outage-{uuid.uuid4().hex}"}
    # While Redis is down: 202, accepted but not queued; a retried request is the same case.
    first = app_client.post("/api/triage", json=_case("Durante a queda"), headers=alice | key)
    assert first.status_code == 202, first.text
    accepted = first.json()
    assert accepted["queued"] is False and accepted["created"] is True
    again = app_client.post("/api/triage", json=_case("Durante a queda"), headers=alice | key)
    assert again.status_code == 202
    assert (again.json()["case_id"], again.json()["task_id"]) == (
        accepted["case_id"],
        accepted["task_id"],
    )
    assert again.json()["queued"] is False
    generic = app_client.post(
        "/api/tasks", json={"name": "testing.flaky", "args": [uuid.uuid4().hex, 0]}, headers=alice
    )
    assert generic.status_code == 202, generic.text
    assert generic.json()["queued"] is False
    task_ids = [accepted["task_id"], generic.json()["task_id"]]

    # Its status reads ACCEPTED, from the outbox; /ready says degraded, with the backlog.
    status = app_client.get(f"/api/tasks/{accepted['task_id']}", headers=alice)
    assert status.status_code == 200, status.text
    assert status.json()["state"] == ACCEPTED
    case = app_client.get(f"/api/triage/{accepted['case_id']}", headers=alice).json()
    assert case["state"] == ACCEPTED and case["task_id"] == accepted["task_id"]
    ready = app_client.get("/ready")
    assert ready.status_code == 200
    body = ready.json()
    assert body["status"] == "degraded" and body["checks"]["redis"] != "ok"
    assert body["checks"]["outbox"]["pending"] >= 2
    assert _outbox_rows(task_ids) == 2

    # Redis is back: the API's relay publishes both (after its grace period), a worker runs them.
    redis_down.start()
    # Followed live from ACCEPTED (the relay waits OUTBOX_RELAY_GRACE_S = 5 s) to the end.
    events = read_sse(app_client, f"/api/tasks/{task_ids[1]}/stream", tokens["alice"])
    states = [data["state"] for _, data in events]
    assert states[0] == ACCEPTED and states[-1] == "SUCCESS"
    service = CeleryTaskService(redis_client)
    for task_id in task_ids:
        record = wait_for_state(service.status.get, task_id, {"SUCCESS"}, timeout=60)
        assert _started_count(record) == 1 and record["attempts"] == 1
    assert _outbox_rows(task_ids) == 0
    triaged = app_client.get(f"/api/triage/{accepted['case_id']}", headers=alice).json()
    assert triaged["status"] == "triaged" and triaged["state"] == "SUCCESS"
    # Only one case for the key, and the relay does not publish it again.
    with session_scope() as session:
        assert session.scalar(select(func.count()).where(Case.id == accepted["case_id"])) == 1
    assert Outbox(service).drain() == 0
    assert app_client.get("/ready").json()["status"] == "ready"


def test_a_process_that_died_after_commit_is_covered_by_the_relay(
    redis_client: Any, worker: Any
) -> None:
    """Staged and committed, never published (the API process died): the relay publishes it;
    published again (died before deleting its outbox row): created once, run once."""
    service = CeleryTaskService(redis_client)
    outbox = Outbox(service)
    case_id = str(uuid.uuid4())
    with session_scope() as session:
        [staged] = stage(
            session, [row_task("triage.classify_case", case_id, owner="alice", key="triage")]
        )
        session.add(
            Case(
                id=case_id,
                owner="alice",
                title="Sem publicação",
                description="Contrato de aluguel com cláusula abusiva de multa.",
                task_id=staged.task_id,
            )
        )
    task_id = str(staged.task_id)
    assert service.status.get(task_id) is None
    assert outbox.relay_once(grace_s=0) >= 1
    record = wait_for_state(service.status.get, task_id, {"SUCCESS"})
    # The crash between publishing and deleting the row: the row is back, published again.
    with session_scope() as session:
        session.add(
            OutboxEntry(
                task_id=task_id, owner="alice", task_name=staged.task_name,
                payload=to_payload(staged),
            )
        )  # fmt: skip
    assert outbox.relay_once(grace_s=0) >= 1
    assert _outbox_rows([task_id]) == 0
    wait_for(lambda: service.status.get(task_id) is not None, 5, "record")
    after = service.status.get(task_id)
    assert after is not None and after["state"] == "SUCCESS"
    assert _started_count(after) == _started_count(record) == 1
    # And the second publish pushed no second message: the queue holds nothing for it.
    queue = service.keys.broker_queue("triage", 6)
    assert not any(task_id in m for m in redis_client.lrange(queue, 0, -1))


def test_publishing_a_staged_task_twice_queues_one_message(redis_client: Any) -> None:
    """On a queue no test worker consumes, so the messages can be counted."""
    service = CeleryTaskService(redis_client)
    queue = service.keys.broker_queue("reports", 6)
    with session_scope() as session:
        [staged] = stage(session, [TaskRequest("testing.record", [uuid.uuid4().hex])])
    before = redis_client.llen(queue)
    try:
        assert Outbox(service).publish([staged]) is True
        assert service.enqueue_many([staged]) == [staged.task_id]  # the relay's second go
        assert redis_client.llen(queue) == before + 1
        assert service.status.get(str(staged.task_id))["state"] == "PENDING"  # type: ignore[index]
    finally:
        for message in redis_client.lrange(queue, 0, -1):
            if str(staged.task_id) in message:
                redis_client.lrem(queue, 0, message)


def test_a_staged_countdown_keeps_its_eta_when_published_late() -> None:
    before = datetime.now(UTC)
    req = TaskRequest("maintenance.ping", countdown=60, owner="alice", task_id="t-1")
    back = from_payload(to_payload(req))
    assert back.countdown is None and back.eta is not None
    assert before + timedelta(seconds=59) <= back.eta <= datetime.now(UTC) + timedelta(seconds=61)
    assert (back.task_id, back.owner, back.task_name) == ("t-1", "alice", "maintenance.ping")


def test_the_first_reads_after_a_redis_restart_succeed(
    app_client: Any, tokens: dict[str, str], redis_client: Any, redis_server: RedisServer
) -> None:
    """Pooled connections that Redis closed when it restarted are replaced on the spot."""
    alice = auth(tokens["alice"])
    task_id = CeleryTaskService(redis_client).enqueue("testing.record", ["x"], owner="alice")
    assert app_client.get(f"/api/tasks/{task_id}", headers=alice).status_code == 200
    redis_server.stop()
    redis_server.start()
    for _ in range(3):
        r = app_client.get(f"/api/tasks/{task_id}", headers=alice)
        assert r.status_code == 200, r.text
    queue = CeleryTaskService(redis_client).keys.broker_queue("reports", 6)
    for message in redis_client.lrange(queue, 0, -1):
        if task_id in message:
            redis_client.lrem(queue, 0, message)

"""Task lifecycle on a real Redis and a real worker process: success, retries, failure, cancel."""

from __future__ import annotations

import itertools
import time
import uuid
from typing import Any

import pytest

from backend.core.errors import Conflict, DeadLetterNotFound
from backend.platform import dead_letters
from backend.platform.enqueue import CeleryTaskService
from tests.support.waiting import wait_for, wait_for_state


@pytest.fixture()
def service(redis_client: Any) -> CeleryTaskService:
    return CeleryTaskService(redis_client)


def states(record: dict[str, Any]) -> list[str]:
    return [h["state"] for h in record["history"]]


def test_success_is_tracked_from_enqueue_to_result(service: CeleryTaskService, worker: Any) -> None:
    task_id = service.enqueue("maintenance.ping", owner="alice", priority="HIGH")
    # The record exists before the message can be consumed: never a 404 right after enqueue.
    assert service.status.get(task_id) is not None
    record = wait_for_state(service.status.get, task_id, {"SUCCESS"})
    assert record["result"]["pong"] is True
    assert record["owner"] == "alice" and record["priority"] == "HIGH"
    assert record["queue"] == "maintenance" and record["worker"] == worker.hostname
    assert states(record) == ["PENDING", "RECEIVED", "STARTED", "SUCCESS"]
    assert record["attempts"] == 1
    assert record["wait_ms"] is not None and record["runtime_ms"] is not None
    assert record["started_at"] and record["finished_at"]


def test_failure_retries_with_growing_delays_then_succeeds(
    service: CeleryTaskService, worker: Any, redis_client: Any
) -> None:
    key = uuid.uuid4().hex
    task_id = service.enqueue("testing.flaky", [key, 2])
    record = wait_for_state(service.status.get, task_id, {"SUCCESS", "FAILURE"})
    assert record["state"] == "SUCCESS"
    assert record["attempts"] == 3
    assert states(record).count("RETRY") == 2
    times = [float(t) for t in redis_client.lrange(f"test:{key}:times", 0, -1)]
    gaps = [b - a for a, b in itertools.pairwise(times)]
    # policy: base 0.5 s doubling, jitter 20 %: first gap in [0.4, 0.5], second in [0.8, 1.0]
    assert len(gaps) == 2 and 0.35 <= gaps[0] < gaps[1]


def test_final_failure_after_max_attempts(
    service: CeleryTaskService, worker: Any, redis_client: Any
) -> None:
    key = uuid.uuid4().hex
    task_id = service.enqueue("testing.always_fail", [key])
    record = wait_for_state(service.status.get, task_id, {"FAILURE"})
    assert record["attempts"] == record["max_attempts"] == 4
    assert int(redis_client.get(f"test:{key}:attempts")) == 4
    assert record["error"] == {"type": "RuntimeError", "message": "this task always fails"}
    assert states(record)[-1] == "FAILURE"


def test_retry_policy_override_per_enqueue(service: CeleryTaskService, worker: Any) -> None:
    task_id = service.enqueue(
        "testing.always_fail", [uuid.uuid4().hex], retry_policy={"max_attempts": 2}
    )
    record = wait_for_state(service.status.get, task_id, {"FAILURE"})
    assert record["attempts"] == 2


def test_cancel_queued_task_never_starts(
    service: CeleryTaskService, worker: Any, redis_client: Any
) -> None:
    key = uuid.uuid4().hex
    task_id = service.enqueue("testing.sleep", [key, 0.1], countdown=2)
    assert service.cancel(task_id, requested_by="olga") == "PENDING"
    time.sleep(3.5)
    assert redis_client.get(f"test:{key}:started") is None
    record = service.status.get(task_id)
    assert record is not None and record["state"] == "REVOKED"
    with pytest.raises(Conflict):
        service.cancel(task_id)


def test_cancel_running_needs_terminate(
    service: CeleryTaskService, worker: Any, redis_client: Any
) -> None:
    key = uuid.uuid4().hex
    task_id = service.enqueue("testing.sleep", [key, 30])
    wait_for_state(service.status.get, task_id, {"STARTED"})
    with pytest.raises(Conflict, match="terminate"):
        service.cancel(task_id)
    assert service.status.get(task_id)["state"] == "STARTED"  # type: ignore[index]
    service.cancel(task_id, terminate=True)
    record = wait_for_state(service.status.get, task_id, {"REVOKED"})
    assert any("terminate" in h["detail"] for h in record["history"])
    time.sleep(1)
    assert redis_client.get(f"test:{key}:finished") is None
    # The worker survives and keeps working.
    ping = service.enqueue("maintenance.ping")
    wait_for_state(service.status.get, ping, {"SUCCESS"})


def test_retry_of_failed_task_links_both_records(service: CeleryTaskService, worker: Any) -> None:
    failed = service.enqueue("testing.always_fail", [uuid.uuid4().hex], owner="alice")
    wait_for_state(service.status.get, failed, {"FAILURE"})
    first = service.retry(failed, requested_by="olga")
    again = service.retry(failed, requested_by="olga")
    assert first.created and not again.created and first.task_id == again.task_id
    new = wait_for_state(service.status.get, first.task_id, {"FAILURE"})
    old = service.status.get(failed)
    assert new["retry_of"] == failed and new["owner"] == "alice"
    assert old is not None and old["retried_by"] == first.task_id
    assert "retried as" in old["history"][-1]["detail"]
    with pytest.raises(Conflict, match="only FAILURE or REVOKED"):
        service.retry(service.enqueue("maintenance.ping"))


def test_enqueue_many_runs_every_task(service: CeleryTaskService, worker: Any) -> None:
    from backend.platform.submissions import TaskRequest

    ids = service.enqueue_many([TaskRequest("maintenance.ping", owner="bulk") for _ in range(300)])
    assert len(set(ids)) == 300
    for task_id in ids:
        wait_for_state(service.status.get, task_id, {"SUCCESS"}, timeout=60)


@pytest.mark.parametrize(
    ("ignore_soft", "error_type"),
    [(False, "SoftTimeLimitExceeded"), (True, "TimeLimitExceeded")],
)
def test_time_limits_fail_the_task_without_retrying(
    service: CeleryTaskService, worker: Any, redis_client: Any, ignore_soft: bool, error_type: str
) -> None:
    key = uuid.uuid4().hex
    task_id = service.enqueue("testing.stubborn", [key, ignore_soft])
    record = wait_for_state(service.status.get, task_id, {"FAILURE"}, timeout=30)
    assert record["error"]["type"] == error_type
    assert record["attempts"] == 1  # a time limit is not retried
    assert redis_client.get(f"test:{key}:soft") == "1"
    # A hard kill replaces the pool child; the worker keeps serving.
    ping = service.enqueue("maintenance.ping")
    wait_for_state(service.status.get, ping, {"SUCCESS"})


def _hard_limit_after(
    service: CeleryTaskService, redis_client: Any, transition: str
) -> tuple[str, dict[str, Any]]:
    """Start a task that outlives its 2 s hard limit, record `transition` on it while it runs
    (as another run, or the child itself, would have), and return its record once the main
    process has reported the hard limit."""
    key = uuid.uuid4().hex
    task_id = service.enqueue("testing.stubborn", [key, True])
    wait_for_state(service.status.get, task_id, {"STARTED"})
    assert service.status.transition(task_id, transition, detail="moved on").applied
    wait_for(lambda: redis_client.get(f"test:{key}:soft") == "1", 10, "the soft limit")
    time.sleep(2.5)  # past the 2 s hard limit: the main process has reported it by now
    record = service.status.get(task_id)
    assert record is not None
    return task_id, record


def test_a_hard_time_limit_of_a_run_the_task_moved_on_from_is_ignored(
    service: CeleryTaskService, worker: Any, redis_client: Any
) -> None:
    """The worker's main process reports a hard time limit for the run it holds; if the task
    has moved on since (under chaos that run was given back and the task deferred or started
    elsewhere), that report must not fail the task for good."""
    # As if the run had been given back and another run deferred it meanwhile.
    _task_id, record = _hard_limit_after(service, redis_client, "deferred")
    assert record["state"] == "RETRY", record
    assert not any(h["state"] == "FAILURE" for h in record["history"])
    ping = service.enqueue("maintenance.ping")
    wait_for_state(service.status.get, ping, {"SUCCESS"})


def test_a_child_lost_after_recording_success_is_not_dead_lettered(
    service: CeleryTaskService, worker: Any, redis_client: Any
) -> None:
    """The child wrote SUCCESS and died before its ack (here: the record is made final while
    the child still runs, then the hard limit kills it): the main process's failure report
    finds a finished task and must not fail it for good."""
    task_id, record = _hard_limit_after(service, redis_client, "success")
    assert record["state"] == "SUCCESS", record
    with pytest.raises(DeadLetterNotFound):
        dead_letters.get(task_id)


def test_a_success_is_acknowledged_in_the_call_that_records_it(
    service: CeleryTaskService, worker: Any, redis_client: Any
) -> None:
    """The child removes the delivery from kombu's unacked hash in its "success" script; the
    main process makes no ack round trip of its own (a MULTI/EXEC per task before)."""
    wait_for_state(service.status.get, service.enqueue("maintenance.ping"), {"SUCCESS"})
    execs = int(redis_client.info("commandstats").get("cmdstat_exec", {}).get("calls", 0))
    ids = [service.enqueue("maintenance.ping") for _ in range(10)]
    for task_id in ids:
        wait_for_state(service.status.get, task_id, {"SUCCESS"})
    wait_for(lambda: redis_client.hlen(service.keys.broker_unacked) == 0, 10, "no unacked left")
    after = int(redis_client.info("commandstats")["cmdstat_exec"]["calls"])
    # One MULTI/EXEC per task remains: kombu filing the delivery as unacked when it fetches it.
    assert after - execs < 15, after - execs


def test_an_outcome_acknowledges_its_delivery_atomically(
    service: CeleryTaskService, redis_client: Any
) -> None:
    """`acknowledges` drops the delivery from the unacked hash and index in the same call as
    the outcome, also when the record was already final (a duplicate run)."""
    unacked, index = service.keys.broker_unacked, service.keys.broker_unacked_index
    task_id = f"ack-{uuid.uuid4()}"  # no message: the record is adopted at its start
    tags = {name: f"{name}-{task_id}" for name in ("run", "duplicate", "other")}
    for tag in tags.values():
        redis_client.hset(unacked, tag, "[]")
        redis_client.zadd(index, {tag: time.time()})
    started = service.status.transition(task_id, "started", fields={"name": "maintenance.ping"})
    assert started.applied and redis_client.hexists(unacked, tags["run"])
    assert service.status.transition(task_id, "success", acknowledges=tags["run"]).applied
    again = service.status.transition(task_id, "success", acknowledges=tags["duplicate"])
    assert not again.applied and again.state == "SUCCESS"
    for name, tag in tags.items():
        assert redis_client.hexists(unacked, tag) == (name == "other"), name
        assert (redis_client.zscore(index, tag) is not None) == (name == "other"), name
    redis_client.hdel(unacked, tags["other"])
    redis_client.zrem(index, tags["other"])
    record = service.status.get(task_id)
    assert record is not None
    assert [h["state"] for h in record["history"]] == ["STARTED", "SUCCESS"]

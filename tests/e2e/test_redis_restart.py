"""A worker outlives Redis restarts that happen while it has a task in flight.

Each cycle starts a long task on a worker of its own (acked late: unacked while it runs, and
the other pool process idle, so a BRPOP is pending), restarts the test Redis (stopped, or
killed as a crash would), and then asks the worker for new work. Before the fix in
backend/worker/transport.py (`Channel._connparams`) the reconnect ended, in most cycles, in
"Unrecoverable error: AttributeError ... 'hostname'" and the worker shut down.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from functools import partial
from typing import Any

import pytest

from backend.core.keys import keys
from backend.devtools.redis_server import RedisServer
from backend.platform.enqueue import CeleryTaskService
from tests.support.processes import WorkerProcess
from tests.support.waiting import wait_for

# `reports`: a queue the shared worker does not serve, so the tasks run on this test's worker.
QUEUE = "reports"
CYCLES = 3
OUTAGE_S = 1.5
# Longer than the outage: the task started before it still runs, and acks, after it.
TASK_S = 5.0
# Celery reconnects 2 s after the first failed attempt, then 4 s later.
AFTER_RESTART_TIMEOUT_S = 20

OUTAGES: dict[str, Callable[[RedisServer], None]] = {
    "stop": RedisServer.stop,
    "kill": RedisServer.kill,
}


def _assert_alive(worker: WorkerProcess, cycle: int) -> None:
    assert worker.proc is not None
    code = worker.proc.poll()
    if code is not None:
        critical = [line[:400] for line in worker.log.read_text().splitlines() if "critic" in line]
        raise AssertionError(f"worker exited ({code}) after Redis restart {cycle}: {critical}")


def _wait_done(
    service: CeleryTaskService, worker: WorkerProcess, task_id: str, cycle: int
) -> dict[str, Any]:
    """The task's final status; fails at once if the worker is gone (it would never come)."""
    deadline = time.monotonic() + AFTER_RESTART_TIMEOUT_S
    while time.monotonic() < deadline:
        _assert_alive(worker, cycle)
        record = service.status.get(task_id)
        if record and record["state"] in {"SUCCESS", "FAILURE"}:
            return record
        time.sleep(0.1)
    _assert_alive(worker, cycle)
    raise AssertionError(f"task {task_id} not done after Redis restart {cycle}")


def _start_task(service: CeleryTaskService, redis_client: Any, key: str) -> str:
    """One task running, unacked (acks late), and one pool process free, so that the worker
    has a BRPOP pending on Redis when it goes away (the case that used to kill it)."""
    task_id = service.enqueue("testing.sleep", [key, TASK_S], queue=QUEUE)
    wait_for(lambda: redis_client.exists(f"test:{key}:started"), timeout=15, what="task running")
    return task_id


def _acked(redis_client: Any, task_id: str) -> bool:
    """Whether the broker no longer holds the task's message as delivered but not acked."""
    return not any(task_id in entry for entry in redis_client.hvals(keys.broker_unacked))


@pytest.mark.parametrize("outage", sorted(OUTAGES))
def test_worker_keeps_serving_across_redis_restarts_with_a_task_in_flight(
    outage: str, worker_factory: Any, redis_server: RedisServer, redis_client: Any
) -> None:
    own: WorkerProcess = worker_factory([QUEUE], concurrency=2)
    service = CeleryTaskService(redis_client)
    try:
        for cycle in range(1, CYCLES + 1):
            key = uuid.uuid4().hex
            running = _start_task(service, redis_client, key)
            OUTAGES[outage](redis_server)
            time.sleep(OUTAGE_S)
            redis_server.start()

            # Still there, and still serving: a task enqueued after the restart completes.
            probe = service.enqueue("testing.record", [key, f"after-{cycle}"], queue=QUEUE)
            assert _wait_done(service, own, probe, cycle)["state"] == "SUCCESS"
            assert redis_client.lrange(f"test:{key}:order", 0, -1) == [f"after-{cycle}"]
            # The task that ran through the outage completes, and its late ack (through the
            # channel of the lost connection) reaches Redis: nothing left to redeliver.
            assert _wait_done(service, own, running, cycle)["state"] == "SUCCESS"
            wait_for(partial(_acked, redis_client, running), 10, "the late ack")
            _assert_alive(own, cycle)
    finally:
        redis_server.start()  # other tests share this Redis
        own.stop()


def test_messages_the_worker_held_but_dropped_on_the_restart_are_given_back(
    worker_factory: Any, redis_server: RedisServer, redis_client: Any
) -> None:
    """A message held until its ETA (a countdown, a deferral) is forgotten by Celery when the
    broker connection breaks, and kombu cannot give it back while Redis is down: it would sit
    in the unacked hash for the visibility timeout, its holder alive. The worker remembers it
    and its reaper thread gives it back once Redis answers; it then runs, once."""
    own: WorkerProcess = worker_factory([QUEUE], concurrency=1, env={"REAPER_INTERVAL_S": "1"})
    service = CeleryTaskService(redis_client)
    key = uuid.uuid4().hex
    try:
        held = service.enqueue("testing.record", [key, "held"], queue=QUEUE, countdown=4)
        wait_for(
            lambda: bool(service.status.get_raw(held).get("held_by")),
            15,
            "the worker to hold the message until due",
        )
        redis_server.stop()
        time.sleep(OUTAGE_S)
        redis_server.start()
        record = _wait_done(service, own, held, 1)
        assert record["state"] == "SUCCESS" and record["attempts"] == 1
        assert redis_client.lrange(f"test:{key}:order", 0, -1) == ["held"]
        assert any("dropped by its worker" in h["detail"] for h in record["history"])
        wait_for(partial(_acked, redis_client, held), 10, "the ack")
    finally:
        redis_server.start()
        own.stop()

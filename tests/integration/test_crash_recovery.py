"""Crash recovery: a task whose whole worker is SIGKILLed mid-run is re-queued by the reaper
within seconds (heartbeat TTL + reaper pass), not after the broker's visibility timeout.
Real worker processes, real Redis; the reaper runs as the real maintenance task."""

from __future__ import annotations

import time
import uuid
from typing import Any

from backend.services.celery_task_service import CeleryTaskService
from tests.conftest import wait_for_state

RECOVERY_BOUND_S = 60  # the requirement; the test heartbeat TTL is 4 s


def run_reaper(service: CeleryTaskService) -> dict[str, Any]:
    task_id = service.enqueue("maintenance.reap_lost_tasks")
    return wait_for_state(service.status.get, task_id, {"SUCCESS"})["result"]  # type: ignore[no-any-return]


def recover(service: CeleryTaskService, task_id: str, killed_at: float) -> float:
    """Run reaper passes (as beat would) until the task starts again; seconds since the kill."""
    deadline = killed_at + RECOVERY_BOUND_S
    while time.monotonic() < deadline:
        record = service.status.get(task_id)
        if record and record["attempts"] >= 2:
            return time.monotonic() - killed_at
        run_reaper(service)
        time.sleep(0.5)
    raise AssertionError(f"task {task_id} not recovered within {RECOVERY_BOUND_S} s")


def start_sleeper(service: CeleryTaskService, seconds: float) -> tuple[str, str]:
    key = uuid.uuid4().hex
    task_id = service.enqueue("testing.sleep", [key, seconds], queue="reports")
    wait_for_state(service.status.get, task_id, {"STARTED"})
    return task_id, key


def test_killed_worker_task_is_requeued_and_completes(
    redis_client: Any, worker: Any, worker_factory: Any
) -> None:
    service = CeleryTaskService(redis_client)
    doomed = worker_factory(["reports"], concurrency=1)
    task_id, key = start_sleeper(service, 2)
    doomed.kill()
    killed_at = time.monotonic()
    rescuer = worker_factory(["reports"], concurrency=1)
    try:
        took = recover(service, task_id, killed_at)
        record = wait_for_state(service.status.get, task_id, {"SUCCESS"}, timeout=30)
    finally:
        rescuer.stop()
    print(f"recovered {took:.1f} s after SIGKILL")
    assert record["attempts"] == 2 and record["worker"] == rescuer.hostname
    assert any(h["state"] == "REQUEUED" for h in record["history"])
    assert redis_client.get(f"test:{key}:finished") == "1"


def test_worker_restarted_under_the_same_hostname_does_not_hide_the_loss(
    redis_client: Any, worker: Any, worker_factory: Any
) -> None:
    service = CeleryTaskService(redis_client)
    hostname = f"fixed-{uuid.uuid4().hex[:6]}@localhost"
    first = worker_factory(["reports"], concurrency=1, hostname=hostname)
    task_id, _ = start_sleeper(service, 2)
    first.kill()
    killed_at = time.monotonic()
    second = worker_factory(["reports"], concurrency=1, hostname=hostname)
    try:
        recover(service, task_id, killed_at)
        record = wait_for_state(service.status.get, task_id, {"SUCCESS"}, timeout=30)
    finally:
        second.stop()
    assert record["attempts"] == 2


def test_a_live_workers_running_task_is_left_alone(
    redis_client: Any, worker: Any, worker_factory: Any
) -> None:
    service = CeleryTaskService(redis_client)
    alive = worker_factory(["reports"], concurrency=1)
    try:
        task_id, _ = start_sleeper(service, 6)
        time.sleep(3)  # past the reaper's grace for fresh deliveries
        result = run_reaper(service)
        assert task_id not in result["requeued"]
        record = wait_for_state(service.status.get, task_id, {"SUCCESS"}, timeout=30)
    finally:
        alive.stop()
    assert record["attempts"] == 1

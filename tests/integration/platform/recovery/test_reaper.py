"""Crash recovery: the messages of a worker SIGKILLed mid-run, or holding tasks until their ETA,
go back to their queue within seconds (heartbeat TTL + a reaper pass), not after the broker's
visibility timeout. Real worker processes and Redis; the reaper is the thread every worker's
main process runs (no beat in the tests), and concurrent passes never push a message twice.
Recovery times are printed (pytest -s)."""

from __future__ import annotations

import json
import re
import threading
import time
import uuid
from datetime import datetime
from typing import Any

from backend.core.keys import keys
from backend.platform.enqueue import CeleryTaskService
from backend.platform.recovery.reaper import Reaper
from tests.support.recovery import RECOVERY_BOUND_S
from tests.support.waiting import wait_for, wait_for_state

FAST_REAPER = {"REAPER_INTERVAL_S": "1"}


def run_reaper_task(service: CeleryTaskService) -> dict[str, Any]:
    """The on-demand pass (`maintenance.reap_lost_tasks`), as an operator would run it."""
    task_id = service.enqueue("maintenance.reap_lost_tasks")
    return wait_for_state(service.status.get, task_id, {"SUCCESS"})["result"]  # type: ignore[no-any-return]


def seconds(iso: str) -> float:
    return datetime.fromisoformat(iso).timestamp()


def requeued_after(service: CeleryTaskService, task_id: str, killed_at: float) -> float:
    """Seconds from the kill to the task's REQUEUED entry, waiting for it up to the bound."""

    def requeued_at() -> float | None:
        record = service.status.get(task_id) or {"history": []}
        at = next((h["at"] for h in record["history"] if h["state"] == "REQUEUED"), None)
        return seconds(at) if at else None

    wait_for(lambda: requeued_at() is not None, RECOVERY_BOUND_S, f"{task_id} requeued")
    return requeued_at() - killed_at  # type: ignore[operator]


def kill_and_rescue(
    service: CeleryTaskService, doomed: Any, task_id: str, start_rescuer: Any
) -> tuple[float, dict[str, Any]]:
    """SIGKILL `doomed`, start a rescuer worker (its reaper thread does the recovery); the
    seconds from the kill to the requeue, and the task's record once it succeeded."""
    doomed.kill()
    killed_at = time.time()
    rescuer = start_rescuer()
    try:
        took = requeued_after(service, task_id, killed_at)
        record = wait_for_state(service.status.get, task_id, {"SUCCESS"}, timeout=30)
    finally:
        rescuer.stop()
    assert record["worker"] == rescuer.hostname
    return took, record


def start_sleeper(service: CeleryTaskService, seconds: float) -> tuple[str, str]:
    key = uuid.uuid4().hex
    task_id = service.enqueue("testing.sleep", [key, seconds], queue="reports")
    wait_for_state(service.status.get, task_id, {"STARTED"})
    return task_id, key


def start_together(worker_factory: Any, *specs: tuple[list[str], dict[str, str]]) -> list[Any]:
    """Boot several single-slot workers at once (each boot takes seconds)."""
    workers = [worker_factory(queues, concurrency=1, env=env, start=False) for queues, env in specs]
    for w in workers:
        w.start(wait=False)
    for w in workers:
        w.wait_ready()
    return workers


def holder_pid(service: CeleryTaskService, task_id: str) -> str | None:
    """The pid in the `held_by` instance (host:pid:nonce) of a task waiting for its ETA."""
    held_by = service.status.get_raw(task_id).get("held_by")
    return held_by.split(":")[1] if held_by else None


def queued_ids(redis_client: Any, queue: str) -> list[str]:
    """Task ids of the messages waiting in every priority list of `queue`."""
    raw = [m for q in keys.broker_queues(queue) for m in redis_client.lrange(q, 0, -1)]
    return [json.loads(m)["headers"]["id"] for m in raw]


def test_killed_worker_task_is_requeued_and_completes(
    redis_client: Any, worker_factory: Any
) -> None:
    service = CeleryTaskService(redis_client)
    doomed = worker_factory(["reports"], concurrency=1)
    task_id, key = start_sleeper(service, 2)
    took, record = kill_and_rescue(
        service, doomed, task_id, lambda: worker_factory(["reports"], 1, env=FAST_REAPER)
    )
    print(f"running task requeued {took:.1f} s after SIGKILL")
    assert record["attempts"] == 2
    assert redis_client.get(f"test:{key}:finished") == "1"


def test_worker_restarted_under_the_same_hostname_does_not_hide_the_loss(
    redis_client: Any, worker_factory: Any
) -> None:
    service = CeleryTaskService(redis_client)
    hostname = f"fixed-{uuid.uuid4().hex[:6]}@localhost"
    first = worker_factory(["reports"], concurrency=1, hostname=hostname)
    task_id, _ = start_sleeper(service, 2)
    _, record = kill_and_rescue(
        service,
        first,
        task_id,
        lambda: worker_factory(["reports"], 1, hostname=hostname, env=FAST_REAPER),
    )
    assert record["attempts"] == 2


def test_a_busy_worker_recovers_a_dead_workers_task_without_beat(
    redis_client: Any, worker_factory: Any
) -> None:
    """The only other worker's one slot is taken by a backlog on `maintenance`, where a reaper
    *task* would wait its turn; its reaper thread still gives the dead worker's task back."""
    service = CeleryTaskService(redis_client)
    reaper_runs = keys.index("name", "maintenance.reap_lost_tasks")
    runs_before = redis_client.zcard(reaper_runs)
    busy, doomed = start_together(worker_factory, (["maintenance"], FAST_REAPER), (["reports"], {}))
    backlog = [
        service.enqueue("testing.sleep", [uuid.uuid4().hex, 3], queue="maintenance")
        for _ in range(12)
    ]
    try:
        task_id, key = start_sleeper(service, 1)
        doomed.kill()
        killed_at = time.time()
        took = requeued_after(service, task_id, killed_at)
        waiting = sum(service.status.get_raw(t).get("state") == "PENDING" for t in backlog)
        rescuer = worker_factory(["reports"], concurrency=1)
        record = wait_for_state(service.status.get, task_id, {"SUCCESS"}, timeout=30)
        rescuer.stop()
    finally:
        for pending in backlog:
            if service.status.get_raw(pending).get("state") == "PENDING":
                service.cancel(pending)
        busy.stop()
    print(f"requeued {took:.1f} s after SIGKILL by a busy worker's thread "
          f"({waiting} maintenance tasks still queued then)")  # fmt: skip
    assert record["attempts"] == 2 and redis_client.get(f"test:{key}:finished") == "1"
    assert redis_client.zcard(reaper_runs) == runs_before, "recovered by threads alone"


def test_a_deferred_task_held_by_a_killed_worker_runs_when_due(
    redis_client: Any, worker_factory: Any
) -> None:
    """A task deferred by a shared rate limit waits, unacknowledged, in the memory of the
    worker that fetched it next; that worker is SIGKILLed. The held message is requeued with
    its ETA and runs on another worker once due, long before the visibility timeout."""
    service = CeleryTaskService(redis_client)
    env = {"RATE_LIMITS": json.dumps({"testrate": "1/12 seconds"}), **FAST_REAPER}
    doomed = worker_factory(["reports"], concurrency=1, env=env)
    key = uuid.uuid4().hex
    ids = [service.enqueue("testing.rate_limited", [key], queue="reports") for _ in range(2)]
    wait_for_state(service.status.get, ids[0], {"SUCCESS", "RETRY"})
    wait_for(lambda: any(holder_pid(service, t) for t in ids), 10, "a deferred task held")
    deferred = next(t for t in ids if holder_pid(service, t))
    assert holder_pid(service, deferred) == str(doomed.proc.pid)
    assert service.status.get(deferred)["state"] == "RETRY"
    took, record = kill_and_rescue(
        service, doomed, deferred, lambda: worker_factory(["reports"], 1, env=env)
    )
    print(f"ETA hold requeued {took:.1f} s after SIGKILL, then ran when due on the rescuer")
    history = record["history"]
    states = [h["state"] for h in history]
    retry, rerun = states.index("RETRY"), len(states) - 1 - states[::-1].index("STARTED")
    assert retry < states.index("REQUEUED") < rerun
    assert record["attempts"] == 1
    # It kept its ETA: it ran no earlier than the deferral said.
    delay = float(re.search(r"retry in ([\d.]+)s", history[retry]["detail"]).group(1))  # type: ignore[union-attr]
    assert seconds(history[rerun]["at"]) >= seconds(history[retry]["at"]) + delay - 0.01
    assert redis_client.llen(f"test:{key}:runs") == 2  # each task ran once


def test_concurrent_reapers_never_push_a_message_twice(
    redis_client: Any, worker_factory: Any
) -> None:
    """Many passes at once over the same dead worker's ETA holds push each message once; a
    pass judged before another worker took a message cannot push it again; a live holder's
    messages are left alone."""
    service = CeleryTaskService(redis_client)
    doomed = worker_factory(["reports"], concurrency=1)
    key = uuid.uuid4().hex
    ids = [
        service.enqueue("testing.record", [key, str(i)], queue="reports", countdown=60)
        for i in range(8)
    ]
    pid = str(doomed.proc.pid)
    wait_for(lambda: all(holder_pid(service, t) == pid for t in ids), 10, "all held")
    doomed.kill()
    wait_for(lambda: not _alive(service, doomed.hostname), 10, "the heartbeat lapsed")
    stale = Reaper(redis_client)
    stale_plan, _ = stale.plan(grace_s=0)  # judged now, applied after others have acted
    assert {a.delivery.task_id for a in stale_plan} >= set(ids)

    results: list[dict[str, Any]] = []

    def passes() -> None:
        reaper = Reaper(redis_client)
        results.extend(reaper.reap(grace_s=0) for _ in range(5))

    threads = [threading.Thread(target=passes) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    queued = [t for t in queued_ids(redis_client, "reports") if t in ids]
    assert sorted(queued) == sorted(ids), "each held message pushed exactly once"
    pushed = [t for r in results for t in r["requeued_held"] if t in ids]
    assert len(pushed) == len(set(pushed))

    taker = worker_factory(["reports"], concurrency=1)
    try:
        taker_pid = str(taker.proc.pid)
        wait_for(lambda: all(holder_pid(service, t) == taker_pid for t in ids), 10, "taken")
        assert not any(stale.apply(a) for a in stale_plan if a.delivery.task_id in ids)
        assert not any(t in ids for t in Reaper(redis_client).reap(grace_s=0)["requeued"])
        assert not [t for t in queued_ids(redis_client, "reports") if t in ids]
    finally:
        for task_id in ids:
            service.cancel(task_id)  # the holder drops them on the revoke broadcast
        taker.stop()


def test_a_live_workers_running_task_is_left_alone(
    redis_client: Any, worker: Any, worker_factory: Any
) -> None:
    service = CeleryTaskService(redis_client)
    alive = worker_factory(["reports"], concurrency=1)
    try:
        task_id, _ = start_sleeper(service, 6)
        time.sleep(3)  # past the reaper's grace for fresh deliveries
        result = run_reaper_task(service)
        assert task_id not in result["requeued"]
        record = wait_for_state(service.status.get, task_id, {"SUCCESS"}, timeout=30)
    finally:
        alive.stop()
    assert record["attempts"] == 1


def _alive(service: CeleryTaskService, hostname: str) -> bool:
    return any(w["hostname"] == hostname for w in service.status.live_workers())

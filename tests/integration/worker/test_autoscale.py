"""A worker started with --autoscale (as make up and the systemd units start them) grows its
pool under a backlog and shrinks it back once idle; the heartbeat (and so /metrics'
ltq_worker_pool_processes) reports the size."""

from __future__ import annotations

import time
import uuid
from typing import Any

from backend.platform.enqueue import CeleryTaskService
from tests.support.processes import WorkerProcess
from tests.support.waiting import wait_for_state


def _pool(service: CeleryTaskService, hostname: str) -> tuple[int, int]:
    for w in service.status.live_workers():
        if w["hostname"] == hostname:
            return int(w.get("pool_processes", 0)), int(w.get("busy", 0))
    return 0, 0


def test_pool_grows_under_a_backlog_and_shrinks_after(redis_client: Any) -> None:
    service = CeleryTaskService(redis_client)
    worker = WorkerProcess(
        ["reports"], autoscale=(4, 1), env={"WORKER_AUTOSCALE_KEEPALIVE_S": "2"}
    ).start()
    samples: list[tuple[float, int, int, int]] = []
    started = time.monotonic()

    def sample() -> int:
        processes, busy = _pool(service, worker.hostname)
        depth = service.status.queue_status("reports")["depth"]
        samples.append((round(time.monotonic() - started, 1), processes, busy, depth))
        return processes

    try:
        assert sample() == 1  # idle: the minimum
        key = uuid.uuid4().hex
        ids = [
            service.enqueue("testing.sleep", [f"{key}-{i}", 1.5], queue="reports")
            for i in range(12)
        ]
        while service.status.get(ids[-1])["state"] != "SUCCESS" and time.monotonic() - started < 90:
            sample()
            time.sleep(0.5)
        for task_id in ids:
            wait_for_state(service.status.get, task_id, {"SUCCESS"}, timeout=30)
        deadline = time.monotonic() + 30
        while sample() > 1 and time.monotonic() < deadline:
            time.sleep(0.5)
    finally:
        worker.stop()
    print("\nt(s) processes busy waiting")
    for point in samples:
        print(*point)
    peak = max(p for _, p, _, _ in samples)
    assert peak >= 3, samples  # grew with the backlog (max 4)
    assert max(b for _, _, b, _ in samples) >= 3, samples  # and the extra processes worked
    assert samples[-1][1] == 1, samples  # back to the minimum once idle

"""Priorities really reorder waiting work on the Redis broker; queue depth and listing."""

from __future__ import annotations

import uuid
from typing import Any

from backend.platform.enqueue import CeleryTaskService
from backend.platform.status import TaskFilter
from backend.platform.submissions import TaskRequest
from tests.support.waiting import wait_for_state


def test_critical_task_overtakes_500_low_tasks(clean_redis: Any, worker_factory: Any) -> None:
    service = CeleryTaskService(clean_redis)
    key = uuid.uuid4().hex
    low = [
        TaskRequest("testing.record", [key, f"low-{i}"], priority="LOW", owner="t")
        for i in range(500)
    ]
    service.enqueue_many(low)
    critical = service.enqueue("testing.record", [key, "critical"], priority="CRITICAL")
    depth = service.status.queue_status("reports")
    assert depth["depth"] == 501
    assert depth["depth_by_priority"] == {"LOW": 500, "NORMAL": 0, "HIGH": 0, "CRITICAL": 1}
    assert depth["oldest_age_s"] is not None and depth["oldest_age_s"] >= 0

    reports_worker = worker_factory(["reports"], concurrency=1)
    try:
        wait_for_state(service.status.get, critical, {"SUCCESS"}, timeout=60)
        order = clean_redis.lrange(f"test:{key}:order", 0, -1)
        assert order.index("critical") < 5, order[:10]
    finally:
        reports_worker.stop()


def test_listing_filters_and_cursor_pagination(clean_redis: Any) -> None:
    service = CeleryTaskService(clean_redis)
    key = uuid.uuid4().hex
    # No worker serves `reports` here, so these stay PENDING.
    alice = service.enqueue_many(
        [TaskRequest("testing.record", [key, str(i)], owner="alice") for i in range(130)]
    )
    service.enqueue_many(
        [TaskRequest("testing.record", [key, str(i)], owner="bob") for i in range(20)]
    )
    seen: list[str] = []
    cursor = None
    while True:
        page = service.status.list_tasks(
            TaskFilter(owner="alice", state="PENDING"), limit=50, cursor=cursor
        )
        seen.extend(item["task_id"] for item in page.items)
        assert all(item["owner"] == "alice" for item in page.items)
        cursor = page.next_cursor
        if cursor is None:
            break
    assert sorted(seen) == sorted(alice) and len(seen) == len(set(seen))
    created = [
        item
        for item in service.status.list_tasks(TaskFilter(name="testing.record"), limit=500).items
    ]
    assert len(created) == 150
    stamps = [item["created_at"] for item in created]
    assert stamps == sorted(stamps, reverse=True)
    assert service.status.list_tasks(TaskFilter(owner="nobody")).items == []

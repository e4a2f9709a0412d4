"""The orphan sweep: a waiting task whose message the broker lost (taken off its queue, never
filed as unacked: a connection broken in between) is published again from its record, once;
tasks whose message is queued or unacked are left alone. Real Redis, a real worker."""

from __future__ import annotations

import uuid
from typing import Any

from backend.core.keys import keys
from backend.platform.enqueue import CeleryTaskService
from backend.platform.recovery.orphans import OrphanSweep
from tests.support.waiting import wait_for_state

QUEUE = "reports"  # not served by the shared worker: messages stay where the test puts them


def _drop_message(redis_client: Any, task_id: str) -> str:
    """Take the task's message off its queue, as the lost BRPOP reply did; returns it."""
    for name in keys.broker_queues(QUEUE):
        for message in redis_client.lrange(name, 0, -1):
            if task_id in message:
                redis_client.lrem(name, 0, message)
                return str(message)
    raise AssertionError(f"no message for {task_id}")


def _queued(redis_client: Any, task_id: str) -> int:
    return sum(
        1
        for name in keys.broker_queues(QUEUE)
        for message in redis_client.lrange(name, 0, -1)
        if task_id in message
    )


def test_a_lost_message_is_published_again_once_and_runs(
    redis_client: Any, worker_factory: Any
) -> None:
    service = CeleryTaskService(redis_client)
    key = uuid.uuid4().hex
    lost = service.enqueue("testing.record", [key, "lost"], queue=QUEUE, priority="HIGH")
    queued = service.enqueue("testing.record", [key, "queued"], queue=QUEUE)
    unacked = service.enqueue("testing.record", [key, "unacked"], queue=QUEUE)
    _drop_message(redis_client, lost)
    # One "delivered, not acked" (kombu's unacked hash), as a worker holding it would.
    held = _drop_message(redis_client, unacked)
    tag = uuid.uuid4().hex
    redis_client.hset(keys.broker_unacked, tag, f'[{held}, "", "{QUEUE}"]')

    sweep = OrphanSweep(redis_client)
    try:
        # (Other tests' removed messages may be swept up too: this Redis is shared.)
        first = sweep.sweep(older_than_s=0)
        assert lost in first and queued not in first and unacked not in first
        assert _queued(redis_client, lost) == 1 and _queued(redis_client, queued) == 1
        assert lost not in sweep.sweep(older_than_s=0)  # queued again: not an orphan any more
        record = service.status.get(lost)
        assert record is not None and record["state"] == "PENDING"
        assert record["history"][-1]["state"] == "REPUBLISHED"
        # Republished at its priority: the HIGH list.
        assert any(lost in m for m in redis_client.lrange(keys.broker_queue(QUEUE, 3), 0, -1))
    finally:
        redis_client.hdel(keys.broker_unacked, tag)
        redis_client.zrem(keys.broker_unacked_index, tag)
    own = worker_factory([QUEUE], concurrency=1)
    try:
        done = wait_for_state(service.status.get, lost, {"SUCCESS", "FAILURE"})
        wait_for_state(service.status.get, queued, {"SUCCESS", "FAILURE"})
    finally:
        own.stop()
    assert done["state"] == "SUCCESS" and done["attempts"] == 1
    assert sorted(redis_client.lrange(f"test:{key}:order", 0, -1)) == ["lost", "queued"]
    service.cancel(unacked)


def test_a_task_that_moved_on_meanwhile_is_not_published_again(redis_client: Any) -> None:
    service = CeleryTaskService(redis_client)
    task_id = service.enqueue("testing.record", [uuid.uuid4().hex, "x"], queue=QUEUE)
    _drop_message(redis_client, task_id)
    sweep = OrphanSweep(redis_client)
    candidates = sweep._candidates(0)
    assert task_id in candidates
    service.cancel(task_id)  # its record changed after the sweep saw it
    assert not sweep._publish_again(task_id, candidates[task_id])
    assert _queued(redis_client, task_id) == 0

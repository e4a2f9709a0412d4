"""Crash recovery: re-queue tasks whose worker process died mid-run.

With `acks_late` a running task's message stays in kombu's unacked hash until the worker
acknowledges it; if the worker dies, kombu restores it only after the visibility timeout
(an hour, so that long tasks are never run twice). The reaper does it within seconds: a
message whose task record is STARTED/PROGRESS on a worker instance that no longer
heartbeats goes back to the head of its queue. Records carry the worker *instance* (process),
so a worker restarted under the same hostname does not hide the loss.

Left to the visibility timeout: messages held but not started by a dead worker (ETA holds),
since no record says who holds them.
"""

from __future__ import annotations

import json
import time
from typing import Any

import redis

from backend.enums import FINAL_STATES, QueueName, TaskState
from backend.keys import Keys, keys
from backend.services.task_records import history_entry, lua, now_ms
from backend.services.task_status_manager import TaskStatusManager

_RUNNING = {TaskState.STARTED.value, TaskState.PROGRESS.value}
_QUEUES = {q.value for q in QueueName}


class Reaper:
    def __init__(self, client: redis.Redis, key_space: Keys = keys) -> None:
        self.redis = client
        self.keys = key_space
        self.status = TaskStatusManager(client, key_space)
        self._requeue = client.register_script(lua("requeue"))

    def reap(self, *, grace_s: float) -> dict[str, Any]:
        """One pass. `grace_s`: leave deliveries younger than this alone (just fetched)."""
        live = {w.get("instance") for w in self.status.live_workers()}
        entries: dict[str, str] = self.redis.hgetall(self.keys.broker_unacked)  # type: ignore[assignment]
        ages = dict(self.redis.zrange(self.keys.broker_unacked_index, 0, -1, withscores=True))  # type: ignore[arg-type]
        now = time.time()
        requeued: list[str] = []
        dropped: list[str] = []
        for tag, raw in entries.items():
            if now - float(ages.get(tag, now)) < grace_s:
                continue
            message, _exchange, routing_key = json.loads(raw)
            task_id = (message.get("headers") or {}).get("id")
            if not task_id:
                continue
            record = self.status.get_raw(task_id)
            state = record.get("state")
            if state in FINAL_STATES:
                # Finished, but its worker died before acknowledging: acknowledge for it.
                self._run(tag, "", message, task_id, "")
                dropped.append(task_id)
            elif state in _RUNNING and record.get("worker_instance") not in live:
                queue = routing_key if routing_key in _QUEUES else record.get("queue", "")
                message.setdefault("headers", {})["redelivered"] = True
                detail = f"requeued: worker {record.get('worker') or '?'} lost mid-run"
                entry = history_entry("REQUEUED", now_ms(), detail)
                target = self.keys.broker_queue(queue, int(message["properties"]["priority"]))
                if self._run(tag, target, message, task_id, entry):
                    requeued.append(task_id)
        return {"requeued": requeued, "acknowledged_finished": dropped, "live_workers": len(live)}

    def _run(
        self, tag: str, target: str, message: dict[str, Any], task_id: str, entry: str
    ) -> bool:
        done = self._requeue(
            keys=[self.keys.broker_unacked, self.keys.broker_unacked_index, target,
                  self.keys.history(task_id)],
            args=[tag, json.dumps(message), entry],
        )  # fmt: skip
        return bool(done)

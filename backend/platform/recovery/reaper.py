"""Crash recovery: give back, within seconds, the messages a dead worker process held.

With `acks_late` a message stays in kombu's unacked hash from delivery until its worker
acknowledges it; if the worker dies, kombu restores it only after the visibility timeout (an
hour, so that long tasks are never run twice). The reaper puts it back at the head of its queue
as soon as the holder stops heart-beating, for two kinds of delivery:

- running: the task record is STARTED/PROGRESS on a worker instance that no longer heartbeats;
- held until its ETA (a countdown, or a deferral by a shared rate limit or an open breaker):
  the record is PENDING/RETRY and its `held_by`/`held_tag`, stamped by the receiving main
  process for ETA messages only (`record_hold`), name this very delivery and a dead instance.
  The message keeps its ETA, so the next worker still waits until it is due.

A live worker gives back, the same way, what it dropped without running when its broker
connection broke (Celery forgets those messages then, and kombu cannot give them back while
Redis is down): `give_back`, from backend/worker/consumer.py `on_close`.

Records carry the worker *instance* (process), so a worker restarted under the same hostname
does not hide the loss. A finished task whose worker died before acknowledging is acknowledged
for it. Anything else (an untracked message, a hold not stamped because Redis was down) is left
to the visibility timeout.

Every worker's main process runs a pass every REAPER_INTERVAL_S (backend/worker/task.py), so
passes overlap: each requeue is one Lua call that re-checks atomically that the delivery and
the record are still what the pass judged (lua/requeue.lua). Liveness is read after the
records, and an instance id is never reused, so "dead" cannot turn stale during a pass.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import redis

from backend.core.clock import now_ms
from backend.core.enums import FINAL_STATES, QueueName, TaskState
from backend.core.keys import Keys, keys
from backend.core.settings import settings
from backend.platform.lua import script
from backend.platform.records import history_entry
from backend.platform.status import TaskStatusManager

_RUNNING = frozenset({TaskState.STARTED.value, TaskState.PROGRESS.value})
_WAITING = frozenset({TaskState.PENDING.value, TaskState.RETRY.value})
_FINAL = frozenset(state.value for state in FINAL_STATES)
_QUEUES = frozenset(q.value for q in QueueName)
_RECORD_FIELDS = ("state", "worker_instance", "held_by", "held_tag", "worker", "queue")
# Unacked deliveries read per round trip: the hash holds every ETA hold, possibly thousands.
_BATCH = 500


@dataclass(frozen=True)
class Delivery:
    """One entry of kombu's unacked hash, as a pass read it."""

    tag: str
    score: float  # kombu's delivery time; a re-delivery under the same tag gets a new one
    message: dict[str, Any]
    routing_key: str
    task_id: str


@dataclass(frozen=True)
class Action:
    """What a pass does with one delivery; `expect`: record fields that must still hold."""

    # "running" | "held" | "dropped" (requeue) | "finished" (acknowledge only)
    kind: str
    delivery: Delivery
    record: dict[str, str]
    expect: dict[str, str]
    detail: str


class Reaper:
    def __init__(self, client: redis.Redis, key_space: Keys = keys) -> None:
        self.redis = client
        self.keys = key_space
        self.status = TaskStatusManager(client, key_space)
        self._requeue = client.register_script(script("requeue"))
        self._hold = client.register_script(script("hold"))

    def record_hold(self, task_id: str, instance: str, delivery_tag: str) -> None:
        """Mark `delivery_tag` of `task_id` as held until its ETA by worker `instance`."""
        self._hold(keys=[self.keys.task(task_id)], args=[instance, delivery_tag])

    def reap(self, *, grace_s: float | None = None) -> dict[str, Any]:
        """One pass: plan, then apply each action (each one atomic and re-checked)."""
        actions, live = self.plan(grace_s=grace_s)
        done = [a for a in actions if self.apply(a)]
        return {
            "requeued": [a.delivery.task_id for a in done if a.kind != "finished"],
            "requeued_held": [a.delivery.task_id for a in done if a.kind == "held"],
            "acknowledged_finished": [a.delivery.task_id for a in done if a.kind == "finished"],
            "live_workers": live,
        }

    def give_back(self, dropped: list[tuple[str, str]]) -> list[str]:
        """Requeue deliveries (tag, task id) that this worker dropped without running when its
        broker connection broke. Returns the tags settled: requeued, acknowledged (finished),
        gone, or running (its worker acknowledges it). A Redis error propagates, so the caller
        keeps the rest for its next pass."""
        settled = []
        for tag, _task_id in dropped:
            raw = self.redis.hget(self.keys.broker_unacked, tag)
            score = self.redis.zscore(self.keys.broker_unacked_index, tag)
            delivery = _parse(tag, float(score or 0), raw)  # type: ignore[arg-type]
            if delivery is not None:
                [record] = self._records([delivery])
                state = record.get("state", "")
                if state in _FINAL:
                    self.apply(Action("finished", delivery, record, {}, ""))
                elif state in _WAITING:
                    detail = "requeued: dropped by its worker when the broker connection broke"
                    self.apply(Action("dropped", delivery, record, {"state": state}, detail))
            settled.append(tag)
        return settled

    def plan(self, *, grace_s: float | None = None) -> tuple[list[Action], int]:
        """What to do with each delivery, and how many workers are alive. Deliveries younger
        than `grace_s` (default two heartbeat periods) are left alone: just fetched, their
        record may not name their new holder yet."""
        grace = 2 * settings.recovery.worker_heartbeat_s if grace_s is None else grace_s
        actions: list[Action] = []
        live: set[str] = set()
        for batch in self._deliveries_before(time.time() - grace):
            records = self._records(batch)
            live = self._live_instances()  # after the records: a holder they name was alive
            judged = (_judge(d, r, live) for d, r in zip(batch, records, strict=True))
            actions.extend(a for a in judged if a is not None)
        return actions, len(live)

    def _deliveries_before(self, cutoff: float) -> Iterator[list[Delivery]]:
        scored: list[tuple[str, float]] = self.redis.zrange(  # type: ignore[assignment]
            self.keys.broker_unacked_index, "-inf", cutoff, byscore=True, withscores=True
        )
        for start in range(0, len(scored), _BATCH):
            chunk = scored[start : start + _BATCH]
            raws: list[str | None] = self.redis.hmget(  # type: ignore[assignment]
                self.keys.broker_unacked, [tag for tag, _ in chunk]
            )
            parsed = (
                _parse(tag, score, raw) for (tag, score), raw in zip(chunk, raws, strict=True)
            )
            yield [d for d in parsed if d is not None]

    def _records(self, batch: list[Delivery]) -> list[dict[str, str]]:
        pipe = self.redis.pipeline(transaction=False)
        for delivery in batch:
            pipe.hmget(self.keys.task(delivery.task_id), _RECORD_FIELDS)
        return [
            {k: v for k, v in zip(_RECORD_FIELDS, values, strict=True) if v is not None}
            for values in pipe.execute()
        ]

    def _live_instances(self) -> set[str]:
        return {
            str(w["instance"]) for w in self.status.live_workers(prune=True) if w.get("instance")
        }

    def apply(self, action: Action) -> bool:
        """Requeue (or, for a finished task, just acknowledge) in one atomic call; False if
        the delivery or its record changed since the plan (then the next pass judges again)."""
        delivery = action.delivery
        message = dict(delivery.message)
        target = entry = ""
        if action.kind != "finished":
            queue = delivery.routing_key
            queue = queue if queue in _QUEUES else action.record.get("queue", "")
            priority = int((message.get("properties") or {}).get("priority") or 0)
            target = self.keys.broker_queue(queue, priority)
            message["headers"] = {**(message.get("headers") or {}), "redelivered": True}
            entry = history_entry("REQUEUED", now_ms(), action.detail)
        expected = [item for pair in action.expect.items() for item in pair]
        done = self._requeue(
            keys=[self.keys.broker_unacked, self.keys.broker_unacked_index, target,
                  self.keys.task(delivery.task_id), self.keys.history(delivery.task_id),
                  self.keys.stats_recovery],
            args=[delivery.tag, json.dumps(message), entry, repr(delivery.score), *expected],
        )  # fmt: skip
        return bool(done)


def _parse(tag: str, score: float, raw: str | None) -> Delivery | None:
    """kombu's unacked entry `[message, exchange, routing_key]`; None if gone or untracked."""
    if raw is None:
        return None  # acknowledged since the index was read
    try:
        message, _exchange, routing_key = json.loads(raw)
        task_id = (message.get("headers") or {}).get("id")
    except (ValueError, TypeError, AttributeError):
        return None  # not a Celery message: left to the visibility timeout
    if not task_id:
        return None
    return Delivery(tag, score, message, str(routing_key), str(task_id))


def _judge(delivery: Delivery, record: dict[str, str], live: set[str]) -> Action | None:
    """What to do with a delivery, from its task record and the live instances."""
    state = record.get("state", "")
    if state in _FINAL:
        return Action("finished", delivery, record, {}, "")
    running_on = record.get("worker_instance", "")
    if state in _RUNNING and running_on and running_on not in live:
        detail = f"requeued: worker {record.get('worker') or '?'} lost mid-run"
        expect = {"state": state, "worker_instance": running_on}
        return Action("running", delivery, record, expect, detail)
    holder = record.get("held_by", "")
    if (
        state in _WAITING
        and holder
        and holder not in live
        and record.get("held_tag") == delivery.tag
    ):
        expect = {"state": state, "held_by": holder, "held_tag": delivery.tag}
        detail = "requeued: the worker holding it until due was lost"
        return Action("held", delivery, record, expect, detail)
    return None

"""The orphan sweep: publish again a waiting task whose message the broker no longer holds.

kombu's Redis transport takes a message off its queue (BRPOP) and only then, in a second
call, files it as unacknowledged. A broker connection that breaks between the two (a Redis
restart under load) loses the message: it is in no queue and in no unacked hash, while its
task record still says PENDING or RETRY. The record holds everything the message held (name,
arguments, queue, priority, ETA), so the sweep builds the message again, with the same task id.

A task is an orphan when it has waited (no transition) for ORPHAN_AFTER_S and its id is in no
queue list and no unacked entry, checked twice a moment apart, lists first and unacked last, so
that a message moving from one to the other in between is seen. One worker sweeps at a time
(a Redis lock), at most every ORPHAN_SWEEP_INTERVAL_S; a broker holding more than
ORPHAN_SWEEP_MAX_QUEUED messages is not scanned (logged), since the scan reads them all.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

import redis

from backend.core.clock import now_ms
from backend.core.enums import Priority, QueueName, TaskState
from backend.core.keys import Keys, keys
from backend.core.logging import get_logger
from backend.core.settings import settings
from backend.platform.lua import script
from backend.platform.messages import build_message, owner_headers
from backend.platform.records import history_entry

log = get_logger(__name__)

_WAITING = (TaskState.PENDING.value, TaskState.RETRY.value)
_TASK_ID = re.compile(r'"id":\s*"([^"]+)"')
_CHUNK = 1000
_RECHECK_S = 1.0


class OrphanSweep:
    def __init__(self, client: redis.Redis, key_space: Keys = keys) -> None:
        self.redis = client
        self.keys = key_space
        self._republish = client.register_script(script("republish"))

    def run_if_due(self) -> list[str]:
        """One sweep if no worker swept within ORPHAN_SWEEP_INTERVAL_S; the ids republished."""
        lock = f"{self.keys.prefix}orphan-sweep"
        if not self.redis.set(
            lock, "1", nx=True, ex=max(1, int(settings.recovery.orphan_sweep_interval_s))
        ):
            return []
        return self.sweep(older_than_s=settings.recovery.orphan_after_s)

    def sweep(self, *, older_than_s: float) -> list[str]:
        candidates = self._candidates(older_than_s)
        if not candidates:
            return []
        queued = self._queued_count()
        if queued > settings.recovery.orphan_sweep_max_queued:
            log.warning("orphan_sweep_skipped", queued=queued)
            return []
        missing = set(candidates) - self._present()
        if missing:
            time.sleep(_RECHECK_S)  # a message in flight between queue and unacked lands
            missing -= self._present()
        republished = [t for t in sorted(missing) if self._publish_again(t, candidates[t])]
        if republished:
            log.warning("orphans_republished", count=len(republished), task_ids=republished[:20])
        return republished

    def _candidates(self, older_than_s: float) -> dict[str, tuple[str, str]]:
        """Waiting tasks whose last transition is older than `older_than_s`: id -> (state,
        last history entry)."""
        cutoff = now_ms() - older_than_s * 1000
        found: dict[str, tuple[str, str]] = {}
        for state in _WAITING:
            ids: list[str] = self.redis.zrangebyscore(  # type: ignore[assignment]
                f"{self.keys.prefix}idx:state:{state}", "-inf", cutoff, start=0, num=5000
            )
            pipe = self.redis.pipeline(transaction=False)
            for task_id in ids:
                pipe.hget(self.keys.task(task_id), "state")
                pipe.lindex(self.keys.history(task_id), -1)
            replies = pipe.execute()
            for i, task_id in enumerate(ids):
                current, last = replies[2 * i], replies[2 * i + 1]
                if current == state and last and json.loads(last).get("at", 0) <= cutoff:
                    found[task_id] = (state, last)
        return found

    def _queue_lists(self) -> list[str]:
        return [name for q in QueueName for name in self.keys.broker_queues(q.value)]

    def _queued_count(self) -> int:
        pipe = self.redis.pipeline(transaction=False)
        for name in self._queue_lists():
            pipe.llen(name)
        pipe.hlen(self.keys.broker_unacked)
        return sum(int(n) for n in pipe.execute())

    def _present(self) -> set[str]:
        """Task ids of every message in a queue list, then of every unacked one."""
        ids: set[str] = set()
        for name in self._queue_lists():
            for start in range(0, int(self.redis.llen(name)), _CHUNK):  # type: ignore[arg-type]
                ids.update(_ids(self.redis.lrange(name, start, start + _CHUNK - 1)))  # type: ignore[arg-type]
        for _tag, raw in self.redis.hscan_iter(self.keys.broker_unacked, count=_CHUNK):
            ids.update(_ids([raw]))
        return ids

    def _publish_again(self, task_id: str, seen: tuple[str, str]) -> bool:
        record: dict[str, str] = self.redis.hgetall(self.keys.task(task_id))  # type: ignore[assignment]
        if not record.get("name") or not record.get("queue"):
            return False
        priority = _priority(record.get("priority"))
        eta_ms = record.get("eta")
        message = build_message(
            task_id=task_id,
            task_name=record["name"],
            queue=record["queue"],
            broker_priority=priority.broker_value,
            args=json.loads(record.get("args") or "[]"),
            kwargs=json.loads(record.get("kwargs") or "{}"),
            eta=datetime.fromtimestamp(int(eta_ms) / 1000, UTC) if eta_ms else None,
            headers=owner_headers(record.get("owner"), record.get("owner_role")),
        )
        entry = history_entry(
            "REPUBLISHED", now_ms(), "published again: its message was lost by the broker"
        )
        state, last = seen
        target = self.keys.broker_queue(record["queue"], priority.broker_value)
        return bool(
            self._republish(
                keys=[
                    self.keys.task(task_id),
                    self.keys.history(task_id),
                    target,
                    self.keys.stats_recovery,
                ],
                args=[state, last, message, entry],
            )
        )


def _ids(raws: Iterable[Any]) -> set[str]:
    return {m.group(1) for raw in raws if raw for m in [_TASK_ID.search(str(raw))] if m}


def _priority(value: str | None) -> Priority:
    try:
        return Priority(value or Priority.NORMAL.value)
    except ValueError:
        return Priority.NORMAL

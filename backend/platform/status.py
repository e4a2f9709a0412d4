"""Task status in Redis: transitions (one round trip each), history, progress, listing, stats.

Workers write through `TaskStatusManager` from TrackedTask hooks and signals; the API reads
through it (and through `AsyncTaskStatusReader` on its hot paths). Records of finished tasks
expire after `settings.tasks.record_ttl_s`; `purge_expired` drops their index entries.
"""

from __future__ import annotations

import json
import time
from collections.abc import Awaitable, Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import redis
import redis.asyncio as aioredis

from backend.adapters.redis_clients import REDIS_DOWN
from backend.core.clock import iso_ms, now_ms
from backend.core.enums import PRIORITY_STEPS, Priority, QueueName
from backend.core.errors import ServiceUnavailable
from backend.core.keys import Keys, keys
from backend.core.settings import settings
from backend.platform import histograms
from backend.platform.counters import task_counters
from backend.platform.lua import script
from backend.platform.records import TransitionOutcome, to_status
from backend.resilience.breakers import breaker_states

LIST_SCAN_BUDGET = 5000
MAX_PAGE = 500
FILTER_FIELDS = ("state", "name", "queue", "owner")


@dataclass(frozen=True)
class TaskFilter:
    state: str | None = None
    name: str | None = None
    queue: str | None = None
    owner: str | None = None
    since_ms: int | None = None

    def index_keys(self, k: Keys) -> list[str]:
        chosen = [k.index(f, v) for f in FILTER_FIELDS if (v := getattr(self, f))]
        return chosen or [k.index_all]


def transition_script() -> str:
    """transition.lua with the histogram bounds filled in."""
    return script("transition").replace("--[[BOUNDS]]", histograms.lua_bounds())


@dataclass(frozen=True)
class TaskPage:
    items: list[dict[str, Any]]
    next_cursor: str | None


def encode_cursor(score: str, task_id: str) -> str | None:
    return f"{int(float(score))}.{task_id}" if score else None


def decode_cursor(cursor: str | None) -> tuple[str, str]:
    if not cursor:
        return "", ""
    score, _, task_id = cursor.partition(".")
    if not score.isdigit() or not task_id:
        raise ValueError("malformed cursor")
    return score, task_id


class TaskStatusManager:
    def __init__(self, client: redis.Redis, key_space: Keys = keys) -> None:
        self.redis = client
        self.keys = key_space
        self._transition = client.register_script(transition_script())
        self._list = client.register_script(script("list"))

    # --- transitions -------------------------------------------------------------------
    def transition(
        self,
        task_id: str,
        event: str,
        *,
        detail: str = "",
        fields: Mapping[str, Any] | None = None,
        acknowledges: str | None = None,
    ) -> TransitionOutcome:
        """Apply `event` in one round trip. `acknowledges`: the broker delivery tag of the run
        this outcome ends; it leaves kombu's unacked hash in the same call (the broker must
        live on this Redis)."""
        keys, args = self._transition_call(task_id, event, detail, fields, now_ms())
        if acknowledges is not None:
            keys += [self.keys.broker_unacked, self.keys.broker_unacked_index]
            args += ["_ack", acknowledges]
        return TransitionOutcome.parse(self._transition(keys=keys, args=args))

    def _transition_call(
        self,
        task_id: str,
        event: str,
        detail: str,
        fields: Mapping[str, Any] | None,
        at_ms: int,
    ) -> tuple[list[str], list[Any]]:
        args: list[Any] = [
            self.keys.prefix,
            task_id,
            event,
            at_ms,
            detail,
            settings.tasks.history_max,
            settings.tasks.record_ttl_s,
        ]
        for name, value in (fields or {}).items():
            if value is not None:
                args.extend((name, value if isinstance(value, str) else json.dumps(value)))
        return [self.keys.task(task_id), self.keys.history(task_id)], args

    def report_progress(
        self, task_id: str, current: int, total: int | None, message: str | None
    ) -> TransitionOutcome:
        return self.transition(
            task_id,
            "progress",
            fields={
                "progress_current": str(current),
                "progress_total": "" if total is None else str(total),
                "progress_message": message or "",
            },
        )

    # --- reads ---------------------------------------------------------------------------
    def get(self, task_id: str) -> dict[str, Any] | None:
        pipe = self.redis.pipeline(transaction=False)
        pipe.hgetall(self.keys.task(task_id))
        pipe.lrange(self.keys.history(task_id), 0, -1)
        record, history = pipe.execute()
        return to_status(record, history) if record else None

    def get_raw(self, task_id: str) -> dict[str, str]:
        return self.redis.hgetall(self.keys.task(task_id))  # type: ignore[return-value]

    def list_tasks(
        self, flt: TaskFilter, *, limit: int = 50, cursor: str | None = None
    ) -> TaskPage:
        limit = max(1, min(limit, MAX_PAGE))
        score, cursor_id = decode_cursor(cursor)
        raw = self._list(
            keys=flt.index_keys(self.keys),
            args=[
                flt.since_ms if flt.since_ms is not None else "-inf",
                score,
                cursor_id,
                limit,
                LIST_SCAN_BUDGET,
                self.keys.task(""),
            ],
        )
        next_score, next_id, *ids = raw
        pipe = self.redis.pipeline(transaction=False)
        for task_id in ids:
            pipe.hgetall(self.keys.task(task_id))
            pipe.lrange(self.keys.history(task_id), 0, -1)
        results = pipe.execute()
        items = [
            to_status(results[i], results[i + 1]) for i in range(0, len(results), 2) if results[i]
        ]
        return TaskPage(items=items, next_cursor=encode_cursor(next_score, next_id))

    # --- queues and stats ----------------------------------------------------------------
    def queue_status(self, queue: str) -> dict[str, Any]:
        return self.queues_status([queue])[queue]

    def queues_status(self, queues: list[str] | None = None) -> dict[str, dict[str, Any]]:
        """Depth per priority and age of the oldest waiting message, in two round trips."""
        names = queues or [q.value for q in QueueName]
        pipe = self.redis.pipeline(transaction=False)
        for q in names:
            for list_key in self.keys.broker_queues(q):
                pipe.llen(list_key)
                pipe.lindex(list_key, -1)
        raw = pipe.execute()
        oldest_ids: dict[str, list[str]] = {}
        out: dict[str, dict[str, Any]] = {}
        pos = 0
        for q in names:
            by_priority: dict[str, int] = {}
            for step in PRIORITY_STEPS:
                depth, tail = raw[pos], raw[pos + 1]
                pos += 2
                by_priority[str(step)] = int(depth)
                if tail:
                    task_id = _message_task_id(tail)
                    if task_id:
                        oldest_ids.setdefault(q, []).append(task_id)
            out[q] = {
                "queue": q,
                "depth": sum(by_priority.values()),
                "depth_by_priority": _by_priority_names(by_priority),
                "oldest_age_s": None,
            }
        pipe = self.redis.pipeline(transaction=False)
        flat = [(q, tid) for q, tids in oldest_ids.items() for tid in tids]
        for _, tid in flat:
            pipe.hget(self.keys.task(tid), "created_at")
        now = now_ms()
        for (q, _), created in zip(flat, pipe.execute(), strict=True):
            if created:
                age = round((now - int(created)) / 1000, 3)
                current = out[q]["oldest_age_s"]
                out[q]["oldest_age_s"] = age if current is None else max(current, age)
        return out

    def task_stats(self) -> dict[str, dict[str, Any]]:
        out: dict[str, dict[str, Any]] = {}
        for c in task_counters(self.redis, self.keys):
            counts: dict[str, int] = {}
            for (state, _), n in c.transitions.items():
                counts[state] = counts.get(state, 0) + n
            # A deferred start was undone: STARTED counts the starts that stood.
            if "DEFERRED" in counts:
                counts["STARTED"] = counts.get("STARTED", 0) - counts.pop("DEFERRED")
            done = counts.get("SUCCESS", 0) + counts.get("FAILURE", 0)
            out[c.name] = {
                "counts": counts,
                "success_rate": round(counts.get("SUCCESS", 0) / done, 4) if done else None,
                "runtime_ms": c.runtime.percentiles_ms(),
                "wait_ms": c.wait.percentiles_ms(),
            }
        return out

    def throughput(self, minutes: int = 15) -> list[dict[str, Any]]:
        current = now_ms() // 60000
        wanted = list(range(current - minutes + 1, current + 1))
        pipe = self.redis.pipeline(transaction=False)
        for minute in wanted:
            pipe.hgetall(self.keys.throughput(minute))
        return [
            {"minute": iso_ms(minute * 60000), **{k: int(v) for k, v in counts.items()}}
            for minute, counts in zip(wanted, pipe.execute(), strict=True)
        ]

    def stats(self) -> dict[str, Any]:
        tp = self.throughput()
        last_full = tp[-2] if len(tp) > 1 else {}
        return {
            "queues": self.queues_status(),
            "tasks": self.task_stats(),
            "throughput_per_minute": tp,
            "completed_last_minute": sum(
                v for k, v in last_full.items() if k in ("SUCCESS", "FAILURE")
            ),
            "workers": self.live_workers(),
            "breakers": breaker_states(self.redis),
        }

    # --- workers -------------------------------------------------------------------------
    def heartbeat(self, hostname: str, info: Mapping[str, Any], *, outage_retries: int = 0) -> None:
        now = time.time()
        pipe = self.redis.pipeline(transaction=False)
        if outage_retries:
            pipe.hincrby(self.keys.stats_recovery, "redis_outage_retries", outage_retries)
        pipe.hset(
            self.keys.worker(hostname),
            mapping={**{k: json.dumps(v) for k, v in info.items()}, "last_seen": json.dumps(now)},
        )
        pipe.expire(self.keys.worker(hostname), int(settings.recovery.worker_heartbeat_ttl_s) + 1)
        pipe.zadd(self.keys.workers, {hostname: now})
        pipe.execute()

    def forget_worker(self, hostname: str) -> None:
        pipe = self.redis.pipeline(transaction=False)
        pipe.delete(self.keys.worker(hostname))
        pipe.zrem(self.keys.workers, hostname)
        pipe.execute()

    def live_workers(self, *, prune: bool = False) -> list[dict[str, Any]]:
        """Workers with a fresh heartbeat. Read-only unless `prune` (the reaper's pass drops
        stale entries; a metrics scrape or a public health check never writes)."""
        cutoff = time.time() - settings.recovery.worker_heartbeat_ttl_s
        if prune:
            self.redis.zremrangebyscore(self.keys.workers, "-inf", cutoff)
        hostnames = [str(h) for h in self.redis.zrangebyscore(self.keys.workers, cutoff, "+inf")]  # type: ignore[union-attr]
        pipe = self.redis.pipeline(transaction=False)
        for hostname in hostnames:
            pipe.hgetall(self.keys.worker(hostname))
        workers = []
        for hostname, raw in zip(hostnames, pipe.execute(), strict=True):
            if raw:
                info = {k: json.loads(v) for k, v in raw.items()}
                workers.append({"hostname": hostname, **info})
        return workers

    def iter_records_since(
        self,
        since_ms: int,
        fields: Sequence[str],
        *,
        batch: int = 1000,
        owner: str | None = None,
    ) -> Iterator[dict[str, str | None]]:
        """`fields` of every live task record created since `since_ms` (of `owner` only, if
        given), oldest first; one round trip per `batch` records (the reports read a whole
        period this way)."""
        index = self.keys.index("owner", owner) if owner is not None else self.keys.index_all
        offset = 0
        while True:
            ids: list[str] = self.redis.zrangebyscore(  # type: ignore[assignment]
                index, since_ms, "+inf", start=offset, num=batch
            )
            if not ids:
                return
            pipe = self.redis.pipeline(transaction=False)
            for task_id in ids:
                pipe.hmget(self.keys.task(str(task_id)), list(fields))
            for values in pipe.execute():
                if any(v is not None for v in values):  # expired records are skipped
                    yield dict(zip(fields, values, strict=True))
            offset += len(ids)

    # --- retention -----------------------------------------------------------------------
    def purge_expired(self, *, batch: int = 1000) -> dict[str, int]:
        """Drop index entries whose record has expired; returns how many were removed."""
        removed = 0
        indexes = 0
        for index_key in self.redis.scan_iter(match=f"{self.keys.index_prefix}*", count=500):
            indexes += 1
            start = 0
            while True:
                ids = [str(i) for i in self.redis.zrange(index_key, start, start + batch - 1)]  # type: ignore[union-attr]
                if not ids:
                    break
                pipe = self.redis.pipeline(transaction=False)
                for task_id in ids:
                    pipe.exists(self.keys.task(task_id))
                gone = [tid for tid, alive in zip(ids, pipe.execute(), strict=True) if not alive]
                if gone:
                    self.redis.zrem(index_key, *gone)
                    removed += len(gone)
                start += batch - len(gone)
        return {"index_entries_removed": removed, "indexes_scanned": indexes}


StatusFallback = Callable[[str], Awaitable[dict[str, Any] | None]]


class AsyncTaskStatusReader:
    """The API's non-blocking read of one task (its hottest read path).

    A task that Redis does not know (or while Redis is down) is looked up in `fallback`: the
    outbox, where a task accepted while Redis was down waits to be published."""

    def __init__(
        self,
        client: aioredis.Redis,
        key_space: Keys = keys,
        fallback: StatusFallback | None = None,
    ) -> None:
        self.redis = client
        self.keys = key_space
        self.fallback = fallback

    async def get(self, task_id: str) -> dict[str, Any] | None:
        try:
            async with self.redis.pipeline(transaction=False) as pipe:
                pipe.hgetall(self.keys.task(task_id))
                pipe.lrange(self.keys.history(task_id), 0, -1)
                record, history = await pipe.execute()
        except REDIS_DOWN as exc:
            found = await self.fallback(task_id) if self.fallback else None
            if found is None:
                raise ServiceUnavailable("task store unavailable") from exc
            return found
        if record:
            return to_status(record, history)
        return await self.fallback(task_id) if self.fallback else None


def _message_task_id(raw_message: str) -> str | None:
    try:
        headers = json.loads(raw_message).get("headers") or {}
        task_id = headers.get("id")
        return str(task_id) if task_id else None
    except (ValueError, AttributeError):
        return None


def _by_priority_names(by_step: dict[str, int]) -> dict[str, int]:
    return {p.value: by_step.get(str(p.broker_value), 0) for p in Priority}

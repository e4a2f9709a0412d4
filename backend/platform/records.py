"""Task records as stored in Redis, and their conversion to the API's status object.

Pure code shared by the sync (workers, CLI) and asyncio (API) paths of the status manager.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import orjson

from backend.core.clock import iso_ms
from backend.core.enums import TaskState
from backend.core.enums import TransitionOutcome as Outcome


def _int(value: str | None) -> int | None:
    return int(value) if value not in (None, "") else None


def _json(value: str | None) -> Any:
    return json.loads(value) if value not in (None, "") else None


def history_entry(state: str, at_ms: int, detail: str) -> str:
    return orjson.dumps({"state": state, "at": at_ms, "detail": detail}).decode()


def to_status(record: Mapping[str, str], history: Sequence[str]) -> dict[str, Any]:
    """The task status object of the API contract (plus the retry links)."""
    error = None
    if record.get("error_type"):
        error = {"type": record["error_type"], "message": record.get("error_message", "")}
    progress = None
    if record.get("progress_current") not in (None, ""):
        progress = {
            "current": _int(record.get("progress_current")),
            "total": _int(record.get("progress_total")),
            "message": record.get("progress_message") or None,
        }
    entries = [
        {"state": item["state"], "at": iso_ms(item["at"]), "detail": item["detail"]}
        for item in map(json.loads, history)
    ]
    return {
        "task_id": record["task_id"],
        "name": record.get("name"),
        "queue": record.get("queue"),
        "priority": record.get("priority"),
        "state": record.get("state"),
        "owner": record.get("owner"),
        "created_at": iso_ms(record.get("created_at")),
        "started_at": iso_ms(record.get("started_at")),
        "finished_at": iso_ms(record.get("finished_at")),
        "wait_ms": _int(record.get("wait_ms")),
        "runtime_ms": _int(record.get("runtime_ms")),
        "attempts": _int(record.get("attempts")) or 0,
        "max_attempts": _int(record.get("max_attempts")) or 1,
        "progress": progress,
        "result": _json(record.get("result")),
        "error": error,
        "worker": record.get("worker") or None,
        "correlation_id": record.get("correlation_id") or None,
        "retry_of": record.get("retry_of") or None,
        "retried_by": record.get("retried_by") or None,
        "history": entries,
    }


@dataclass(frozen=True)
class TransitionOutcome:
    outcome: Outcome
    state: TaskState | None
    attempts: int
    max_attempts: int
    policy: dict[str, Any]

    @classmethod
    def parse(cls, raw: Sequence[Any]) -> TransitionOutcome:
        outcome, state, attempts, max_attempts, policy = raw
        return cls(
            outcome=Outcome(str(outcome)),
            state=TaskState(state) if state else None,
            attempts=int(attempts),
            max_attempts=int(max_attempts),
            policy=json.loads(policy) if policy else {},
        )

    @property
    def applied(self) -> bool:
        return self.outcome is Outcome.OK

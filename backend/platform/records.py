"""Task records as stored in Redis, and their conversion to the API's status object.

Pure code shared by the sync (workers, CLI) and asyncio (API) paths of the status manager.
"""

from __future__ import annotations

import json
import re
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


# Error types whose messages are our own words about the task's own ids (safe for clients).
_CLIENT_SAFE_ERRORS = frozenset({"PermanentTaskError", "CallbackRefused", "TaskCancelled"})
_WHERE = re.compile(r"\s+(?:on|by)\s+\S+")
_INTERNAL_FIELDS = ("worker", "worker_instance", "held_by", "hostname")


# Tasks whose outcome the owner sees only as delivered or failed: a webhook's status code or
# connection error would make the platform a scanner of our own network.
_OPAQUE_TASKS = frozenset({"notifications.send_webhook"})


def for_client(status: Mapping[str, Any]) -> dict[str, Any]:
    """A status object (or a live event) as a client may see it: no worker host names, no
    operator names, no raw exception text (the error's type stays; the message only when it
    is one of ours about the task's own ids)."""
    shown = {k: (None if k in _INTERNAL_FIELDS else v) for k, v in status.items()}
    error = shown.get("error")
    if isinstance(error, Mapping) and error.get("type") not in _CLIENT_SAFE_ERRORS:
        shown["error"] = {"type": error.get("type"), "message": "the task failed"}
    for key in ("error_message", "traceback"):
        shown.pop(key, None)
    if shown.get("name") in _OPAQUE_TASKS:
        state = shown.get("state")
        shown["result"] = {"delivery": "delivered"} if state == "SUCCESS" else None
        if shown.get("error") is not None:
            shown["error"] = {"type": "delivery_failed", "message": "the callback failed"}
        shown["history"] = [{**e, "detail": ""} for e in shown.get("history") or []]
        shown["progress"] = None
    detail, history = shown.get("detail"), shown.get("history")
    if isinstance(detail, str):
        shown["detail"] = _WHERE.sub("", detail)
    if isinstance(history, list):
        shown["history"] = [
            {**e, "detail": _WHERE.sub("", str(e.get("detail", "")))} for e in history
        ]
    return shown


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

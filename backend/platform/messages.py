"""Celery task messages (protocol 2) as kombu's Redis transport stores them in a queue list.

Building the envelope here lets CeleryTaskService publish inside the same Lua script that
creates the status record (one round trip, atomic), and pipeline thousands per round trip:
Celery itself has no bulk send. Tests prove a real worker consumes these messages.
"""

from __future__ import annotations

import base64
import re
import socket
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson

from backend.core import randomness

_ORIGIN = f"enqueue@{socket.gethostname()}"
# uuid-like or slug ids; long digit runs (CPF, phone) and e-mail addresses do not match
_ID = re.compile(r"(?=.*[a-f-])[0-9a-f-]{8,64}|[a-z_]{1,40}")
_EMBED = {"callbacks": None, "errbacks": None, "chain": None, "chord": None}


def redacted_repr(args: Sequence[Any], kwargs: Mapping[str, Any]) -> tuple[str, str]:
    """What Flower and worker logs show of the arguments: numbers and ids, anything else masked.

    Task arguments are ids by design; any other string could carry personal data.
    """
    args_repr = "[" + ", ".join(_shown(a) for a in args) + "]"
    kwargs_repr = "{" + ", ".join(f"{k!r}: {_shown(v)}" for k, v in kwargs.items()) + "}"
    return args_repr, kwargs_repr


def masked_args(value: Any) -> Any:
    """Arguments as operators see them: numbers and ids kept, any other string masked, nested
    lists and objects walked (the raw values are for admins, audited)."""
    if isinstance(value, Mapping):
        return {k: masked_args(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [masked_args(v) for v in value]
    if isinstance(value, str) and not _ID.fullmatch(value):
        return "…"
    return value


def _shown(value: Any) -> str:
    if value is None or isinstance(value, bool | int | float):
        return repr(value)
    if isinstance(value, str) and _ID.fullmatch(value):
        return repr(value)
    return "'…'"


def build_message(
    *,
    task_id: str,
    task_name: str,
    queue: str,
    broker_priority: int,
    args: Sequence[Any],
    kwargs: Mapping[str, Any],
    eta: datetime | None = None,
    headers: Mapping[str, Any] | None = None,
) -> str:
    """The JSON string to LPUSH onto the queue's priority list."""
    body = orjson.dumps([list(args), dict(kwargs), _EMBED])
    args_repr, kwargs_repr = redacted_repr(args, kwargs)
    message_headers = {
        "lang": "py",
        "task": task_name,
        "id": task_id,
        "shadow": None,
        "eta": eta.isoformat() if eta else None,
        "expires": None,
        "group": None,
        "group_index": None,
        "retries": 0,
        "timelimit": [None, None],
        "root_id": task_id,
        "parent_id": None,
        "argsrepr": args_repr,
        "kwargsrepr": kwargs_repr,
        "origin": _ORIGIN,
        "ignore_result": True,
        "replaced_task_nesting": 0,
        "stamped_headers": None,
        "stamps": {},
        **(headers or {}),
    }
    envelope = {
        "body": base64.b64encode(body).decode(),
        "content-encoding": "utf-8",
        "content-type": "application/json",
        "headers": message_headers,
        "properties": {
            "correlation_id": task_id,
            "reply_to": "",
            "delivery_mode": 2,
            "delivery_info": {"exchange": "", "routing_key": queue},
            "priority": broker_priority,
            "body_encoding": "base64",
            "delivery_tag": str(randomness.uuid4()),
        },
    }
    return orjson.dumps(envelope).decode()


# Message headers naming who submitted a task; Celery hands them to the task as request
# attributes (backend/worker/ownership.py reads them).
OWNER_HEADER, OWNER_ROLE_HEADER = "ltq_owner", "ltq_owner_role"


def owner_headers(owner: str | None, role: str | None) -> dict[str, str]:
    return {OWNER_HEADER: owner or "", OWNER_ROLE_HEADER: role or ""}


def eta_from(countdown_s: float | None, eta: datetime | None) -> datetime | None:
    if eta is not None:
        return eta if eta.tzinfo else eta.replace(tzinfo=UTC)
    if countdown_s:
        return datetime.now(UTC) + timedelta(seconds=countdown_s)
    return None

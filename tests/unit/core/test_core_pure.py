"""Pure pieces of the core: backoff policy, message envelope, cursors, percentiles, validation."""

from __future__ import annotations

import base64
import json

import pytest

from backend.core.enums import Priority
from backend.core.errors import InvalidPriority, InvalidRequest, UnknownQueue, UnknownTask
from backend.core.keys import Keys
from backend.domain.stats import percentiles
from backend.platform.catalogue import RetryPolicy
from backend.platform.messages import build_message, redacted_repr
from backend.platform.status import decode_cursor, encode_cursor
from backend.platform.submissions import TaskRequest, prepare


def test_backoff_grows_exponentially_with_jitter_and_cap() -> None:
    policy = RetryPolicy(max_attempts=10, backoff_base_s=2, backoff_cap_s=30, jitter=0.5)
    no_jitter = [policy.delay_for(n, 0.0) for n in range(1, 7)]
    assert no_jitter == [2, 4, 8, 16, 30, 30]
    assert policy.delay_for(3, 1.0) == 4.0  # full jitter halves at most
    assert policy.merged({"max_attempts": 2, "bogus": 1}).max_attempts == 2


def test_priorities_map_onto_kombu_steps_lowest_first() -> None:
    values = [
        p.broker_value for p in (Priority.CRITICAL, Priority.HIGH, Priority.NORMAL, Priority.LOW)
    ]
    assert values == sorted(values) == [0, 3, 6, 9]
    keys = Keys("p:")
    assert keys.broker_queue("triage", 0) == "p:triage"
    assert keys.broker_queue("triage", 9) == "p:triage:9"


def test_message_is_celery_protocol_2_for_the_redis_transport() -> None:
    raw = json.loads(
        build_message(
            task_id="abc-123", task_name="maintenance.ping", queue="maintenance",
            broker_priority=3, args=["id-1"], kwargs={"email": "x@y.z"},
        )
    )  # fmt: skip
    assert raw["content-type"] == "application/json"
    assert raw["properties"]["priority"] == 3
    assert raw["properties"]["delivery_info"]["routing_key"] == "maintenance"
    assert raw["headers"]["id"] == "abc-123" and raw["headers"]["task"] == "maintenance.ping"
    args, kwargs, embed = json.loads(base64.b64decode(raw["properties"] and raw["body"]))
    assert args == ["id-1"] and kwargs == {"email": "x@y.z"} and embed["chain"] is None
    assert "x@y.z" not in raw["headers"]["kwargsrepr"]


def test_redacted_repr_shows_ids_and_masks_personal_data() -> None:
    args, kwargs = redacted_repr(
        ["4b8f0a3e-aaaa-4bbb-8ccc-123456789abc", 7, "529.982.247-25"], {"to": "a@b.com"}
    )
    assert "4b8f0a3e" in args and "529" not in args and "a@b.com" not in kwargs


def test_cursor_round_trip_and_rejects_garbage() -> None:
    cursor = encode_cursor("1700000000000", "task-1")
    assert cursor is not None and decode_cursor(cursor) == ("1700000000000", "task-1")
    assert encode_cursor("", "") is None
    with pytest.raises(ValueError):
        decode_cursor("nonsense")


def test_percentiles_nearest_rank() -> None:
    assert percentiles(list(range(1, 101))) == {"p50": 50, "p95": 95, "p99": 99}
    assert percentiles([]) == {"p50": None, "p95": None, "p99": None}


@pytest.mark.parametrize(
    ("request_", "error"),
    [
        (TaskRequest("no.such"), UnknownTask),
        (TaskRequest("maintenance.ping", queue="nope"), UnknownQueue),
        (TaskRequest("maintenance.ping", priority="ASAP"), InvalidPriority),
        (TaskRequest("maintenance.ping", countdown=10**9), InvalidRequest),
        (TaskRequest("maintenance.ping", idempotency_key="has spaces"), InvalidRequest),
        (TaskRequest("maintenance.ping", args=[object()]), InvalidRequest),
        (TaskRequest("maintenance.ping", retry_policy={"max_attempts": 0}), InvalidRequest),
    ],
)
def test_prepare_refuses_bad_requests(request_: TaskRequest, error: type[Exception]) -> None:
    with pytest.raises(error):
        prepare(request_)

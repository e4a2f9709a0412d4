"""Test instruments: tasks whose failures and durations the tests control.

Loaded by test workers through EXTRA_TASK_MODULES; each records what happened in Redis under
the key the test passes, so assertions read real effects.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from typing import Any

import httpx
from celery.exceptions import SoftTimeLimitExceeded
from sqlalchemy.orm import Session

from backend.adapters import mailer
from backend.adapters.redis_clients import get_redis
from backend.core.db.models import Case
from backend.core.enums import QueueName, Role
from backend.platform.catalogue import RetryPolicy, TaskSpec, register_spec
from backend.platform.celery_app import celery_app
from backend.resilience import effects
from backend.resilience.external_calls import external_call
from backend.worker import TrackedTask, tracked_task

_FAST_RETRY = RetryPolicy(max_attempts=4, backoff_base_s=0.5, backoff_cap_s=4, jitter=0.2)
for spec in (
    TaskSpec("testing.flaky", QueueName.MAINTENANCE, _FAST_RETRY, submit_roles=frozenset(Role)),
    TaskSpec("testing.always_fail", QueueName.MAINTENANCE, _FAST_RETRY),
    TaskSpec("testing.sleep", QueueName.MAINTENANCE, _FAST_RETRY, soft_time_limit_s=60),
    TaskSpec("testing.record", QueueName.REPORTS, RetryPolicy(max_attempts=1)),
    TaskSpec("testing.beat_tick", QueueName.MAINTENANCE, RetryPolicy(max_attempts=1)),
    # Needs the shared "testrate" limit (set by the test in the workers' RATE_LIMITS).
    TaskSpec(
        "testing.rate_limited",
        QueueName.REPORTS,
        RetryPolicy(max_attempts=1),
        rate_limits=("testrate",),
    ),
    TaskSpec(
        "testing.call_service",
        QueueName.REPORTS,
        RetryPolicy(max_attempts=10, backoff_base_s=0.2, backoff_cap_s=1, jitter=0.2),
    ),
    TaskSpec(
        "testing.stubborn",
        QueueName.MAINTENANCE,
        RetryPolicy(max_attempts=3),
        soft_time_limit_s=1,
        time_limit_s=2,
    ),
):
    register_spec(spec)

# A fast schedule entry for the beat tests, only in the processes they start with this env
# (beat imports this module before it sets up its schedule); production's stays as it is.
if os.environ.get("TEST_BEAT_TICK_KEY"):
    celery_app.conf.beat_schedule = {
        **celery_app.conf.beat_schedule,
        "testing-beat-tick": {
            "task": "testing.beat_tick",
            "schedule": float(os.environ.get("TEST_BEAT_TICK_S", "1")),
            "args": [os.environ["TEST_BEAT_TICK_KEY"]],
        },
    }


@tracked_task("testing.flaky")
def flaky(self: TrackedTask, key: str, fail_times: int) -> dict[str, Any]:
    attempt = get_redis().incr(f"test:{key}:attempts")
    get_redis().rpush(f"test:{key}:times", time.time())
    if int(attempt) <= fail_times:  # type: ignore[arg-type]
        raise ConnectionError(f"simulated outage, attempt {attempt}")
    return {"attempts": attempt}


@tracked_task("testing.always_fail")
def always_fail(self: TrackedTask, key: str) -> None:
    get_redis().incr(f"test:{key}:attempts")
    raise RuntimeError("this task always fails")


@tracked_task("testing.sleep")
def sleep(self: TrackedTask, key: str, seconds: float) -> dict[str, Any]:
    get_redis().set(f"test:{key}:started", 1)
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        time.sleep(0.05)
    get_redis().set(f"test:{key}:finished", 1)
    return {"slept": seconds}


@tracked_task("testing.record")
def record(self: TrackedTask, key: str, label: str) -> None:
    get_redis().rpush(f"test:{key}:order", label)


@tracked_task("testing.stubborn")
def stubborn(self: TrackedTask, key: str, ignore_soft_limit: bool) -> None:
    """Runs past its 1 s soft limit; if told to, ignores it and gets killed at the 2 s hard one."""
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            time.sleep(0.05)
        except SoftTimeLimitExceeded:
            get_redis().set(f"test:{key}:soft", 1)
            if not ignore_soft_limit:
                raise


@tracked_task("testing.beat_tick")
def beat_tick(self: TrackedTask, key: str) -> None:
    """One execution of the test schedule entry: when, and which beat process sent it."""
    origin = self.request.origin or ""
    get_redis().rpush(f"test:{key}:ticks", f"{time.time()} {origin}")


@tracked_task("testing.rate_limited")
def rate_limited(self: TrackedTask, key: str) -> None:
    """Records when it ran; its spec takes a "testrate" slot before each run."""
    get_redis().rpush(f"test:{key}:runs", time.time())


@tracked_task("testing.call_service")
def call_service(self: TrackedTask, key: str, url: str) -> None:
    """One GET to a local HTTP server through the "testsvc" limit and breaker."""
    with external_call("testsvc"):
        get_redis().rpush(f"test:{key}:calls", time.time())
        httpx.get(url, timeout=2).raise_for_status()


# --- exactly-once effects (tests/integration/resilience/test_effects.py) -----------------

register_spec(TaskSpec("testing.effect_once", QueueName.REPORTS, RetryPolicy(max_attempts=3)))
EFFECT_OWNER = "effects-test"
EFFECT_CLAIM_S = 3.0


def effect_address(key: str) -> str:
    return f"effect-{key}@example.com"


@tracked_task("testing.effect_once")
def effect_once(
    self: TrackedTask, key: str, medium: str, pause_at: str, pause_s: float
) -> dict[str, Any]:
    """One side effect through the effect ledger: a Case row (medium "row") or an e-mail to
    `effect_address(key)` ("email"). On its first attempt only, it says where it is and pauses
    `pause_s`, so that a test can kill it there: "before" is inside the ledger's scope (the
    transaction open, or the claim held) just before the effect; "after" is once the effect
    is recorded, before the task reports success."""
    client = get_redis()
    attempt = int(client.incr(f"test:{key}:attempts"))  # type: ignore[arg-type]
    client.rpush(f"test:{key}:pids", os.getpid())
    first = attempt == 1

    def pause(where: str) -> None:
        if first and pause_at == where:
            client.set(f"test:{key}:at", where)
            time.sleep(pause_s)

    outcome = _row_once(key, pause) if medium == "row" else _email_once(key, pause)
    pause("after")
    return {"ran": outcome.ran, "attempt": attempt}


def _row_once(key: str, pause: Callable[[str], None]) -> effects.Outcome[None]:
    def insert(session: Session) -> None:
        pause("before")
        session.add(Case(owner=EFFECT_OWNER, title=key, description="effect ledger test"))

    return effects.once_in_transaction(f"testing:{key}", "testing", insert)


def _email_once(key: str, pause: Callable[[str], None]) -> effects.Outcome[None]:
    ledger_key = f"testing:{key}"
    message = mailer.build_message(
        to=[effect_address(key)],
        subject="effect ledger test",
        text="one e-mail per key",
        html=None,
        message_id=mailer.message_id_for(ledger_key),
    )

    def send() -> None:
        pause("before")
        mailer.send(message)

    # A short claim: a run killed inside the call holds it, and its redelivery waits it out.
    return effects.once_external(ledger_key, "testing", send, claim_s=EFFECT_CLAIM_S)


# --- per-key rate limits (tests/integration/resilience/test_rate_limits.py) --------------

register_spec(TaskSpec("testing.keyed_call", QueueName.REPORTS, RetryPolicy(max_attempts=1)))


@tracked_task("testing.keyed_call")
def keyed_call(self: TrackedTask, key: str, limit_key: str) -> None:
    """One call through the "testkeyed" limit for `limit_key` (RATE_LIMITS_PER_KEY in the test
    workers' env); records which key ran, and when."""
    with external_call("testkeyed", limit_key):
        get_redis().rpush(f"test:{key}:runs", f"{limit_key} {time.time()}")

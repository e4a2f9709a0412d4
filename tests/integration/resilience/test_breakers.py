"""The shared circuit breaker on real workers against a real local HTTP server that fails and
then recovers: it opens, tasks are deferred (not failed), one probe at a time, it closes; its
failure-ratio trigger; a probe whose worker died frees the half-open slot after its timeout."""

from __future__ import annotations

import itertools
import json
import threading
import time
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from backend.core.keys import keys
from backend.platform.enqueue import CeleryTaskService
from backend.platform.submissions import TaskRequest
from backend.resilience.breakers import BreakerPolicy, CircuitBreaker, Permit
from tests.support.http import auth
from tests.support.waiting import wait_for, wait_for_state

TASKS = 20


class FlakyService:
    """A local HTTP service that answers 503 while `failing` is set, and only once `hold` is
    cleared (30 s at most) while it is set; logs each request time."""

    def __init__(self) -> None:
        self.failing = threading.Event()
        self.hold = threading.Event()
        self.requests_ms: list[int] = []
        service = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                service.requests_ms.append(int(time.time() * 1000))
                deadline = time.monotonic() + 30
                while service.hold.is_set() and time.monotonic() < deadline:
                    time.sleep(0.05)
                self.send_response(503 if service.failing.is_set() else 200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *_: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/check"


@pytest.fixture()
def flaky_service() -> Iterator[FlakyService]:
    service = FlakyService()
    thread = threading.Thread(target=service.server.serve_forever, daemon=True)
    thread.start()
    yield service
    service.hold.clear()
    service.server.shutdown()
    service.server.server_close()


def test_breaker_opens_defers_probes_once_and_closes(
    clean_redis: Any,
    worker_factory: Any,
    flaky_service: FlakyService,
    app_client: Any,
    tokens: dict[str, str],
) -> None:
    service = CeleryTaskService(clean_redis)
    workers = [worker_factory(["reports"], concurrency=2) for _ in range(2)]

    def breaker_state() -> str:
        stats = app_client.get("/api/tasks/stats", headers=auth(tokens["operator"])).json()
        return str(stats["breakers"]["testsvc"]["state"])

    assert breaker_state() == "closed"
    events = clean_redis.pubsub(ignore_subscribe_messages=True)
    events.subscribe(keys.events_breakers)
    flaky_service.failing.set()
    key = uuid.uuid4().hex
    ids = service.enqueue_many(
        [TaskRequest("testing.call_service", [key, flaky_service.url]) for _ in range(TASKS)]
    )
    wait_for(lambda: breaker_state() == "open", 20, "the breaker to open")
    # While it stays open, no call reaches the service and the tasks wait, deferred.
    time.sleep(4)
    records = [service.status.get(i) for i in ids]
    assert not [r for r in records if r["state"] == "FAILURE"]
    deferred = [
        r for r in records if any("deferred: breaker testsvc" in h["detail"] for h in r["history"])
    ]
    assert deferred

    flaky_service.failing.clear()
    wait_for(lambda: all(service.status.get(i)["state"] == "SUCCESS" for i in ids), 60, "all tasks")
    assert breaker_state() == "closed"
    for w in workers:
        w.stop()

    changes = [fields for _, fields in clean_redis.xrange(keys.audit_breakers)]
    path = [(c["from"], c["to"]) for c in changes if c["breaker"] == "testsvc"]
    assert path[0] == ("closed", "open")
    assert ("open", "half_open") in path and ("half_open", "open") in path  # a failed probe
    assert path[-1] == ("half_open", "closed")
    # Each change was also published as a live event.
    published = []
    deadline = time.monotonic() + 1
    while time.monotonic() < deadline:  # an ignored subscribe confirmation also reads as None
        message = events.get_message(timeout=0.1)
        if message is not None:
            published.append(json.loads(message["data"]))
    events.close()
    assert [(e["from"], e["to"]) for e in published if e["breaker"] == "testsvc"] == path
    # Half-open lets exactly one call through, whatever the number of workers asking.
    for change, after in itertools.pairwise(changes):
        if change["to"] == "half_open":
            start, end = int(change["at"]), int(after["at"])
            probes = [t for t in flaky_service.requests_ms if start <= t <= end]
            assert len(probes) == 1, (change, after, probes)
    # No call starts while it is open: the only requests in an open period are the ones let
    # through just before it opened (the other pool processes' calls in flight).
    for change, after in itertools.pairwise(changes):
        if change["to"] == "open":
            start, end = int(change["at"]) + 500, int(after["at"])
            assert not [t for t in flaky_service.requests_ms if start < t < end]
    records = [service.status.get(i) for i in ids]
    attempts = sorted(r["attempts"] for r in records)
    print(f"breaker path {path}; {len(flaky_service.requests_ms)} requests; attempts {attempts}")


def ratio_breaker(client: Any, *, window_s: float = 60) -> CircuitBreaker:
    """A breaker that only the ratio can open: 50 % of at least 10 calls in the window."""
    policy = BreakerPolicy(
        fail_max=1000, failure_ratio=0.5, min_calls=10, window_s=window_s, cooldown_s=60,
        probe_timeout_s=60,
    )  # fmt: skip
    return CircuitBreaker(client, f"ratio-{uuid.uuid4().hex[:8]}", policy)


def make_calls(breaker: CircuitBreaker, outcomes: str) -> None:
    """One call per letter: S succeeds, F fails."""
    for outcome in outcomes:
        permit = breaker.allow()
        assert permit.allowed
        if outcome == "S":
            breaker.record_success(permit)
        else:
            breaker.record_failure(permit)


def state_of(breaker: CircuitBreaker) -> str:
    return str(breaker.redis.hget(keys.breaker(breaker.service), "state") or "closed")


def test_failure_ratio_opens_at_the_ratio_with_enough_calls(clean_redis: Any) -> None:
    at_ratio = ratio_breaker(clean_redis)
    make_calls(at_ratio, "SF" * 4 + "S")  # 9 calls, 4 failed: too few calls to judge
    assert state_of(at_ratio) == "closed"
    make_calls(at_ratio, "F")  # 10 calls, 5 failed: 50 %
    assert state_of(at_ratio) == "open"
    assert not at_ratio.allow().allowed
    changes = [c for _, c in clean_redis.xrange(keys.audit_breakers)]
    assert [(c["from"], c["to"], c["reason"]) for c in changes] == [
        ("closed", "open", "5 of 10 calls failed")
    ]


def test_failure_ratio_below_the_ratio_or_below_min_calls_stays_closed(clean_redis: Any) -> None:
    below_ratio = ratio_breaker(clean_redis)
    make_calls(below_ratio, "SFSSF" * 4)  # 20 calls, 8 failed: 40 %
    assert state_of(below_ratio) == "closed"
    too_few = ratio_breaker(clean_redis)
    make_calls(too_few, "F" * 9)  # every call failed, but only 9 of the 10 needed
    assert state_of(too_few) == "closed"
    make_calls(too_few, "F")
    assert state_of(too_few) == "open"


def test_failure_ratio_forgets_calls_older_than_the_window(clean_redis: Any) -> None:
    breaker = ratio_breaker(clean_redis, window_s=1)
    make_calls(breaker, "F" * 9)
    time.sleep(1.1)
    make_calls(breaker, "F")  # with the old nine, 10 of 10 would have failed
    assert state_of(breaker) == "closed"
    make_calls(breaker, "F" * 9)  # 10 failures within this window
    assert state_of(breaker) == "open"


def open_breaker(breaker: CircuitBreaker) -> None:
    make_calls(breaker, "F" * breaker.policy.fail_max)
    assert state_of(breaker) == "open"


def one_failure_breaker(client: Any, *, cooldown_s: float) -> CircuitBreaker:
    """A breaker of its own, opened by one failure (already open)."""
    policy = BreakerPolicy(
        fail_max=1, failure_ratio=1, min_calls=1, window_s=60, cooldown_s=cooldown_s,
        probe_timeout_s=60,
    )  # fmt: skip
    breaker = CircuitBreaker(client, f"probe-{uuid.uuid4().hex[:8]}", policy)
    open_breaker(breaker)
    return breaker


def test_concurrent_callers_get_exactly_one_probe(clean_redis: Any) -> None:
    breaker = one_failure_breaker(clean_redis, cooldown_s=0.2)
    policy = breaker.policy
    callers = 12
    for _ in range(5):
        time.sleep(policy.cooldown_s + 0.05)
        permits = ask_at_once(breaker, callers)
        probes = [p for p in permits if p.allowed]
        assert len(probes) == 1 and probes[0].probe
        assert {p.state for p in permits} == {"half_open"}
        breaker.record_failure(probes[0])  # open again, for the next round
        assert state_of(breaker) == "open"


def ask_at_once(breaker: CircuitBreaker, callers: int) -> list[Permit]:
    """`callers` threads call `allow` together (released by one barrier)."""
    barrier = threading.Barrier(callers)
    permits: list[Permit] = []

    def ask() -> None:
        barrier.wait()
        permits.append(breaker.allow())

    threads = [threading.Thread(target=ask) for _ in range(callers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return permits


def test_released_probe_lets_the_next_caller_probe_at_once(clean_redis: Any) -> None:
    """A probe that will not call (its rate limit refused it) gives the half-open slot back."""
    breaker = one_failure_breaker(clean_redis, cooldown_s=0.1)
    time.sleep(breaker.policy.cooldown_s + 0.05)
    unused = breaker.allow()
    assert unused.probe and not breaker.allow().allowed
    breaker.release(unused)
    retry = breaker.allow()
    assert retry.probe
    breaker.release(unused)  # a stale token releases nothing
    assert not breaker.allow().allowed
    breaker.record_success(retry)
    assert state_of(breaker) == "closed"


PROBE_TIMEOUT_S = 3


def test_probe_whose_worker_died_frees_the_half_open_slot_after_its_timeout(
    clean_redis: Any, worker_factory: Any, flaky_service: FlakyService
) -> None:
    overrides = {"fail_max": 1, "cooldown_s": 0.5, "probe_timeout_s": PROBE_TIMEOUT_S}
    # The workers' "testsvc" breaker, and the same policy here.
    env = {"BREAKERS": json.dumps({"testsvc": overrides})}
    policy = BreakerPolicy(failure_ratio=1, min_calls=1, window_s=60, **overrides)
    here = CircuitBreaker(clean_redis, "testsvc", policy)
    open_breaker(here)
    service = CeleryTaskService(clean_redis)
    flaky_service.hold.set()
    workers = {w.hostname: w for w in (worker_factory(["reports"], 1, env=env) for _ in "ab")}
    first, second = uuid.uuid4().hex, uuid.uuid4().hex
    probe_id = service.enqueue("testing.call_service", [first, flaky_service.url])
    # After the cool-down the task wins the probe and its call hangs: kill its worker there.
    wait_for(lambda: len(flaky_service.requests_ms) == 1, 20, "the probe to reach the service")
    workers.pop(service.status.get(probe_id)["worker"]).kill()
    [survivor] = workers.values()
    flaky_service.hold.clear()  # the service has recovered
    try:
        # The other worker's task is deferred while the dead probe holds the slot, then
        # probes once its token expired, and closes the breaker.
        task_id = service.enqueue("testing.call_service", [second, flaky_service.url])
        assert state_of(here) == "half_open"
        denied = here.allow()
        assert not denied.allowed and denied.state == "half_open"
        assert 0 < clean_redis.pttl(keys.breaker_probe("testsvc")) <= PROBE_TIMEOUT_S * 1000
        result = wait_for_state(service.status.get, task_id, {"SUCCESS", "FAILURE"}, timeout=30)
    finally:
        survivor.stop()
    assert result["state"] == "SUCCESS" and result["attempts"] == 1
    assert any("deferred: breaker testsvc half_open" in h["detail"] for h in result["history"])
    assert state_of(here) == "closed"
    assert clean_redis.llen(f"test:{second}:calls") == 1  # one probe, no call before it
    assert len(flaky_service.requests_ms) == 2
    path = [
        (c["from"], c["to"]) for _, c in clean_redis.xrange(keys.audit_breakers)
        if c["breaker"] == "testsvc"
    ]  # fmt: skip
    assert path == [("closed", "open"), ("open", "half_open"), ("half_open", "closed")]

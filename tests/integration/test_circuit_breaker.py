"""The shared circuit breaker on real workers against a real local HTTP server that fails and
then recovers: it opens, tasks are deferred (not failed), one probe at a time, it closes."""

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

from backend.keys import keys
from backend.services.celery_task_service import CeleryTaskService, TaskRequest
from tests.conftest import auth, wait_for

TASKS = 20


class FlakyService:
    """A local HTTP service that answers 503 while `failing` is set; logs each request time."""

    def __init__(self) -> None:
        self.failing = threading.Event()
        self.requests_ms: list[int] = []
        service = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                service.requests_ms.append(int(time.time() * 1000))
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
    service.server.shutdown()


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

"""Trace context from the HTTP request into the task's message and the worker's log lines;
an unexpected API error logs its scrubbed traceback; Sentry (when SENTRY_DSN is set) gets
scrubbed events from the API and from a worker."""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

import pytest
from fastapi.testclient import TestClient

from backend.core import tracing
from backend.core.sentry import init_sentry
from backend.core.settings import settings
from backend.platform.enqueue import CeleryTaskService
from tests.support.http import auth
from tests.support.sentry import SentryInbox
from tests.support.waiting import wait_for, wait_for_state

PARENT = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
PII = "falhou para maria.silva@example.com, CPF 123.456.789-09"
# Kept out of the source lines Sentry sends as context, so that only a leak can show them.
SECRET_HEADERS = {"Authorization": "Bearer secret"}


def _worker_lines(path: Any) -> list[dict[str, Any]]:
    lines = []
    for raw in path.read_text(errors="replace").splitlines():
        try:
            lines.append(json.loads(raw))
        except ValueError:
            continue
    return lines


def test_a_request_trace_reaches_the_message_and_the_worker_logs(
    app_client: Any, tokens: dict[str, str], redis_client: Any, worker_factory: Any
) -> None:
    service = CeleryTaskService(redis_client)
    # No worker on `reports` yet: the message waits there to be read.
    r = app_client.post(
        "/api/tasks",
        headers={**auth(tokens["operator"]), "traceparent": PARENT},
        json={"name": "testing.always_fail", "args": [uuid.uuid4().hex], "queue": "reports",
              "retry_policy": {"max_attempts": 1}},
    )  # fmt: skip
    assert r.status_code == 202
    task_id = r.json()["task_id"]
    answered = tracing.parse(r.headers["traceparent"])
    assert answered is not None and answered.trace_id == TRACE_ID
    # The message the enqueue script pushed carries a child span of the request's.
    raw = next(m for m in redis_client.lrange("ltqtest:reports:6", 0, -1) if task_id in m)
    sent = tracing.parse(json.loads(raw)["headers"]["traceparent"])
    assert sent is not None and sent.trace_id == TRACE_ID
    assert sent.span_id not in {"00f067aa0ba902b7", answered.span_id}
    own = worker_factory(["reports"], concurrency=1, env={"LOG_LEVEL": "INFO"})
    try:
        wait_for_state(service.status.get, task_id, {"FAILURE"})
        wait_for(
            lambda: any(line.get("task_id") == task_id for line in _worker_lines(own.log)),
            10,
            "the worker's task_failed line",
        )
    finally:
        own.stop()
    failed = [line for line in _worker_lines(own.log) if line.get("task_id") == task_id]
    assert failed and all(line["trace_id"] == TRACE_ID for line in failed)
    assert all(line["span_id"] != sent.span_id for line in failed)  # the task's own span


@pytest.fixture()
def boom_client() -> Any:
    from backend.api.app import create_app

    app = create_app()

    @app.get("/boom")
    def boom() -> None:
        raise RuntimeError(PII)

    # No lifespan: the route needs none (and the session's app keeps the metrics collector).
    return TestClient(app, raise_server_exceptions=False)


def test_an_unexpected_error_logs_its_scrubbed_traceback(
    boom_client: Any, capfd: pytest.CaptureFixture[str]
) -> None:
    r = boom_client.get("/boom", headers={"traceparent": PARENT})
    assert r.status_code == 500
    assert r.json() == {"error": {"code": "internal_error", "message": "internal error"}}
    err = capfd.readouterr().err
    line = next(json.loads(raw) for raw in err.splitlines() if "unhandled_error" in raw)
    assert line["route"] == "/boom" and line["trace_id"] == TRACE_ID
    assert "Traceback" in line["exception"] and "RuntimeError" in line["exception"]
    assert "<email>" in line["exception"] and "<cpf>" in line["exception"]
    assert "maria" not in err and "123.456.789-09" not in err


def test_sentry_gets_scrubbed_events_from_the_api_and_a_worker(
    monkeypatch: pytest.MonkeyPatch, redis_client: Any, worker_factory: Any
) -> None:
    import sentry_sdk

    from backend.api.app import create_app, sentry_integrations

    with SentryInbox() as inbox:
        monkeypatch.setattr(settings.observability, "sentry_dsn", inbox.dsn)
        try:
            assert init_sentry(sentry_integrations, component="api")
            app = create_app()

            @app.get("/boom")
            def boom() -> None:
                raise RuntimeError(PII)

            client = TestClient(app, raise_server_exceptions=False)
            assert client.get("/boom", headers=SECRET_HEADERS).status_code == 500
            sentry_sdk.flush(timeout=10)
        finally:
            sentry_sdk.init(dsn=None)  # off again for the rest of the run
        # A worker with SENTRY_DSN reports a task's failure, scrubbed the same way.
        service = CeleryTaskService(redis_client)
        own = worker_factory(["reports"], concurrency=1, env={"SENTRY_DSN": inbox.dsn})
        try:
            task_id = service.enqueue(
                "testing.always_fail", [uuid.uuid4().hex], queue="reports",
                retry_policy={"max_attempts": 1},
            )  # fmt: skip
            wait_for_state(service.status.get, task_id, {"FAILURE"})
            deadline = time.monotonic() + 20
            while time.monotonic() < deadline and len(inbox.events()) < 2:
                time.sleep(0.2)
        finally:
            own.stop()
        events = inbox.events()
        raw = "\n".join(inbox.envelopes)
    api_events = [e for e in events if e.get("tags", {}).get("component") == "api"]
    worker_events = [e for e in events if e.get("tags", {}).get("component") == "worker"]
    assert api_events and worker_events, events
    shown = api_events[0]["exception"]["values"][-1]
    assert shown["type"] == "RuntimeError" and "<email>" in shown["value"]
    assert "maria" not in raw and "123.456.789-09" not in raw and "Bearer secret" not in raw
    assert worker_events[0]["exception"]["values"][-1]["value"] == "this task always fails"

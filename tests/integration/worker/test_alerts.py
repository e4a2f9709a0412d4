"""Operators are e-mailed once when a task fails for good; the development mailbox lists what
the local SMTP sink received. Real worker, real SMTP server, real SMTP sink process."""

from __future__ import annotations

import os
import smtplib
import subprocess
import time
import uuid
from email.message import EmailMessage, Message
from pathlib import Path
from typing import Any

import pytest

from backend.core.settings import settings
from backend.devtools.commands import smtp_sink_command
from backend.devtools.redis_server import free_port
from backend.platform.enqueue import CeleryTaskService
from tests.support.http import auth
from tests.support.smtp import decoded
from tests.support.waiting import wait_for_state


def test_failures_in_a_window_are_one_email_with_the_count(
    redis_client: Any, worker: Any, worker_factory: Any, mailbox: Any
) -> None:
    service = CeleryTaskService(redis_client)
    # This worker alerts on failure (a 4 s window); the shared one sends the e-mail.
    alerting = worker_factory(
        ["reports"],
        concurrency=2,
        env={"NOTIFY_OPERATORS_ON_FAILURE": "true", "ALERT_WINDOW_S": "4"},
    )
    try:
        failed = [
            service.enqueue(
                "testing.always_fail",
                [uuid.uuid4().hex],
                queue="reports",
                retry_policy={"max_attempts": 1},
            )
            for _ in range(6)
        ]
        for task_id in failed:
            wait_for_state(service.status.get, task_id, {"FAILURE"})
        deadline = time.monotonic() + 30
        alerts: list[Message] = []
        while time.monotonic() < deadline and not alerts:
            alerts = [m for m in mailbox.messages if failed[0] in decoded(m)[1]]
            time.sleep(0.1)
        time.sleep(1)  # a second e-mail for the same window would arrive within this
        alerts = [m for m in mailbox.messages if any(t in decoded(m)[1] for t in failed)]
    finally:
        alerting.stop()
    assert len(alerts) == 1
    assert alerts[0]["To"] == "ops@example.com"
    subject, body = decoded(alerts[0])
    assert subject == "[falha] 6 execução(ões) de testing.always_fail falharam em 1 min"
    assert all(task_id in body for task_id in failed)
    assert "RuntimeError: this task always fails" in body


@pytest.fixture()
def sink(tmp_path: Path) -> Any:
    port = free_port()
    proc = subprocess.Popen(
        smtp_sink_command(port), env={**os.environ, "MAILBOX_DIR": str(tmp_path)}
    )
    deadline = time.monotonic() + 15
    while True:
        try:
            smtplib.SMTP("127.0.0.1", port, timeout=1).quit()
            break
        except OSError:
            assert time.monotonic() < deadline, "SMTP sink did not start"
            time.sleep(0.1)
    yield port, tmp_path
    proc.terminate()
    proc.wait(10)


def test_dev_mailbox_lists_what_the_sink_received(
    app_client: Any, tokens: dict[str, str], sink: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    port, directory = sink
    message = EmailMessage()
    message["From"], message["To"], message["Subject"] = "a@x.com", "b@y.com", "Triagem concluída"
    message.set_content("olá")
    with smtplib.SMTP("127.0.0.1", port, timeout=5) as smtp:
        smtp.send_message(message)
    monkeypatch.setattr(settings.mail, "mailbox_dir", directory)
    # Not in development: the route does not exist.
    r = app_client.get("/api/dev/mailbox", headers=auth(tokens["operator"]))
    assert r.status_code == 404
    monkeypatch.setattr(settings.app, "environment", "development")
    assert app_client.get("/api/dev/mailbox", headers=auth(tokens["alice"])).status_code == 403
    r = app_client.get("/api/dev/mailbox", headers=auth(tokens["operator"]))
    assert r.status_code == 200
    (entry,) = r.json()["messages"]
    assert entry["subject"] == "Triagem concluída" and entry["to"] == ["b@y.com"]

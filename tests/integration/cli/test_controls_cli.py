"""`python -m backend queues|breakers|tasks|outbox`: the controls from a shell, as a real
process on the test Redis and database, audited with the actor."""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from typing import Any

from backend.platform import controls
from backend.platform.enqueue import CeleryTaskService
from tests.support.environment import ROOT


def cli(*args: str) -> tuple[int, Any]:
    run = subprocess.run(
        [sys.executable, "-m", "backend", *args], cwd=ROOT, capture_output=True, text=True,
        timeout=60, check=False,
    )  # fmt: skip
    try:
        return run.returncode, json.loads(run.stdout)
    except ValueError:
        return run.returncode, run.stderr or run.stdout


def test_queue_breaker_task_and_outbox_commands(redis_client: Any) -> None:
    code, out = cli("queues", "pause", "reports", "--actor", "tester")
    assert code == 0 and out["paused"] is True
    try:
        service = CeleryTaskService(redis_client)
        task_id = service.enqueue("testing.record", [uuid.uuid4().hex, "x"])
        code, shown = cli("tasks", "show", task_id)
        assert code == 0 and shown["state"] == "PENDING" and shown["name"] == "testing.record"
        code, cancelled = cli("tasks", "cancel", task_id, "--actor", "tester")
        assert code == 0 and cancelled["previous_state"] == "PENDING"
        assert service.status.get(task_id)["state"] == "REVOKED"
        code, purged = cli("queues", "purge", "reports", "--actor", "tester")
        assert code == 0 and purged["queue"] == "reports"
        assert service.status.queue_status("reports")["depth"] == 0
    finally:
        code, out = cli("queues", "resume", "reports", "--actor", "tester")
    assert code == 0 and out["paused"] is False
    code, opened = cli("breakers", "open", "testsvc", "--actor", "tester")
    assert code == 0 and opened["state"] == "open"
    code, reset = cli("breakers", "reset", "testsvc", "--actor", "tester")
    assert code == 0 and reset["state"] == "closed"
    code, backlog = cli("outbox", "status")
    assert code == 0 and set(backlog) == {"pending", "oldest_age_s"}
    code, error = cli("queues", "pause", "nosuch")
    assert code == 1 and "unknown queue" in error
    audit = controls.audit_entries(redis_client, limit=6)
    assert [(a["actor"], a["action"]) for a in audit] == [
        ("tester", "breaker_reset"), ("tester", "breaker_open"), ("tester", "queue_resume"),
        ("tester", "queue_purge"), ("tester", "task_cancel"), ("tester", "queue_pause"),
    ]  # fmt: skip

"""The command line is audited (source `cli`, role admin, actor the login or `--actor`): each
dead-letter, audit, control and key command that reads or changes protected data writes its
row, in the action's own transaction where it has one; a command that cannot be audited does
nothing and exits 1. Real `python -m backend` processes on the test Redis and database."""

from __future__ import annotations

import getpass
import json
import subprocess
import sys
import uuid
from typing import Any

from sqlalchemy import select

from backend.core.db.models import AuditEntry, DeadLetter
from backend.core.db.session import session_scope
from backend.platform import dead_letters
from backend.platform.enqueue import CeleryTaskService
from tests.support.environment import ROOT


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "backend", *args],
        cwd=ROOT, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip


def cli_rows(actor: str) -> list[tuple[str, str | None, str, str, str | None]]:
    """(action, resource id, role, outcome, source) of the actor's rows, oldest first."""
    with session_scope() as session:
        rows = session.scalars(
            select(AuditEntry).where(AuditEntry.actor == actor).order_by(AuditEntry.seq)
        )
        return [(r.action, r.resource_id, r.role, r.outcome, r.source) for r in rows]


def dead_letter() -> str:
    task_id = f"cli-audit-{uuid.uuid4().hex}"
    dead_letters.record(
        task_id=task_id, name="testing.record", queue="reports", reason="failed",
        error_type="RuntimeError", error_message="boom", owner="alice", priority="NORMAL",
        args=[uuid.uuid4().hex, "x"],
    )  # fmt: skip
    return task_id


def is_discarded(task_id: str) -> bool:
    with session_scope() as session:
        entry = session.get(DeadLetter, task_id)
        assert entry is not None
        return entry.discarded_at is not None


def test_dead_letter_and_audit_commands_are_audited() -> None:
    actor = f"tester-{uuid.uuid4().hex[:8]}"
    replay_me, discard_me = dead_letter(), dead_letter()
    listed = cli("dead-letter", "list", "--limit", "500", "--actor", actor)
    assert listed.returncode == 0, listed.stderr
    assert cli("dead-letter", "list", "--raw", "--limit", "1", "--actor", actor).returncode == 0
    replayed = cli("dead-letter", "replay", replay_me, "--actor", actor)
    assert replayed.returncode == 0, replayed.stderr
    assert cli("dead-letter", "discard", discard_me, "--actor", actor).returncode == 0
    refused = cli("dead-letter", "discard", discard_me, "--actor", actor)
    assert refused.returncode == 1  # already discarded: the row went with the failed action
    exported = cli("audit", "export", "--since", "2000-01-01T00:00:00Z", "--actor", actor,
                   "--as", actor)  # fmt: skip
    assert exported.returncode == 0, exported.stderr
    assert cli("audit", "verify", "--actor", actor).returncode == 0
    assert cli_rows(actor) == [
        ("dead_letter.list", None, "admin", "ok", "cli"),
        ("dead_letter.read_args", None, "admin", "ok", "cli"),
        ("dead_letter.replay", replay_me, "admin", "ok", "cli"),
        ("dead_letter.discard", discard_me, "admin", "ok", "cli"),
        ("audit.export", None, "admin", "ok", "cli"),
        ("audit.verify", None, "admin", "ok", "cli"),
    ]
    # The export ran after its own row was written: it lists the actor's first rows.
    exported_actions = [json.loads(line)["action"] for line in exported.stdout.splitlines()]
    assert exported_actions[:4] == [
        "dead_letter.list", "dead_letter.read_args", "dead_letter.replay", "dead_letter.discard"
    ]  # fmt: skip
    # Without --actor: the OS login.
    assert cli("dead-letter", "list", "--limit", "1").returncode == 0
    assert cli_rows(f"cli:{getpass.getuser()}")[-1][:2] == ("dead_letter.list", None)


def test_control_commands_are_audited(redis_client: Any) -> None:
    actor = f"tester-{uuid.uuid4().hex[:8]}"
    service = CeleryTaskService(redis_client)
    task_id = service.enqueue("testing.record", [uuid.uuid4().hex, "x"], queue="reports")
    assert cli("queues", "pause", "reports", "--actor", actor).returncode == 0
    try:
        assert cli("tasks", "show", task_id, "--actor", actor).returncode == 0
        assert cli("tasks", "cancel", task_id, "--actor", actor).returncode == 0
        assert cli("queues", "purge", "reports", "--actor", actor).returncode == 0
    finally:
        assert cli("queues", "resume", "reports", "--actor", actor).returncode == 0
    assert cli("breakers", "open", "testsvc", "--actor", actor).returncode == 0
    assert cli("breakers", "reset", "testsvc", "--actor", actor).returncode == 0
    assert cli("breakers", "close", "nosuch", "--actor", actor).returncode == 1
    assert cli("keys", "rotate", "--actor", actor).returncode == 0
    assert [(action, rid, outcome) for action, rid, _, outcome, _ in cli_rows(actor)] == [
        ("queue.pause", "reports", "ok"),
        ("task.read", task_id, "ok"),
        ("task.cancel", task_id, "ok"),
        ("queue.purge", "reports", "ok"),
        ("queue.resume", "reports", "ok"),
        ("breaker.change", "testsvc", "ok"),
        ("breaker.change", "testsvc", "ok"),
        ("breaker.change", "nosuch", "failed"),
        ("keys.rotate", None, "ok"),
    ]
    assert {(role, source) for _, _, role, _, source in cli_rows(actor)} == {("admin", "cli")}


def test_a_command_that_cannot_be_audited_does_nothing(
    redis_client: Any, failing_audit: None
) -> None:
    actor = f"tester-{uuid.uuid4().hex[:8]}"
    entry = dead_letter()
    service = CeleryTaskService(redis_client)
    task_id = service.enqueue("testing.record", [uuid.uuid4().hex, "x"], queue="reports")
    try:
        # One command of each kind: an SQL action (its row in the same transaction), a Redis
        # action (its row written first), a read.
        for argv in (
            ("dead-letter", "discard", entry),
            ("queues", "purge", "reports"),
            ("audit", "verify"),
        ):
            run = cli(*argv, "--actor", actor)
            assert run.returncode == 1 and "audit" in run.stderr, (argv, run.stderr)
            assert run.stdout == "", argv
        assert not is_discarded(entry)
        assert service.status.get(task_id)["state"] == "PENDING"
        assert service.status.queue_status("reports")["depth"] >= 1
    finally:
        service.cancel(task_id, terminate=False, requested_by="test")

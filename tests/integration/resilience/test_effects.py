"""Exactly-once effects on at-least-once delivery: SIGKILL a worker mid-task (its pool child,
its main process, or the whole of it) after or before the task's side effect, let Celery or
the reaper deliver the task again, and count the effects: a row in SQL, an e-mail received by
a real SMTP server. Real worker processes, real Redis, real SMTP."""

from __future__ import annotations

import os
import signal
import threading
import time
import uuid
from typing import Any

import psutil
import pytest
from sqlalchemy import select

from backend.adapters import mailer
from backend.core.db.models import Case
from backend.core.db.session import session_scope
from backend.core.errors import CallDeferred
from backend.core.keys import keys
from backend.platform.celery_app import celery_app
from backend.platform.enqueue import CeleryTaskService
from backend.resilience import effects
from tests.support.recipients import confirmed
from tests.support.recovery import recover
from tests.support.tasks import EFFECT_OWNER, effect_address
from tests.support.waiting import wait_for, wait_for_state

PAUSE_S = 8  # long enough for the test to kill the task during it; never waited out


@pytest.fixture()
def service(redis_client: Any) -> CeleryTaskService:
    return CeleryTaskService(redis_client)


def start_effect(service: CeleryTaskService, medium: str, pause_at: str) -> tuple[str, str]:
    key = uuid.uuid4().hex
    task_id = service.enqueue(
        "testing.effect_once", [key, medium, pause_at, PAUSE_S], queue="reports"
    )
    return task_id, key


def wait_paused(redis_client: Any, key: str, where: str) -> int:
    """Wait until the task's first attempt pauses at `where`; the pool child's pid."""
    wait_for(lambda: redis_client.get(f"test:{key}:at") == where, 20, f"task paused {where}")
    return int(redis_client.lindex(f"test:{key}:pids", 0))


def rows(key: str) -> int:
    """The effect's rows: the test owner's cases titled `key` (titles are sealed at rest, so
    they are compared once opened, not in SQL)."""
    with session_scope() as session:
        cases = session.scalars(select(Case).where(Case.owner == EFFECT_OWNER))
        return sum(1 for case in cases if case.title == key)


def e_mails(mailbox: Any, key: str) -> int:
    return sum(1 for m in mailbox.messages if m["To"] == effect_address(key))


def effect_count(mailbox: Any, medium: str, key: str) -> int:
    return rows(key) if medium == "row" else e_mails(mailbox, key)


def finished(service: CeleryTaskService, task_id: str) -> dict[str, Any]:
    record = wait_for_state(service.status.get, task_id, {"SUCCESS", "FAILURE"}, timeout=30)
    assert record["state"] == "SUCCESS", record
    return record


def kill_pool_child(
    service: CeleryTaskService, redis_client: Any, worker_factory: Any, medium: str, where: str
) -> tuple[dict[str, Any], str]:
    """SIGKILL the pool child running the task where it pauses; Celery rejects the message
    back to its queue and the worker's next child runs it. The final record, and the key."""
    worker = worker_factory(["reports"], concurrency=1)
    try:
        task_id, key = start_effect(service, medium, where)
        child = wait_paused(redis_client, key, where)
        assert child in worker.child_pids()
        os.kill(child, signal.SIGKILL)
        return finished(service, task_id), key
    finally:
        worker.stop()


@pytest.mark.parametrize("medium", ["row", "email"])
def test_pool_child_killed_after_the_effect_does_not_repeat_it(
    service: CeleryTaskService, redis_client: Any, worker_factory: Any, mailbox: Any, medium: str
) -> None:
    record, key = kill_pool_child(service, redis_client, worker_factory, medium, "after")
    assert record["attempts"] >= 2
    assert record["result"] == {"ran": False, "attempt": record["attempts"]}
    assert effect_count(mailbox, medium, key) == 1


@pytest.mark.parametrize("medium", ["row", "email"])
def test_pool_child_killed_before_the_effect_still_has_it_happen_once(
    service: CeleryTaskService, redis_client: Any, worker_factory: Any, mailbox: Any, medium: str
) -> None:
    record, key = kill_pool_child(service, redis_client, worker_factory, medium, "before")
    assert record["attempts"] >= 2 and record["result"]["ran"] is True
    # (e-mail: killed holding the claim, whose expiry the redelivery waits out, deferred,
    # if Celery delivers it again sooner than EFFECT_CLAIM_S)
    assert effect_count(mailbox, medium, key) == 1


@pytest.mark.parametrize(
    ("how", "medium"), [("main", "row"), ("main", "email"), ("whole", "email")]
)
def test_worker_killed_after_the_effect_is_recovered_without_repeating_it(
    service: CeleryTaskService,
    redis_client: Any,
    worker: Any,
    worker_factory: Any,
    mailbox: Any,
    how: str,
    medium: str,
) -> None:
    doomed = worker_factory(["reports"], concurrency=1)
    task_id, key = start_effect(service, medium, "after")
    child = wait_paused(redis_client, key, "after")
    if how == "whole":
        doomed.kill()
    else:
        os.kill(doomed.proc.pid, signal.SIGKILL)
        doomed.proc.wait(timeout=10)
    killed_at = time.monotonic()
    # Celery's prefork children ask the kernel for SIGKILL when their parent dies
    # (PR_SET_PDEATHSIG): no orphan finishes the task beside its redelivery. Were one to,
    # the ledger still holds (test_concurrent_runs_... below).
    assert not _alive(child), "the pool child outlived its main process"
    rescuer = worker_factory(["reports"], concurrency=1)
    try:
        recover(service, task_id, killed_at)
        record = finished(service, task_id)
    finally:
        rescuer.stop()
        if _alive(child):
            os.kill(child, signal.SIGKILL)
    assert record["attempts"] >= 2
    assert effect_count(mailbox, medium, key) == 1


def _alive(pid: int) -> bool:
    """Whether `pid` still runs a second from now (a killed child is reaped or a zombie)."""
    time.sleep(1)
    try:
        return bool(psutil.Process(pid).status() != psutil.STATUS_ZOMBIE)
    except psutil.NoSuchProcess:
        return False


def test_redelivered_notification_sends_one_e_mail(
    service: CeleryTaskService, redis_client: Any, worker: Any, mailbox: Any
) -> None:
    address = f"{uuid.uuid4().hex[:8]}@example.com"
    confirmed("alice", address)  # the confirmation flow: test_recipients.py
    with session_scope() as session:
        case = Case(owner="alice", title="Despejo", description="Recebi ordem de despejo.",
                    client_email=address)  # fmt: skip
        session.add(case)
        session.flush()
        case_id = case.id
    triage = service.enqueue("triage.classify_case", [case_id])
    notify = wait_for_state(service.status.get, triage, {"SUCCESS"})["result"][
        "notification_task_id"
    ]
    assert finished(service, notify)["result"]["sent"] is True
    # The worker died after the send and before it reported success: the record says STARTED,
    # and the broker delivers the very same message (same task id) again.
    redis_client.hset(keys.task(notify), "state", "STARTED")
    celery_app.send_task(
        "notifications.send_email",
        args=["triage_completed", case_id],
        task_id=notify,
        queue="notifications",
    )
    wait_for(lambda: (service.status.get(notify) or {})["attempts"] == 2, 30, "the redelivery")
    again = finished(service, notify)
    assert again["result"] == {"kind": "triage_completed", "sent": False, "reason": "already sent"}
    received = [m for m in mailbox.messages if m["To"] == address]
    assert len(received) == 1
    assert received[0]["Message-ID"] == mailer.message_id_for(f"triage_completed:{case_id}")


def test_concurrent_runs_of_an_external_effect_call_it_once(mailbox: Any) -> None:
    key = uuid.uuid4().hex
    message = mailer.build_message(
        to=[effect_address(key)], subject="concurrent", text="once", html=None
    )
    calling = threading.Event()

    def send() -> None:
        calling.set()
        time.sleep(0.5)  # the other run arrives while this one is in the SMTP exchange
        mailer.send(message)

    first: list[effects.Outcome[None]] = []
    thread = threading.Thread(target=lambda: first.append(effects.once_external(key, "t", send)))
    thread.start()
    assert calling.wait(10)
    with pytest.raises(CallDeferred):  # the task would come back later, no attempt used
        effects.once_external(key, "t", send)
    thread.join(10)
    assert first[0].ran is True
    assert effects.once_external(key, "t", send).ran is False
    assert e_mails(mailbox, key) == 1


def test_concurrent_runs_of_a_database_effect_commit_it_once() -> None:
    key = uuid.uuid4().hex
    inside = threading.Event()

    def insert(session: Any, wait: bool) -> None:
        if wait:
            inside.set()
            time.sleep(0.5)  # the other run checks, inserts and commits meanwhile
        session.add(Case(owner=EFFECT_OWNER, title=key, description="concurrent"))

    slow: list[effects.Outcome[None]] = []
    thread = threading.Thread(
        target=lambda: slow.append(effects.once_in_transaction(key, "t", lambda s: insert(s, True)))
    )
    thread.start()
    assert inside.wait(10)
    assert effects.once_in_transaction(key, "t", lambda s: insert(s, False)).ran is True
    thread.join(20)
    assert slow[0].ran is False  # its row and its ledger entry were rolled back together
    assert rows(key) == 1


def test_an_effect_marked_done_but_not_yet_recorded_is_not_repeated(
    redis_client: Any, mailbox: Any
) -> None:
    """The run died after the receiver accepted (the Redis marker is set from inside the SMTP
    exchange) but before the SQL ledger row: the next run does not call again, and records it."""
    key = f"marked:{uuid.uuid4().hex}"
    calls: list[int] = []
    effects.mark_done(key)
    # Its claim may still be held by the dead run, or have expired: both ways.
    claim = redis_client.lock(keys.effect_claim(key), timeout=30)
    assert claim.acquire(blocking=False)
    assert effects.once_external(key, "test", lambda: calls.append(1)).ran is False
    claim.release()
    assert effects.once_external(key, "test", lambda: calls.append(1)).ran is False
    assert calls == [] and effects.completed(key)


def test_the_mailer_marks_the_send_done_before_closing_the_session(mailbox: Any) -> None:
    key = f"mailer-{uuid.uuid4().hex}"
    seen: list[int] = []
    message = mailer.build_message(
        to=[effect_address(key)], subject="s", text="t", html=None,
        message_id=mailer.message_id_for(key),
    )  # fmt: skip
    mailer.send(message, on_accepted=lambda: seen.append(e_mails(mailbox, key)))
    # Called once, when the server already had the message.
    assert seen == [1] and e_mails(mailbox, key) == 1

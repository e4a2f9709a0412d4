"""Erasure survives a crash: a real worker SIGKILLed between two steps of
`privacy.erase_subject` (held there by the ENVIRONMENT=test hook TEST_ERASURE_PAUSE_AFTER),
the message goes back to its queue, another worker finishes the erasure, nothing planted is
left on disk or in Redis' append-only file, and the audit trail has one completed erasure."""

from __future__ import annotations

import time
from typing import Any

from sqlalchemy import func, select

from backend.core.db.models import Case, DataKey, Document, PrivacyEvent
from backend.core.db.session import session_scope
from backend.core.enums import ErasureStep, PrivacyAction
from backend.core.security.tokens import issue_token
from backend.platform import privacy_audit
from backend.platform.enqueue import CeleryTaskService
from backend.services import privacy
from tests.support import environment
from tests.support.planted import needles, plant, search
from tests.support.waiting import wait_for, wait_for_state

SUBJECT = "erin"
VALUES = {
    "cpf": "950.564.142-71",
    "email": "erin.apagada@example.net",
    "sentence": "Erin Apagada fez tratamento psiquiatrico e perdeu a guarda em Jundiai",
}


def _audit(action: PrivacyAction) -> int:
    with session_scope() as session:
        return session.scalar(
            select(func.count()).select_from(PrivacyEvent).where(
                PrivacyEvent.subject_ref == privacy_audit.subject_ref(SUBJECT),
                PrivacyEvent.action == action,
            )
        )  # fmt: skip


def test_an_erasure_killed_half_way_is_finished_by_the_redelivered_task(
    app_client: Any, worker: Any, worker_factory: Any, redis_client: Any
) -> None:
    service = CeleryTaskService(redis_client)
    ids = plant(app_client, issue_token(SUBJECT, "client"), service, **VALUES)
    wanted = needles(**VALUES)
    # On `reports`, a queue the shared worker leaves alone: the doomed worker takes it.
    doomed = worker_factory(
        ["reports"], concurrency=1,
        env={"TEST_ERASURE_PAUSE_AFTER": ErasureStep.ROWS.name, "TEST_ERASURE_PAUSE_S": "120"},
    )  # fmt: skip
    privacy_audit.record(PrivacyAction.ERASURE_REQUESTED, actor="adam", subject=SUBJECT, detail={})
    task_id = service.enqueue(privacy.ERASE_TASK, [SUBJECT, "adam"], owner="adam", queue="reports")
    paused = f"test:erasure-paused:{task_id}"
    wait_for(lambda: redis_client.get(paused) == "ROWS", 60, "the erasure paused after ROWS")

    # Half-way: the rows are gone, the data key and the Redis task records are not.
    with session_scope() as session:
        assert session.get(Case, ids["case_id"]) is None
        assert session.get(DataKey, SUBJECT) is not None
    assert redis_client.exists(service.keys.task(ids["triage_task"]))
    doomed.kill()
    killed_at = time.monotonic()

    rescuer = worker_factory(["reports"], concurrency=1, env={"REAPER_INTERVAL_S": "1"})
    try:
        record = wait_for_state(service.status.get, task_id, {"SUCCESS", "FAILURE"}, 90)
    finally:
        rescuer.stop()
    print(f"\nerasure finished {time.monotonic() - killed_at:.1f} s after the kill")
    assert record["state"] == "SUCCESS", record
    assert record["attempts"] >= 2 and record["worker"] == rescuer.hostname
    # The second run found the rows gone and did the rest.
    assert record["result"]["cases_removed"] == 0 and record["result"]["data_key_destroyed"] == 1
    with session_scope() as session:
        assert session.get(DataKey, SUBJECT) is None
        assert session.get(Document, ids["document_id"]) is None
    assert not redis_client.exists(service.keys.task(ids["triage_task"]))
    assert _audit(PrivacyAction.ERASURE_COMPLETED) == 1
    assert _audit(PrivacyAction.ERASURE_REQUESTED) == 1
    redis_client.ping()  # the AOF is written before Redis answers the next command
    left = search([environment.tmp_dir()], wanted)
    print("planted-value search after the resumed erasure:", left or "none found")
    assert left == {}

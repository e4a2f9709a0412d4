"""Finding 1: another client's case or document through the generic POST /api/tasks.

Each attack is tried through the API (refused: 404 as for a missing id, 403 for a queue or
priority out of bounds) and, bypassing the API, straight onto the queue (the task refuses
it): the victim's row is never read, never changed, and its id is no oracle."""

from __future__ import annotations

import time
import uuid
from typing import Any

import pytest
from sqlalchemy import select

from backend.core.db.models import AuditEntry, Case, Document
from backend.core.db.session import session_scope
from backend.platform.enqueue import CeleryTaskService
from backend.platform.submissions import TaskRequest
from tests.support.http import auth
from tests.support.waiting import wait_for, wait_for_state


@pytest.fixture(scope="module")
def service(redis_server: Any) -> CeleryTaskService:
    from backend.adapters.redis_clients import get_redis

    return CeleryTaskService(get_redis())


def stored_case(owner: str) -> str:
    """A pending case of `owner`, written straight to SQL (no triage task runs for it)."""
    case_id = str(uuid.uuid4())
    with session_scope() as session:
        session.add(Case(id=case_id, owner=owner, title="Despejo", description="Aluguel atrasado"))
    return case_id


def stored_document(owner: str) -> str:
    document_id = str(uuid.uuid4())
    with session_scope() as session:
        session.add(
            Document(
                id=document_id, owner=owner, filename="a.txt", text="segredo", status="pending"
            )
        )
    return document_id


def case_status(case_id: str) -> str:
    with session_scope() as session:
        case = session.get(Case, case_id)
        assert case is not None
        return case.status


def submit(client: Any, token: str, body: dict[str, Any]) -> Any:
    return client.post("/api/tasks", json=body, headers=auth(token))


@pytest.mark.parametrize(
    ("task", "make_row"),
    [("triage.classify_case", stored_case), ("documents.analyse_document", stored_document)],
)
def test_a_client_cannot_submit_a_task_on_someone_elses_row(
    app_client: Any, tokens: dict[str, str], task: str, make_row: Any
) -> None:
    victims = make_row("alice")
    theirs = submit(app_client, tokens["bob"], {"name": task, "args": [victims]})
    missing = submit(app_client, tokens["bob"], {"name": task, "args": [str(uuid.uuid4())]})
    # Someone else's row and a missing one answer alike: the error is no oracle of ids.
    assert theirs.status_code == missing.status_code == 404
    assert theirs.json()["error"]["code"] == missing.json()["error"]["code"] == "not_found"
    assert "alice" not in theirs.text
    # The refusal is audited (actor, kind and id; nothing else).
    with session_scope() as session:
        row = session.scalars(select(AuditEntry).where(AuditEntry.resource_id == victims)).one()
        assert (row.actor, row.outcome, row.action) == ("bob", "refused", "task.submit")
    # Kwargs cannot smuggle an id past the check.
    smuggled = submit(app_client, tokens["bob"], {"name": task, "kwargs": {"case_id": victims}})
    assert smuggled.status_code == 422
    # The owner may; so may an operator.
    assert submit(app_client, tokens["alice"], {"name": task, "args": [victims]}).status_code == 202


@pytest.mark.parametrize(
    ("body", "status"),
    [
        ({"name": "maintenance.ping", "queue": "reports"}, 403),
        ({"name": "maintenance.ping", "priority": "CRITICAL"}, 403),
        ({"name": "maintenance.ping", "priority": "HIGH"}, 202),
        ({"name": "maintenance.ping", "queue": "maintenance"}, 202),
    ],
)
def test_a_client_stays_within_its_specs_queue_and_priority(
    app_client: Any, tokens: dict[str, str], body: dict[str, Any], status: int
) -> None:
    assert submit(app_client, tokens["alice"], body).status_code == status
    # Operators may route and prioritise as they need.
    assert submit(app_client, tokens["operator"], body).status_code == 202


def test_the_task_refuses_a_clients_task_on_someone_elses_case(
    service: CeleryTaskService, worker: Any
) -> None:
    """Bypassing the API (an old API version, a replayed message): the worker checks again."""
    victims = stored_case("alice")
    unknown = str(uuid.uuid4())
    ids = [
        service.submit(
            TaskRequest("triage.classify_case", [case], owner="bob", owner_role="client")
        ).task_id
        for case in (victims, unknown)
    ]
    records = [wait_for_state(service.status.get, i, {"SUCCESS", "FAILURE"}) for i in ids]
    assert [r["state"] for r in records] == ["FAILURE", "FAILURE"]
    # No area, urgency or existence leaks through the error: both read the same.
    messages = [
        r["error"]["message"].replace(victims, "ID").replace(unknown, "ID") for r in records
    ]
    assert messages[0] == messages[1] == "case ID is not available"
    assert case_status(victims) == "pending"


def test_cancelling_an_attackers_task_never_fails_the_victims_case(
    service: CeleryTaskService, worker: Any
) -> None:
    """Before the fix, cancelling its own task on Alice's case made her case `failed` (which
    could complete her batch early and fire its webhook and e-mail)."""
    victims, control = stored_case("alice"), stored_case("carol")
    attack = service.submit(
        TaskRequest(
            "triage.classify_case", [victims], owner="bob", owner_role="client", countdown=1
        )
    ).task_id
    own = service.submit(
        TaskRequest(
            "triage.classify_case", [control], owner="carol", owner_role="client", countdown=2
        )
    ).task_id
    service.cancel(attack, requested_by="bob")
    service.cancel(own, requested_by="carol")
    # The control (due later, same path) proves the worker has handled both cancellations.
    wait_for(lambda: case_status(control) == "failed", 30, "the owner's cancel to settle")
    time.sleep(0.5)
    assert case_status(victims) == "pending"


def test_case_ids_from_idempotency_keys_are_hmacs_not_uuid5(
    app_client: Any, tokens: dict[str, str]
) -> None:
    key = f"k-{uuid.uuid4().hex}"
    r = app_client.post(
        "/api/triage",
        json={"title": "Despejo", "description": "Aluguel atrasado há três meses"},
        headers=auth(tokens["alice"]) | {"Idempotency-Key": key},
    )
    assert r.status_code == 202
    published_namespace = uuid.UUID("6f1d0c53-3b0e-4a53-9a57-3c1f2f1f7a10")
    assert r.json()["case_id"] != str(uuid.uuid5(published_namespace, f"alice\n{key}"))

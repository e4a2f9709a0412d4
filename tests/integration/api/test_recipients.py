"""Finding 6, recipient confirmation: a client's notification goes only to an address that
confirmed for that client through a signed link (or, with RECIPIENT_CONFIRMATION=off, only to
the account's own address). Real API routes, real worker processes, a real SMTP server."""

from __future__ import annotations

import time
import uuid
from datetime import datetime
from typing import Any

import pytest
from sqlalchemy import select

from backend.core.db.models import AuditEntry, Case
from backend.core.db.session import session_scope
from backend.core.security import confirmation
from backend.core.security.tokens import issue_token
from backend.core.settings import settings
from backend.platform.enqueue import CeleryTaskService
from tests.support.http import auth
from tests.support.recipients import confirmation_token, confirmed
from tests.support.smtp import decoded
from tests.support.waiting import wait_for, wait_for_state

CASE = {"title": "Plano de saúde negou cirurgia", "description": "O plano negou a cirurgia."}


@pytest.fixture()
def service(redis_client: Any) -> CeleryTaskService:
    return CeleryTaskService(redis_client)


def fresh_address() -> str:
    return f"r-{uuid.uuid4().hex[:10]}@example.com"


def mail_to(mailbox: Any, address: str) -> list[tuple[str, str]]:
    return [decoded(m) for m in list(mailbox.messages) if m["To"] == address]


def submit(app_client: Any, token: str, address: str) -> str:
    r = app_client.post("/api/triage", json={**CASE, "client_email": address},
                        headers=auth(token))  # fmt: skip
    assert r.status_code == 202, r.text
    return str(r.json()["task_id"])


def notification_of(service: CeleryTaskService, triage_task: str) -> dict[str, Any]:
    record = wait_for_state(service.status.get, triage_task, {"SUCCESS", "FAILURE"})
    assert record["state"] == "SUCCESS", record
    notify = record["result"]["notification_task_id"]
    return {"result": notification_of_task(service, notify)}  # skipped: never failed, retried


def listed(app_client: Any, token: str) -> dict[str, dict[str, Any]]:
    r = app_client.get("/api/recipients", headers=auth(token))
    assert r.status_code == 200, r.text
    return {item["address"]: item for item in r.json()["items"]}


def confirm(app_client: Any, token: str) -> Any:
    return app_client.get("/api/recipients/confirm", params={"token": token})  # no bearer


def wait_for_confirmation_mail(mailbox: Any, address: str, count: int = 1) -> str:
    def arrived() -> bool:
        return len(mail_to(mailbox, address)) >= count

    wait_for(arrived, 30, f"{count} confirmation e-mail(s)")
    received = [m for m in list(mailbox.messages) if m["To"] == address]
    return confirmation_token(received[count - 1])


def test_an_address_gets_mail_only_once_it_confirmed(
    app_client: Any, tokens: dict[str, str], service: CeleryTaskService, worker: Any,
    mailbox: Any,
) -> None:  # fmt: skip
    address = fresh_address()
    first = notification_of(service, submit(app_client, tokens["alice"], address))
    # Unconfirmed: the notification is skipped with its reason; the address got only the link.
    assert first["result"] == {
        "kind": "triage_completed", "sent": False, "reason": "recipient not confirmed"
    }  # fmt: skip
    token = wait_for_confirmation_mail(mailbox, address)
    [(subject, body)] = mail_to(mailbox, address)
    assert "Confirme" in subject and CASE["title"] not in body and "alice" not in body
    mine = listed(app_client, tokens["alice"])[address]
    assert mine["state"] == "pending"
    assert datetime.fromisoformat(mine["confirmation_expires_at"]).tzinfo is not None
    assert address not in listed(app_client, tokens["bob"])
    # Naming it again within the link's lifetime sends no second link.
    notification_of(service, submit(app_client, tokens["alice"], address))
    time.sleep(1)
    assert len(mail_to(mailbox, address)) == 1

    r = confirm(app_client, token)
    assert r.status_code == 200 and r.json() == {"confirmed": True, "recipient_id": mine["id"]}
    assert confirm(app_client, token).status_code == 200  # the same link twice
    assert listed(app_client, tokens["alice"])[address]["state"] == "confirmed"
    delivered = notification_of(service, submit(app_client, tokens["alice"], address))
    assert delivered["result"]["sent"] is True
    subjects = [s for s, _ in mail_to(mailbox, address)]
    assert len(subjects) == 2 and subjects[1].startswith("Seu caso foi analisado")
    # Audited by the recipient's id, never the address.
    with session_scope() as session:
        rows = list(session.scalars(select(AuditEntry).where(
            AuditEntry.action == "recipient.confirm", AuditEntry.resource_id == mine["id"]
        )))  # fmt: skip
        assert [(r.actor, r.role, r.outcome) for r in rows] == [
            ("recipient-link", "anonymous", "ok")
        ]
        assert not any(
            address in (r.resource_id or "") + r.actor for r in session.scalars(select(AuditEntry))
        )


def test_tampered_expired_foreign_and_revoked_links_change_nothing(
    app_client: Any, tokens: dict[str, str], service: CeleryTaskService, worker: Any,
    mailbox: Any,
) -> None:  # fmt: skip
    address = fresh_address()
    notification_of(service, submit(app_client, tokens["alice"], address))
    alices = wait_for_confirmation_mail(mailbox, address)
    notification_of(service, submit(app_client, tokens["bob"], address))
    bobs = wait_for_confirmation_mail(mailbox, address, 2)
    alice_id = listed(app_client, tokens["alice"])[address]["id"]
    bob_id = listed(app_client, tokens["bob"])[address]["id"]
    rid, expires, mac = alices.split(".")
    assert rid == alice_id
    past = int(time.time()) - 10
    for bad in (
        f"{rid}.{expires}.{'A' if mac[0] != 'A' else 'B'}{mac[1:]}",  # altered MAC
        f"{rid}.{int(expires) + 3600}.{mac}",  # a later expiry
        f"{bob_id}.{expires}.{mac}",  # alice's link pointed at bob's row
        f"{alice_id}.{bobs.split('.')[1]}.{bobs.split('.')[2]}",  # bob's MAC on alice's row
        confirmation.sign(alice_id, "alice", address, past),  # well signed, expired
        confirmation.sign(alice_id, "alice", address, past + 7200),  # not the link sent
        "not-a-token",
    ):
        r = confirm(app_client, bad)
        assert r.status_code == 400, (bad, r.text)
        assert r.json()["error"]["code"] == "invalid_confirmation"
    assert listed(app_client, tokens["alice"])[address]["state"] == "pending"
    assert listed(app_client, tokens["bob"])[address]["state"] == "pending"

    # Bob's link confirms the address for bob only: alice's mail to it stays held.
    assert confirm(app_client, bobs).status_code == 200
    assert listed(app_client, tokens["bob"])[address]["state"] == "confirmed"
    assert listed(app_client, tokens["alice"])[address]["state"] == "pending"
    held = notification_of(service, submit(app_client, tokens["alice"], address))
    assert held["result"]["reason"] == "recipient not confirmed"

    # Revoking: someone else's recipient answers 404; a revoked address's link is dead.
    foreign = app_client.delete(f"/api/recipients/{alice_id}", headers=auth(tokens["bob"]))
    assert foreign.status_code == 404
    r = app_client.delete(f"/api/recipients/{alice_id}", headers=auth(tokens["alice"]))
    assert r.status_code == 200 and r.json()["state"] == "revoked"
    assert confirm(app_client, alices).status_code == 400
    assert listed(app_client, tokens["alice"])[address]["state"] == "revoked"
    r = app_client.delete(f"/api/recipients/{bob_id}", headers=auth(tokens["bob"]))
    assert r.status_code == 200
    stopped = notification_of(service, submit(app_client, tokens["bob"], address))
    assert stopped["result"]["reason"] == "recipient not confirmed"
    with session_scope() as session:
        outcomes = [(r.action, r.actor, r.outcome) for r in session.scalars(
            select(AuditEntry).where(AuditEntry.resource_id == alice_id).order_by(AuditEntry.seq)
        )]  # fmt: skip
    assert ("recipient.confirm", "recipient-link", "refused") in outcomes
    assert ("recipient.revoke", "bob", "refused") in outcomes
    assert ("recipient.revoke", "alice", "ok") in outcomes
    assert not any(o == ("recipient.confirm", "recipient-link", "ok") for o in outcomes)


def test_the_worker_checks_the_address_itself(
    app_client: Any, tokens: dict[str, str], service: CeleryTaskService, worker: Any,
    mailbox: Any,
) -> None:  # fmt: skip
    """The gate is in the worker, from SQL: a case that never went through the route (so no
    link was ever sent), or an address revoked after its case was submitted, gets no mail."""
    address = fresh_address()

    def case_for(addr: str) -> str:
        with session_scope() as session:
            case = Case(owner="alice", title="Despejo", description="Ordem de despejo.",
                        client_email=addr)  # fmt: skip
            session.add(case)
            session.flush()
            return case.id

    def notify(case_id: str) -> dict[str, Any]:
        triage = wait_for_state(
            service.status.get, service.enqueue("triage.classify_case", [case_id]), {"SUCCESS"}
        )
        return notification_of_task(service, triage["result"]["notification_task_id"])

    first = case_for(address)
    assert notify(first)["reason"] == "recipient not confirmed"
    recipient_id = confirmed("alice", address)
    # The skipped e-mail was not marked sent: the same event, sent again, now goes.
    again = service.enqueue("notifications.send_email", ["triage_completed", first],
                            idempotency_key=uuid.uuid4().hex)  # fmt: skip
    assert notification_of_task(service, again)["sent"] is True
    second = case_for(address)
    r = app_client.delete(f"/api/recipients/{recipient_id}", headers=auth(tokens["alice"]))
    assert r.status_code == 200
    assert notify(second)["reason"] == "recipient not confirmed"
    [(subject, _)] = mail_to(mailbox, address)  # the one sent while confirmed; no link ever
    assert subject.startswith("Seu caso foi analisado")


def notification_of_task(service: CeleryTaskService, task_id: str) -> dict[str, Any]:
    record = wait_for_state(service.status.get, task_id, {"SUCCESS", "FAILURE"})
    assert record["state"] == "SUCCESS" and record["attempts"] == 1, record
    return dict(record["result"])


def test_confirmations_count_against_the_recipients_quota(
    app_client: Any, monkeypatch: pytest.MonkeyPatch, worker: Any
) -> None:
    monkeypatch.setattr(settings.security, "email_recipients_per_hour", 1)
    user = f"quota-{uuid.uuid4().hex[:8]}"
    token = issue_token(user, "client")
    # A new address is two e-mails (its link, then the notification): over a quota of 1.
    r = app_client.post("/api/triage", json={**CASE, "client_email": fresh_address()},
                        headers=auth(token))  # fmt: skip
    assert r.status_code == 429 and r.json()["error"]["code"] == "quota_exceeded"
    assert listed(app_client, token) == {}
    known = fresh_address()
    confirmed(user, known)
    r = app_client.post("/api/triage", json={**CASE, "client_email": known}, headers=auth(token))
    assert r.status_code == 202


def test_with_confirmation_off_mail_goes_only_to_the_accounts_own_address(
    app_client: Any, service: CeleryTaskService, worker: Any, worker_factory: Any,
    mailbox: Any, monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    monkeypatch.setattr(settings.security, "recipient_confirmation", "off")
    own_address, named = fresh_address(), fresh_address()
    user = f"off-{uuid.uuid4().hex[:8]}"
    token = issue_token(user, "client", email=own_address)
    r = app_client.post("/api/triage", json={**CASE, "client_email": named}, headers=auth(token))
    assert r.status_code == 202
    record = wait_for_state(service.status.get, r.json()["task_id"], {"SUCCESS"})
    items = listed(app_client, token)
    assert set(items) == {own_address} and items[own_address]["state"] == "account"
    # A worker of its own with the setting off (the shared one runs with it on), on a queue
    # only it serves.
    off = worker_factory(["reports"], concurrency=1, env={"RECIPIENT_CONFIRMATION": "off"})
    try:
        sent = service.enqueue(
            "notifications.send_email", ["triage_completed", record["result"]["case_id"]],
            queue="reports", idempotency_key=uuid.uuid4().hex,
        )  # fmt: skip
        result = wait_for_state(service.status.get, sent, {"SUCCESS", "FAILURE"})
    finally:
        off.stop()
    assert result["result"] == {"kind": "triage_completed", "sent": True, "recipients": 1}
    [(subject, _)] = mail_to(mailbox, own_address)
    assert subject.startswith("Seu caso foi analisado")
    assert mail_to(mailbox, named) == []  # neither a notification nor a confirmation link

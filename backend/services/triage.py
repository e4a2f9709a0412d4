"""Submitting cases for triage and reading them back: the case row first, then its task.

Idempotency without duplicates under concurrency: with an `Idempotency-Key` the case id is
derived from (user, key[, position in a batch]), so a repeated or concurrent request finds the
same row (the primary key refuses a second one). The case row is written with its task id and
the task's outbox row in one transaction, so a case never exists without its task, and a
request that finds the case returns its task. The task is published after the commit, or by the
outbox relay when Redis is down (backend/platform/outbox.py).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from backend.core.crypto import keyring
from backend.core.db.models import Batch, Case, OutboxEntry
from backend.core.db.session import session_scope
from backend.core.enums import AuditAction, ResourceType
from backend.core.errors import Conflict
from backend.core.security.ids import derived_uuid
from backend.platform.audit import AuditContext
from backend.platform.enqueue import CeleryTaskService
from backend.platform.outbox import Outbox, stage
from backend.platform.submissions import TaskRequest, check_idempotency_key, row_task

TRIAGE_TASK = "triage.classify_case"
_CLAIM_ATTEMPTS = 3


@dataclass(frozen=True)
class CaseDraft:
    title: str
    description: str
    client_email: str | None = None


@dataclass(frozen=True)
class SubmittedCase:
    case_id: str
    task_id: str
    created: bool  # False: the idempotency key named a case submitted before
    # False: accepted while Redis was down; the outbox relay publishes it once Redis is back.
    queued: bool = True


@dataclass(frozen=True)
class _Claimed:
    task_ids: dict[str, str]  # every wanted case's triage task
    inserted: set[str]  # cases created by this request
    staged: list[TaskRequest]  # tasks staged by this request, to publish after the commit
    staging: set[str]  # the cases of those tasks
    waiting: set[str]  # earlier cases whose task is still in the outbox


def case_id_for(owner: str, idempotency_key: str, position: int | None = None) -> str:
    """The case id a user's idempotency key stands for (per position within a batch)."""
    # HMAC under ID_SECRET: a case id cannot be computed from the (user, key) it stands for.
    parts = (
        (owner, idempotency_key) if position is None else (owner, idempotency_key, str(position))
    )
    return derived_uuid("case", *parts)


def _matches(case: Case, owner: str, draft: CaseDraft) -> bool:
    return (case.owner, case.title, case.description, case.client_email) == (
        owner,
        draft.title,
        draft.description,
        draft.client_email,
    )


@dataclass(frozen=True)
class CaseView:
    """A case as the API shows it (read outside any session; the description stays here)."""

    id: str
    owner: str
    status: str
    title: str
    area: str | None
    urgency: str | None
    triage: dict[str, Any] | None
    task_id: str | None
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, case: Case) -> CaseView:
        return cls(
            id=case.id, owner=case.owner, status=case.status, title=case.title,
            area=case.area, urgency=case.urgency, triage=case.triage, task_id=case.task_id,
            created_at=case.created_at, updated_at=case.updated_at,
        )  # fmt: skip


def submit_cases(
    tasks: CeleryTaskService,
    *,
    owner: str,
    drafts: Sequence[tuple[int | None, CaseDraft]],
    idempotency_key: str | None,
    batch: Batch | None = None,
    audit: AuditContext | None = None,
) -> list[SubmittedCase]:
    """Create the cases and their triage tasks (one transaction, one Redis round trip).

    `drafts` pairs each case with its position in a batch (None for a single case);
    the position keeps the derived ids of a replayed batch stable. The cases, their
    outbox rows and `batch` (if new) are committed together; the tasks are published
    after the commit, or by the outbox relay if Redis is down (`queued` False).
    """
    if idempotency_key is not None:
        check_idempotency_key(idempotency_key)
    wanted = [
        (
            case_id_for(owner, idempotency_key, position) if idempotency_key else str(uuid.uuid4()),
            position,
            draft,
        )
        for position, draft in drafts
    ]
    keyring.ensure(owner)  # before the transaction: sealing never waits on its own write lock
    claimed = _claim(owner, wanted, batch, audit)
    queued = Outbox(tasks).publish(claimed.staged)
    return [
        SubmittedCase(
            case_id,
            claimed.task_ids[case_id],
            case_id in claimed.inserted,
            queued=(queued if case_id in claimed.staging else case_id not in claimed.waiting),
        )
        for case_id, _, _ in wanted
    ]


def _claim(
    owner: str,
    wanted: Sequence[tuple[str, int | None, CaseDraft]],
    batch: Batch | None,
    audit: AuditContext | None,
) -> _Claimed:
    """Insert the cases that do not exist yet with their staged tasks. A concurrent
    insert of the same id is seen on the next attempt."""
    ids = [case_id for case_id, _, _ in wanted]
    for attempt in range(_CLAIM_ATTEMPTS):
        try:
            with session_scope() as session:
                claimed = _claim_in(session, owner, wanted, ids, batch)
                if audit is not None:  # in the cases' transaction: none without its row
                    if batch is not None and claimed.inserted:
                        audit.record(
                            session, AuditAction.SUBMIT_BATCH, ResourceType.BATCH, batch.id
                        )
                    for case_id in sorted(claimed.inserted):
                        audit.record(session, AuditAction.SUBMIT_CASE, ResourceType.CASE, case_id)
                return claimed
        except IntegrityError:
            if attempt == _CLAIM_ATTEMPTS - 1:
                raise
    raise AssertionError("unreachable")


def _claim_in(
    session: Session,
    owner: str,
    wanted: Sequence[tuple[str, int | None, CaseDraft]],
    ids: Sequence[str],
    batch: Batch | None,
) -> _Claimed:
    found = {case.id: case for case in session.scalars(select(Case).where(Case.id.in_(ids)))}
    for case_id, _, draft in wanted:
        case = found.get(case_id)
        if case is not None and not _matches(case, owner, draft):
            raise Conflict("Idempotency-Key was already used for another case")
    if batch is not None and session.get(Batch, batch.id) is None:
        session.add(batch)
    # New cases, and (from before the outbox) cases that never got a task.
    needing = [
        case_id for case_id in ids if found.get(case_id) is None or not found[case_id].task_id
    ]
    staged = stage(
        session,
        [row_task(TRIAGE_TASK, case_id, owner=owner, key="triage") for case_id in needing],
    )
    task_ids = {case_id: str(req.task_id) for case_id, req in zip(needing, staged, strict=True)}
    new = []
    for case_id, position, draft in wanted:
        case = found.get(case_id)
        if case is not None:
            if case_id in task_ids:
                case.task_id = task_ids[case_id]
            else:
                task_ids[case_id] = str(case.task_id)
            continue
        new.append(
            Case(
                id=case_id,
                owner=owner,
                title=draft.title,
                description=draft.description,
                client_email=draft.client_email,
                task_id=task_ids[case_id],
                batch_id=batch.id if batch is not None else None,
                batch_index=position if batch is not None else None,
            )
        )
    session.add_all(new)
    earlier = [task_ids[case_id] for case_id in found if case_id not in needing]
    waiting = set(
        session.scalars(select(OutboxEntry.task_id).where(OutboxEntry.task_id.in_(earlier)))
    )
    return _Claimed(
        task_ids=task_ids,
        inserted={case.id for case in new},
        staged=staged,
        staging=set(needing),
        waiting={case_id for case_id in found if task_ids[case_id] in waiting},
    )


def get_case(case_id: str) -> CaseView | None:
    with session_scope() as session:
        case = session.get(Case, case_id)
        return CaseView.of(case) if case is not None else None

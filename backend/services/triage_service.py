"""Submitting cases for triage and reading them back: the case row first, then its task.

Idempotency without duplicates under concurrency: with an `Idempotency-Key` the case id is
derived from (user, key[, position in a batch]), so a repeated or concurrent request finds the
same row (the primary key refuses a second one). The task is enqueued with the idempotency key
`triage:{case_id}`, which the enqueue script resolves atomically, so requests that all find
the case without a task yet still enqueue exactly one.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError

from backend.db.models import Case
from backend.db.session import session_scope
from backend.errors import Conflict
from backend.services.celery_task_service import (
    CeleryTaskService,
    check_idempotency_key,
    row_task,
)

TRIAGE_TASK = "triage.classify_case"
# Fixed namespace of the case ids derived from idempotency keys; changing it breaks replays.
_CASE_NAMESPACE = uuid.UUID("6f1d0c53-3b0e-4a53-9a57-3c1f2f1f7a10")
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


def case_id_for(owner: str, idempotency_key: str, position: int | None = None) -> str:
    """The case id a user's idempotency key stands for (per position within a batch)."""
    name = f"{owner}\n{idempotency_key}" + ("" if position is None else f"\n{position}")
    return str(uuid.uuid5(_CASE_NAMESPACE, name))


def _matches(case: Case, owner: str, draft: CaseDraft) -> bool:
    return (case.owner, case.title, case.description, case.client_email) == (
        owner,
        draft.title,
        draft.description,
        draft.client_email,
    )


class TriageService:
    def __init__(self, tasks: CeleryTaskService) -> None:
        self.tasks = tasks

    def submit(
        self,
        *,
        owner: str,
        drafts: Sequence[tuple[int | None, CaseDraft]],
        idempotency_key: str | None,
    ) -> list[SubmittedCase]:
        """Create the cases and enqueue their triage (one round trip for all of them).

        `drafts` pairs each case with its position in a batch (None for a single case);
        the position keeps the derived ids of a replayed batch stable.
        """
        if idempotency_key is not None:
            check_idempotency_key(idempotency_key)
        wanted = [
            (
                case_id_for(owner, idempotency_key, position)
                if idempotency_key
                else str(uuid.uuid4()),
                draft,
            )
            for position, draft in drafts
        ]
        task_ids, inserted = self._claim(owner, wanted)
        pending = [case_id for case_id, task_id in task_ids.items() if task_id is None]
        try:
            enqueued = self.tasks.enqueue_many(
                [row_task(TRIAGE_TASK, case_id, owner=owner, key="triage") for case_id in pending]
            )
        except Exception:
            self._forget(inserted)
            raise
        with session_scope() as session:
            for case_id, task_id in zip(pending, enqueued, strict=True):
                session.execute(
                    update(Case)
                    .where(Case.id == case_id, Case.task_id.is_(None))
                    .values(task_id=task_id)
                )
                task_ids[case_id] = task_id
        return [
            SubmittedCase(case_id, str(task_ids[case_id]), case_id in inserted)
            for case_id, _ in wanted
        ]

    def _claim(
        self, owner: str, wanted: Sequence[tuple[str, CaseDraft]]
    ) -> tuple[dict[str, str | None], set[str]]:
        """Insert the cases that do not exist yet; returns every case's task id (None when it
        has none yet) and the ids inserted here. A concurrent insert of the same id is seen
        on the next attempt."""
        ids = [case_id for case_id, _ in wanted]
        for attempt in range(_CLAIM_ATTEMPTS):
            try:
                with session_scope() as session:
                    found = {
                        case.id: case
                        for case in session.scalars(select(Case).where(Case.id.in_(ids)))
                    }
                    for case_id, draft in wanted:
                        case = found.get(case_id)
                        if case is not None and not _matches(case, owner, draft):
                            raise Conflict("Idempotency-Key was already used for another case")
                    new = [
                        Case(
                            id=case_id,
                            owner=owner,
                            title=draft.title,
                            description=draft.description,
                            client_email=draft.client_email,
                        )
                        for case_id, draft in wanted
                        if case_id not in found
                    ]
                    session.add_all(new)
                return (
                    {
                        case_id: found[case_id].task_id if case_id in found else None
                        for case_id in ids
                    },
                    {case.id for case in new},
                )
            except IntegrityError:
                if attempt == _CLAIM_ATTEMPTS - 1:
                    raise
        raise AssertionError("unreachable")

    def _forget(self, case_ids: set[str]) -> None:
        """Undo the inserts of a request whose enqueue failed: nothing half-done stays."""
        if not case_ids:
            return
        with session_scope() as session:
            session.execute(delete(Case).where(Case.id.in_(case_ids), Case.task_id.is_(None)))

    def get_case(self, case_id: str) -> Case | None:
        with session_scope() as session:
            return session.get(Case, case_id)

"""Who owns a stored row, by kind and id: the generic task endpoint checks that a client's task
names only rows the client owns."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select

from backend.core.db.models import Batch, Case, Document, Report
from backend.core.db.session import session_scope
from backend.core.enums import ResourceType

__all__ = ["owners_of"]

_MODELS: dict[ResourceType, type[Case] | type[Document] | type[Report] | type[Batch]] = {
    ResourceType.CASE: Case,
    ResourceType.DOCUMENT: Document,
    ResourceType.REPORT: Report,
    ResourceType.BATCH: Batch,
}


def owners_of(kind: ResourceType, ids: Sequence[str]) -> dict[str, str]:
    """{id: owner} for the rows of that kind that exist (missing ids are absent)."""
    model = _MODELS[kind]
    if not ids:
        return {}
    with session_scope() as session:
        rows = session.execute(select(model.id, model.owner).where(model.id.in_(list(ids))))
        return {str(row_id): str(owner) for row_id, owner in rows}

"""The second ownership check, in the task: a task a client submitted touches only that
client's rows, whatever the API checked before (a message from an older API, a replay, a bug).

Who submitted a task travels in its message headers (`ltq_owner`, `ltq_owner_role`), which
Celery hands to the task as request attributes, and in its record (`owner`, `owner_role`),
which the settle hook reads after a failure or a cancel. A task without an owner, or owned by
`system`, is the platform's own and trusted, as are operators' and admins' tasks.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from backend.core.enums import SYSTEM_OWNER, Role
from backend.platform.messages import OWNER_HEADER, OWNER_ROLE_HEADER

__all__ = ["Submitter", "allowed_for", "may_touch", "recorded_submitter", "submitter"]

Submitter = tuple[str | None, str | None]  # (owner, role)


def submitter(task: Any) -> Submitter:
    """(owner, role) of the running task's submission, from its message headers."""
    request = getattr(task, "request", None)
    owner = getattr(request, OWNER_HEADER, None) or None
    role = getattr(request, OWNER_ROLE_HEADER, None) or None
    return owner, role


def recorded_submitter(record: Mapping[str, str] | None) -> Submitter:
    """(owner, role) from a task's status record (None, None without one)."""
    if not record:
        return None, None
    return record.get("owner") or None, record.get("owner_role") or None


def allowed_for(who: Submitter, row_owner: str | None) -> bool:
    owner, role = who
    if owner is None or owner == SYSTEM_OWNER:
        return True
    if role in {r.value for r in Role} and Role(str(role)).sees_everything:
        return True
    return owner == row_owner


def may_touch(task: Any, row_owner: str | None) -> bool:
    """True when the running task may read or change a row owned by `row_owner`."""
    return allowed_for(submitter(task), row_owner)

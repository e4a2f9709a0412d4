"""What each role may do, declared once: the API's dependencies, the README's table and the
tests all read `ROLE_PERMISSIONS`.

Clients submit work and see their own; operators watch the whole platform, cancel, retry and
replay; admins also discard, purge, change breakers and limits, revoke tokens, read the audit
trail, read dead letters' raw arguments and run privacy actions.
"""

from __future__ import annotations

from enum import StrEnum

from backend.core.enums import Role

__all__ = ["ROLE_PERMISSIONS", "Permission", "allowed"]


class Permission(StrEnum):
    SUBMIT = "submit"  # own cases, documents, reports, tasks the spec allows
    READ_OWN = "read_own"  # own tasks, cases, documents, reports, batches
    READ_ALL = "read_all"  # everyone's tasks, cases, documents, reports; stats, queues
    CANCEL_ANY = "cancel_any"  # cancel anyone's task, terminate a running one
    RETRY = "retry"  # run a failed task again
    READ_DEAD_LETTERS = "read_dead_letters"  # the store, arguments masked
    REPLAY_DEAD_LETTERS = "replay_dead_letters"
    PLATFORM_REPORTS = "platform_reports"  # reports over every client's work
    READ_METRICS = "read_metrics"
    DISCARD_DEAD_LETTERS = "discard_dead_letters"
    READ_DEAD_LETTER_ARGS = "read_dead_letter_args"  # unmasked; audited
    PURGE_QUEUES = "purge_queues"
    CHANGE_BREAKERS = "change_breakers"
    CHANGE_LIMITS = "change_limits"
    REVOKE_TOKENS = "revoke_tokens"
    READ_AUDIT = "read_audit"
    PRIVACY_ACTIONS = "privacy_actions"  # data-subject export and erasure


_CLIENT = frozenset({Permission.SUBMIT, Permission.READ_OWN})
_OPERATOR = _CLIENT | {
    Permission.READ_ALL,
    Permission.CANCEL_ANY,
    Permission.RETRY,
    Permission.READ_DEAD_LETTERS,
    Permission.REPLAY_DEAD_LETTERS,
    Permission.PLATFORM_REPORTS,
    Permission.READ_METRICS,
}
_ADMIN = frozenset(Permission)

ROLE_PERMISSIONS: dict[Role, frozenset[Permission]] = {
    Role.CLIENT: _CLIENT,
    Role.OPERATOR: frozenset(_OPERATOR),
    Role.ADMIN: _ADMIN,
}


def allowed(role: Role, permission: Permission) -> bool:
    return permission in ROLE_PERMISSIONS[role]

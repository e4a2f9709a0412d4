"""Roles: every cell of the README's table, over HTTP. Each endpoint is asked by each role; a
role without the permission gets 403 (and the refusal is audited), a role with it gets past
the check (whatever the endpoint then answers for a made-up id)."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from backend.core.enums import Role
from backend.core.security.permissions import ROLE_PERMISSIONS, Permission
from tests.support.http import auth

MISSING = str(uuid.uuid4())
# (method, path, params, json, permission): one row per endpoint of the table.
ENDPOINTS: list[tuple[str, str, dict[str, Any], Any, Permission]] = [
    ("GET", "/api/tasks/stats", {}, None, Permission.READ_ALL),
    ("GET", "/api/tasks/queue/triage", {}, None, Permission.READ_ALL),
    ("POST", f"/api/tasks/retry/{MISSING}", {}, None, Permission.RETRY),
    ("GET", "/api/tasks/dead-letter", {}, None, Permission.READ_DEAD_LETTERS),
    ("POST", f"/api/tasks/dead-letter/{MISSING}/replay", {}, None, Permission.REPLAY_DEAD_LETTERS),
    ("POST", "/api/tasks/dead-letter/replay", {}, {"name": "none.such"},
     Permission.REPLAY_DEAD_LETTERS),
    ("DELETE", f"/api/tasks/dead-letter/{MISSING}", {}, None, Permission.DISCARD_DEAD_LETTERS),
    ("GET", "/api/tasks/dead-letter", {"raw": "true"}, None, Permission.READ_DEAD_LETTER_ARGS),
    ("POST", "/api/auth/revoke", {}, {"jti": f"role-test-{MISSING}"}, Permission.REVOKE_TOKENS),
    ("GET", "/api/audit", {"limit": 1}, None, Permission.READ_AUDIT),
    ("GET", "/metrics", {}, None, Permission.READ_METRICS),
    ("POST", "/api/reports", {}, {"scope": "platform", "period_hours": 1, "format": "csv"},
     Permission.PLATFORM_REPORTS),
]  # fmt: skip
TOKENS = {Role.CLIENT: "alice", Role.OPERATOR: "operator", Role.ADMIN: "admin"}


@pytest.mark.parametrize("role", list(Role), ids=lambda r: r.value)
@pytest.mark.parametrize(
    ("method", "path", "params", "body", "permission"),
    ENDPOINTS,
    ids=[f"{m} {p.replace(MISSING, '{id}')} {q}" for m, p, q, _, _ in ENDPOINTS],
)
def test_every_cell_of_the_roles_table(
    app_client: Any,
    tokens: dict[str, str],
    role: Role,
    method: str,
    path: str,
    params: dict[str, Any],
    body: Any,
    permission: Permission,
) -> None:
    r = app_client.request(
        method, path, params=params, json=body, headers=auth(tokens[TOKENS[role]])
    )
    if permission in ROLE_PERMISSIONS[role]:
        assert r.status_code not in (401, 403), (role, path, r.status_code, r.text)
    else:
        assert r.status_code == 403, (role, path, r.status_code, r.text)


def test_the_table_separates_admins_from_operators() -> None:
    operator, admin = ROLE_PERMISSIONS[Role.OPERATOR], ROLE_PERMISSIONS[Role.ADMIN]
    admin_only = {
        Permission.DISCARD_DEAD_LETTERS, Permission.READ_DEAD_LETTER_ARGS,
        Permission.PURGE_QUEUES, Permission.CHANGE_BREAKERS, Permission.CHANGE_LIMITS,
        Permission.REVOKE_TOKENS, Permission.READ_AUDIT, Permission.PRIVACY_ACTIONS,
    }  # fmt: skip
    assert admin_only <= admin and not admin_only & operator
    assert {Permission.READ_ALL, Permission.CANCEL_ANY, Permission.RETRY,
            Permission.REPLAY_DEAD_LETTERS} <= operator  # fmt: skip
    assert ROLE_PERMISSIONS[Role.CLIENT] == {Permission.SUBMIT, Permission.READ_OWN}

"""Roles: every cell of the README's table, over HTTP. Each endpoint is asked by each role; a
role without the permission gets 403 (and the refusal is audited), a role with it gets past
the check (whatever the endpoint then answers for a made-up id, queue or breaker). Every
permission has at least one endpoint here but two: `cancel_any`, where someone else's task
answers 404 rather than 403 (`test_cancelling_anyones_task`), and `change_limits`: no route
changes a limit (they are settings), which `test_no_route_changes_a_limit` holds."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from backend.core.enums import Role
from backend.core.security.permissions import ROLE_PERMISSIONS, Permission
from tests.support.http import auth

MISSING = str(uuid.uuid4())
CASE = {"title": "Aluguel atrasado", "description": "O inquilino não paga há três meses."}
# (method, path, params, json, permission): one row per endpoint of the table.
ENDPOINTS: list[tuple[str, str, dict[str, Any], Any, Permission]] = [
    ("POST", "/api/triage", {}, CASE, Permission.SUBMIT),
    ("GET", "/api/tasks", {"limit": 1}, None, Permission.READ_OWN),
    ("GET", "/api/queues", {}, None, Permission.READ_ALL),
    ("POST", "/api/queues/nosuch/pause", {}, None, Permission.READ_ALL),
    ("POST", "/api/queues/nosuch/resume", {}, None, Permission.READ_ALL),
    ("GET", "/api/breakers", {}, None, Permission.READ_ALL),
    ("GET", "/api/limits", {}, None, Permission.READ_ALL),
    ("GET", "/api/outbox", {}, None, Permission.READ_ALL),
    ("GET", "/api/batches", {}, None, Permission.READ_ALL),
    ("GET", "/api/throughput", {}, None, Permission.READ_ALL),
    ("GET", "/api/controls/audit", {}, None, Permission.READ_ALL),
    ("POST", "/api/queues/nosuch/purge", {}, None, Permission.PURGE_QUEUES),
    ("POST", "/api/breakers/nosuch/open", {}, None, Permission.CHANGE_BREAKERS),
    ("POST", "/api/breakers/nosuch/close", {}, None, Permission.CHANGE_BREAKERS),
    ("POST", "/api/breakers/nosuch/reset", {}, None, Permission.CHANGE_BREAKERS),
    ("GET", "/api/privacy/subjects/role-test-nobody/export", {}, None,
     Permission.PRIVACY_ACTIONS),
    ("POST", "/api/privacy/subjects/role-test-nobody/erase", {}, None,
     Permission.PRIVACY_ACTIONS),
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


def test_every_permission_has_an_endpoint_in_the_table() -> None:
    assert {p for *_, p in ENDPOINTS} == set(Permission) - {
        Permission.CHANGE_LIMITS,
        Permission.CANCEL_ANY,
    }


@pytest.mark.parametrize("role", list(Role), ids=lambda r: r.value)
def test_cancelling_anyones_task(
    app_client: Any, tokens: dict[str, str], redis_client: Any, role: Role
) -> None:
    """`cancel_any`: someone else's task, and `terminate`. Without it, another owner's task
    answers 404 (as if missing) and terminating even one's own task 403."""
    from backend.platform.enqueue import CeleryTaskService

    service = CeleryTaskService(redis_client)
    bobs = service.enqueue("testing.record", [uuid.uuid4().hex, "x"], owner="bob")
    headers = auth(tokens[TOKENS[role]])
    r = app_client.delete(f"/api/tasks/{bobs}", params={"terminate": "true"}, headers=headers)
    if Permission.CANCEL_ANY in ROLE_PERMISSIONS[role]:
        assert r.status_code == 200 and service.status.get(bobs)["state"] == "REVOKED"
        return
    assert r.status_code == 404 and service.status.get(bobs)["state"] == "PENDING"
    own = service.enqueue("testing.record", [uuid.uuid4().hex, "x"], owner="alice")
    r = app_client.delete(f"/api/tasks/{own}", params={"terminate": "true"}, headers=headers)
    assert r.status_code == 403 and service.status.get(own)["state"] == "PENDING"
    assert app_client.delete(f"/api/tasks/{own}", headers=headers).status_code == 200
    service.cancel(bobs, terminate=False, requested_by="test")


def test_no_route_changes_a_limit(app_client: Any) -> None:
    """`change_limits` is reserved for admins, and no route uses it: the limits are settings
    (RATE_LIMITS, API_RATE_LIMITS, the quotas), read over HTTP only."""
    paths = app_client.get("/openapi.json").json()["paths"]
    limit_paths = {path: set(ops) for path, ops in paths.items() if "limit" in path}
    assert limit_paths == {"/api/limits": {"get"}}

"""FastAPI dependencies as Annotated aliases: the current principal, what its role allows
(`require(Permission.X)`, a refusal audited), the request's audit context and the services."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends, Header, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from backend.api.auth import authenticate
from backend.core.enums import AuditAction, AuditOutcome, ResourceType
from backend.core.errors import Forbidden, InvalidToken, Unauthenticated
from backend.core.security.permissions import Permission, allowed
from backend.core.security.tokens import Principal
from backend.platform.audit import AuditContext
from backend.platform.enqueue import AsyncCeleryTaskService, CeleryTaskService
from backend.platform.outbox import Outbox
from backend.platform.status import AsyncTaskStatusReader, TaskStatusManager

_bearer = HTTPBearer(
    auto_error=False, description="JWT with `iss`, `aud`, `sub`, `role`, `iat`, `exp`, `jti`"
)
# Dependencies are `async def` although they do no I/O: FastAPI runs a plain `def` dependency
# in its thread pool, two thread hops per request on the enqueue hot path.


async def current_principal(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Principal:
    # On a rate-limited route, `limit_submissions` (an app-wide dependency, so it runs first)
    # already verified this request's token: `authenticate` returns it from request.state.
    decoded: Principal | None = getattr(request.state, "principal", None)
    if decoded is not None:
        return decoded
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise Unauthenticated("missing bearer token")
    try:
        return await authenticate(request, credentials.credentials)
    except InvalidToken:
        raise Unauthenticated("invalid, expired or revoked token") from None


def audit_context_of(request: Request, principal: Principal) -> AuditContext:
    client = request.client
    return AuditContext(
        actor=principal.user,
        role=principal.role.value,
        request_id=getattr(request.state, "request_id", None),
        source=client.host if client else None,
    )


async def _audit_context(
    request: Request, principal: Annotated[Principal, Depends(current_principal)]
) -> AuditContext:
    return audit_context_of(request, principal)


AuditCtx = Annotated[AuditContext, Depends(_audit_context)]


def _requiring(permission: Permission) -> Any:
    async def dependency(
        request: Request, principal: Annotated[Principal, Depends(current_principal)]
    ) -> Principal:
        if not allowed(principal.role, permission):
            ctx = audit_context_of(request, principal)
            await ctx.record_async(
                AuditAction.DENIED,
                ResourceType.PERMISSION,
                permission.value,
                AuditOutcome.REFUSED,
            )
            raise Forbidden(f"your role may not {permission.value.replace('_', ' ')}")
        return principal

    return dependency


CurrentUser = Annotated[Principal, Depends(current_principal)]
# The caller, if its role has the permission (backend/core/security/permissions.py); else 403,
# recorded in the audit trail. Operators watch, cancel, retry and replay; admins do everything.
Operator = Annotated[Principal, Depends(_requiring(Permission.READ_ALL))]
CanRetry = Annotated[Principal, Depends(_requiring(Permission.RETRY))]
CanReadDeadLetters = Annotated[Principal, Depends(_requiring(Permission.READ_DEAD_LETTERS))]
CanReplay = Annotated[Principal, Depends(_requiring(Permission.REPLAY_DEAD_LETTERS))]
CanDiscard = Annotated[Principal, Depends(_requiring(Permission.DISCARD_DEAD_LETTERS))]
CanRevoke = Annotated[Principal, Depends(_requiring(Permission.REVOKE_TOKENS))]
CanReadAudit = Annotated[Principal, Depends(_requiring(Permission.READ_AUDIT))]
CanReadMetrics = Annotated[Principal, Depends(_requiring(Permission.READ_METRICS))]
CanPurgeQueues = Annotated[Principal, Depends(_requiring(Permission.PURGE_QUEUES))]
CanChangeBreakers = Annotated[Principal, Depends(_requiring(Permission.CHANGE_BREAKERS))]
# Every admin permission at once (issue 9/11 may use the precise ones above instead).
Admin = Annotated[Principal, Depends(_requiring(Permission.PRIVACY_ACTIONS))]


async def _task_service(request: Request) -> CeleryTaskService:
    return request.app.state.task_service  # type: ignore[no-any-return]


async def _async_task_service(request: Request) -> AsyncCeleryTaskService:
    return request.app.state.async_task_service  # type: ignore[no-any-return]


async def _status(request: Request) -> TaskStatusManager:
    return request.app.state.task_service.status  # type: ignore[no-any-return]


async def _reader(request: Request) -> AsyncTaskStatusReader:
    return request.app.state.status_reader  # type: ignore[no-any-return]


async def _outbox(request: Request) -> Outbox:
    return request.app.state.outbox  # type: ignore[no-any-return]


TaskServiceDep = Annotated[CeleryTaskService, Depends(_task_service)]
AsyncTaskServiceDep = Annotated[AsyncCeleryTaskService, Depends(_async_task_service)]
StatusDep = Annotated[TaskStatusManager, Depends(_status)]
ReaderDep = Annotated[AsyncTaskStatusReader, Depends(_reader)]
OutboxDep = Annotated[Outbox, Depends(_outbox)]

# A client-chosen key that makes a submission safe to repeat (same user, same answer).
IdempotencyKey = Annotated[str | None, Header(max_length=200)]

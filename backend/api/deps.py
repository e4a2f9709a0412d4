"""FastAPI dependencies as Annotated aliases: the current principal and the services."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Header, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from backend.core.enums import Role
from backend.core.errors import Forbidden, InvalidToken, Unauthenticated
from backend.core.security.tokens import Principal, decode_token
from backend.platform.enqueue import AsyncCeleryTaskService, CeleryTaskService
from backend.platform.outbox import Outbox
from backend.platform.status import AsyncTaskStatusReader, TaskStatusManager

_bearer = HTTPBearer(auto_error=False, description="JWT with `sub` and `role` claims")
# Dependencies are `async def` although they do no I/O: FastAPI runs a plain `def` dependency
# in its thread pool, two thread hops per request on the enqueue hot path.


async def current_principal(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Principal:
    # On a rate-limited route, `limit_submissions` (an app-wide dependency, so it runs first)
    # already decoded this request's token: one JWT decode per request.
    decoded: Principal | None = getattr(request.state, "principal", None)
    if decoded is not None:
        return decoded
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise Unauthenticated("missing bearer token")
    try:
        return decode_token(credentials.credentials)
    except InvalidToken:
        raise Unauthenticated("invalid or expired token") from None


async def operator_principal(
    principal: Annotated[Principal, Depends(current_principal)],
) -> Principal:
    if not principal.sees_everything:
        raise Forbidden("operator role required")
    return principal


async def admin_principal(principal: Annotated[Principal, Depends(current_principal)]) -> Principal:
    if principal.role is not Role.ADMIN:
        raise Forbidden("admin role required")
    return principal


CurrentUser = Annotated[Principal, Depends(current_principal)]
Operator = Annotated[Principal, Depends(operator_principal)]
Admin = Annotated[Principal, Depends(admin_principal)]


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

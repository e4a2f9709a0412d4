"""/api/auth/revoke (admins revoke a token) and /api/audit (admins read the audit trail)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import APIRouter, Query, Request
from starlette.concurrency import run_in_threadpool

from backend.adapters.redis_clients import get_redis
from backend.api.deps import AuditCtx, CanReadAudit, CanRevoke
from backend.api.schemas.security import AuditPageOut, RevokeIn, RevokeOut
from backend.core.enums import AuditAction, ResourceType
from backend.core.errors import InvalidRequest
from backend.core.security.tokens import decode_token, is_external
from backend.platform import audit
from backend.platform.revocations import revoke

router = APIRouter(tags=["security"])


@router.post("/api/auth/revoke", response_model=RevokeOut)
async def revoke_token(body: RevokeIn, _: CanRevoke, ctx: AuditCtx, request: Request) -> RevokeOut:
    """Revoke a token (by the token, or its `jti`): it answers 401 at once in every API process,
    until it would have expired. Revoking an expired or foreign token is refused (422)."""
    expires_at: int | None = None
    if body.token is not None:
        try:
            if is_external(body.token):
                principal = await run_in_threadpool(decode_token, body.token)
            else:
                principal = decode_token(body.token)
        except Exception:
            raise InvalidRequest("not a valid token (an expired one needs no revocation)") from None
        jti, expires_at = principal.token_id or "", principal.expires_at
    else:
        jti = body.jti or ""
    ttl = await run_in_threadpool(
        ctx.run, AuditAction.REVOKE_TOKEN, ResourceType.TOKEN, jti,
        revoke, get_redis(), jti, expires_at,
    )  # fmt: skip
    return RevokeOut(jti=jti, revoked=True, expires_in_s=ttl)


@router.get("/api/audit", response_model=AuditPageOut)
async def read_audit(
    _: CanReadAudit,
    ctx: AuditCtx,
    actor: str | None = Query(default=None, max_length=128),
    action: AuditAction | None = None,
    resource: str | None = Query(
        default=None, max_length=200, description="a resource type, or `type:id`"
    ),
    since: datetime | None = None,
    until: datetime | None = None,
    limit: int = Query(default=100, ge=1, le=1000),
    cursor: str | None = Query(default=None, max_length=20, pattern=r"^\d+$"),
) -> dict[str, Any]:
    """The audit trail, oldest first, filtered; follow `next_cursor` for the next page.
    Reading it is itself audited."""
    kind, _sep, resource_id = (resource or "").partition(":")
    flt = audit.AuditFilter(
        actor=actor,
        action=action.value if action else None,
        resource_type=kind or None,
        resource_id=resource_id or None,
        since=since,
        until=until,
    )
    await ctx.record_async(AuditAction.READ_AUDIT, ResourceType.AUDIT, None)
    items, next_seq = await run_in_threadpool(
        audit.page, flt, after_seq=int(cursor or 0), limit=limit
    )
    return {"items": items, "next_cursor": str(next_seq) if next_seq is not None else None}

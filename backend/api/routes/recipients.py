"""/api/recipients: the addresses a client named for its notification e-mail (a case's
`client_email`, a batch's `notify_email`), whether each may get mail, and the signed link
that confirms one (security finding 6; backend/services/recipients.py).

`GET /api/recipients/confirm` is the one /api route without a bearer token, by design: it is
opened from the confirmation e-mail by the address's owner, who has no account. The token in
the link is the proof (an HMAC under the server's secret, bound to the client, the address
and an expiry); a malformed, altered, expired, superseded or revoked link answers 400 and
changes nothing.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request
from starlette.concurrency import run_in_threadpool

from backend.api.deps import AuditCtx, CurrentUser
from backend.api.schemas.recipients import ConfirmedOut, RecipientListOut, RecipientOut
from backend.core.settings import settings
from backend.platform.audit import AuditContext
from backend.services import recipients

router = APIRouter(prefix="/api/recipients", tags=["recipients"])

RecipientId = Annotated[str, Path(max_length=64)]


def _out(view: recipients.RecipientView) -> dict[str, Any]:
    return {
        "id": view.id,
        "address": view.address,
        "state": view.state,
        "created_at": view.created_at,
        "confirmed_at": view.confirmed_at,
        "confirmation_expires_at": view.confirmation_expires_at,
    }


@router.get("", response_model=RecipientListOut)
async def list_recipients(principal: CurrentUser) -> dict[str, Any]:
    """The caller's recipients, oldest first, with their state."""
    views = await run_in_threadpool(recipients.list_for, principal.user)
    return {
        "confirmation": settings.security.recipient_confirmation,
        "items": [_out(v) for v in views],
    }


@router.get("/confirm", response_model=ConfirmedOut, openapi_extra={"security": []})
async def confirm_recipient(
    request: Request, token: str = Query(min_length=1, max_length=200)
) -> ConfirmedOut:
    """Confirm an address from its confirmation e-mail's link (no bearer token: the signed
    token is the proof). 400 for any link that cannot confirm. Audited by the recipient's id."""
    client = request.client
    ctx = AuditContext(
        actor=recipients.LINK_HOLDER,
        role=recipients.ANONYMOUS,
        request_id=getattr(request.state, "request_id", None),
        source=client.host if client else None,
    )
    recipient_id = await run_in_threadpool(recipients.confirm, token, ctx)
    return ConfirmedOut(confirmed=True, recipient_id=recipient_id)


@router.delete("/{recipient_id}", response_model=RecipientOut)
async def revoke_recipient(
    recipient_id: RecipientId, principal: CurrentUser, ctx: AuditCtx
) -> dict[str, Any]:
    """Revoke one of the caller's recipients: no more mail to it until it confirms again
    (naming it again sends a new link, at most one per RECIPIENT_CONFIRMATION_TTL_S).
    Someone else's answers 404. Audited."""
    view = await run_in_threadpool(recipients.revoke, principal.user, recipient_id, ctx)
    return _out(view)

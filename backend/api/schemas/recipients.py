"""Bodies of /api/recipients: the addresses a client named for its notification e-mail."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel

from backend.api.schemas.common import UtcDateTime


class RecipientOut(BaseModel):
    id: str
    address: str
    # pending: a link was sent, no mail yet; confirmed; account: the account's own address;
    # revoked: the client revoked it.
    state: Literal["pending", "confirmed", "account", "revoked"]
    created_at: UtcDateTime
    confirmed_at: UtcDateTime | None
    # When the pending link stops working (None unless pending).
    confirmation_expires_at: UtcDateTime | None


class RecipientListOut(BaseModel):
    # pending, confirmed ... as RECIPIENT_CONFIRMATION says: "on" or "off" (then mail goes
    # only to the account's own address).
    confirmation: Literal["on", "off"]
    items: list[RecipientOut]


class ConfirmedOut(BaseModel):
    confirmed: bool
    recipient_id: str

"""Recipients of a client's notification e-mail (security finding 6): mail goes only to an
address that confirmed, per (client, address), through a signed link; or, with
RECIPIENT_CONFIRMATION=off, only to the account's own address.

- **Naming an address** (a case's `client_email`, a batch's `notify_email`): `request` makes it
  `pending` and stages one confirmation e-mail (in the outbox, in the row's transaction), at
  most one per client and address per RECIPIENT_CONFIRMATION_TTL_S, whatever the client does
  meanwhile; the API charges each against the recipients quota (`confirmations_due` first).
  The account's own address (the token's `email` claim) needs no link: it is `account`.
- **Confirming** (`confirm`): whoever holds the link (backend/core/security/confirmation.py);
  the row must be pending with that very link (a revoked row, or one whose link was replaced,
  refuses it). Audited in the same transaction, by the row's id, never the address.
- **Revoking** (`revoke`): the client; no mail until the address confirms again.
- **At send time** (`deliverable`, in the worker): checked again from SQL, whatever the API
  decided; an address that may not get mail is skipped with a reason, never retried.

The worker holds no ID_SECRET: it finds an owner's usable addresses by opening their sealed
addresses (a client's confirmed recipients are few), not by the keyed digest.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from backend.core.clock import as_utc
from backend.core.crypto import keyring
from backend.core.db.models import Recipient, utcnow
from backend.core.db.session import session_scope
from backend.core.enums import (
    AuditAction,
    AuditOutcome,
    NotificationKind,
    RecipientState,
    ResourceType,
)
from backend.core.errors import InvalidConfirmation, RecipientNotFound
from backend.core.logging import get_logger
from backend.core.security import confirmation
from backend.core.security.confirmation import normalised
from backend.core.settings import settings
from backend.platform.audit import AuditContext
from backend.platform.enqueue import CeleryTaskService
from backend.platform.outbox import Outbox, stage
from backend.platform.submissions import TaskRequest

__all__ = [
    "ANONYMOUS",
    "LINK_HOLDER",
    "RecipientView",
    "confirm",
    "confirmation_subject",
    "confirmations_due",
    "deliverable",
    "list_for",
    "pending_confirmation",
    "request",
    "revoke",
]

log = get_logger(__name__)
_USABLE = (RecipientState.CONFIRMED, RecipientState.ACCOUNT)
_CLAIM_ATTEMPTS = 3
# Whoever follows a link has no token: the audit names them by what they did it with.
LINK_HOLDER, ANONYMOUS = "recipient-link", "anonymous"


def _confirming() -> bool:
    return settings.security.recipient_confirmation == "on"


@dataclass(frozen=True)
class RecipientView:
    id: str
    address: str
    state: str
    created_at: datetime
    confirmed_at: datetime | None
    confirmation_expires_at: datetime | None

    @classmethod
    def of(cls, row: Recipient) -> RecipientView:
        return cls(
            row.id, row.address, row.state, row.created_at, row.confirmed_at,
            row.expires_at if row.state == RecipientState.PENDING else None,
        )  # fmt: skip


def _distinct(addresses: Sequence[str | None]) -> list[str]:
    seen: dict[str, None] = {}
    for address in addresses:
        if address:
            seen.setdefault(normalised(address), None)
    return list(seen)


def _rows(session: Session, owner: str, digests: Sequence[str]) -> dict[str, Recipient]:
    found = session.scalars(
        select(Recipient).where(Recipient.owner == owner, Recipient.address_digest.in_(digests))
    )
    return {row.address_digest: row for row in found}


def _mail_due(row: Recipient | None, now: datetime) -> bool:
    """Whether naming this address now sends a confirmation e-mail: never for a usable one,
    and at most one per RECIPIENT_CONFIRMATION_TTL_S per (client, address)."""
    if row is None:
        return True
    if row.state in _USABLE:
        return False
    window = timedelta(seconds=settings.security.recipient_confirmation_ttl_s)
    return row.sent_at is None or as_utc(row.sent_at) + window <= now


def confirmations_due(
    owner: str, account_email: str | None, addresses: Sequence[str | None]
) -> int:
    """How many confirmation e-mails `request` would send now (charged to the quota first)."""
    wanted = _distinct(addresses)
    account = normalised(account_email) if account_email else None
    wanted = [a for a in wanted if a != account]
    if not _confirming() or not wanted:
        return 0
    digests = {confirmation.address_digest(owner, a): a for a in wanted}
    now = utcnow()
    with session_scope() as session:
        rows = _rows(session, owner, list(digests))
    return sum(1 for digest in digests if _mail_due(rows.get(digest), now))


def request(
    tasks: CeleryTaskService,
    *,
    owner: str,
    account_email: str | None,
    addresses: Sequence[str | None],
) -> int:
    """Record the addresses a submission names and send the confirmations due (staged in the
    outbox with the rows, published after the commit). Returns how many were sent."""
    wanted = _distinct(addresses)
    account = normalised(account_email) if account_email else None
    if not wanted and account is None:
        return 0
    keyring.ensure(owner)  # before the transaction: sealing never waits on its own write lock
    for attempt in range(_CLAIM_ATTEMPTS):
        try:
            with session_scope() as session:
                staged = _claim(session, owner, account, wanted)
            break
        except IntegrityError:  # the same (client, address) inserted meanwhile: seen next time
            if attempt == _CLAIM_ATTEMPTS - 1:
                raise
    Outbox(tasks).publish(staged)
    return len(staged)


def _claim(
    session: Session, owner: str, account: str | None, wanted: list[str]
) -> list[TaskRequest]:
    addresses = [*wanted, *([account] if account and account not in wanted else [])]
    digests = {confirmation.address_digest(owner, a): a for a in addresses}
    rows = _rows(session, owner, list(digests))
    now = utcnow()
    if account is not None:
        _account_row(session, owner, account, rows, now)
    if not _confirming():
        return []
    due: list[Recipient] = []
    for digest, address in digests.items():
        if address == account:
            continue
        row = rows.get(digest)
        if row is None:
            row = Recipient(id=str(uuid.uuid4()), owner=owner, address_digest=digest,
                            address=address, state=RecipientState.PENDING, sends=0,
                            created_at=now)  # fmt: skip
            session.add(row)
        elif row.state in _USABLE:
            continue
        row.state = RecipientState.PENDING
        if _mail_due(row, now):
            _new_link(row, now)
            due.append(row)
    session.flush()
    return stage(session, [_confirmation_task(row) for row in due])


def _account_row(
    session: Session, owner: str, account: str, rows: dict[str, Recipient], now: datetime
) -> None:
    """The account's own address is usable without a link; an earlier one no longer is."""
    digest = confirmation.address_digest(owner, account)
    for earlier in session.scalars(
        select(Recipient).where(Recipient.owner == owner, Recipient.state == RecipientState.ACCOUNT)
    ):
        if earlier.address_digest != digest:
            earlier.state, earlier.token = RecipientState.REVOKED, None
    row = rows.get(digest)
    if row is None:
        row = Recipient(id=str(uuid.uuid4()), owner=owner, address_digest=digest,
                        address=account, sends=0, created_at=now)  # fmt: skip
        session.add(row)
    row.state, row.token = RecipientState.ACCOUNT, None


def _new_link(row: Recipient, now: datetime) -> None:
    expires = now + timedelta(seconds=settings.security.recipient_confirmation_ttl_s)
    row.sends = (row.sends or 0) + 1
    row.sent_at, row.expires_at = now, expires
    row.token = confirmation.sign(row.id, row.owner, row.address, int(expires.timestamp()))


def confirmation_subject(row: Recipient) -> str:
    """The notification's subject id: one e-mail per link (the effect ledger's key)."""
    return f"{row.id}:{row.sends}"


def _confirmation_task(row: Recipient) -> TaskRequest:
    subject = confirmation_subject(row)
    return TaskRequest(
        "notifications.send_email",
        [NotificationKind.RECIPIENT_CONFIRMATION, subject],
        owner=row.owner,
        correlation_id=row.id,
        idempotency_key=f"recipient_confirmation:{subject}",
    )


def pending_confirmation(subject: str) -> tuple[str, str] | None:
    """(address, token) for the confirmation e-mail `subject` names, if that link is still the
    live one; None if the address confirmed, was revoked or got a newer link meanwhile."""
    recipient_id, _, sends = subject.partition(":")
    with session_scope() as session:
        row = session.get(Recipient, recipient_id)
        if row is None or row.state != RecipientState.PENDING or str(row.sends) != sends:
            return None
        token = row.token
        if token is None or row.expires_at is None or as_utc(row.expires_at) <= utcnow():
            return None
        return row.address, token


def confirm(token: str, ctx: AuditContext) -> str:
    """Confirm the address a link names; returns the recipient id. Raises InvalidConfirmation
    (one answer for every cause) and changes nothing unless the link is the row's live one.
    A refusal that names a real row is audited as refused."""
    parsed = confirmation.parse(token)
    with session_scope() as session:
        row = session.get(Recipient, parsed.recipient_id)
        if row is None:
            raise InvalidConfirmation()
        live = (
            row.expires_at is not None and int(as_utc(row.expires_at).timestamp()) == parsed.expires
        )
        try:
            confirmation.verify(parsed, owner=row.owner, address=row.address, now=time.time())
        except InvalidConfirmation:
            live = False
        if row.state == RecipientState.CONFIRMED and live:
            return row.id  # the same link followed twice
        if not live or row.state != RecipientState.PENDING:
            refused = row.id
        else:
            row.state, row.token, row.confirmed_at = RecipientState.CONFIRMED, None, utcnow()
            ctx.record(session, AuditAction.CONFIRM_RECIPIENT, ResourceType.RECIPIENT, row.id)
            log.info("recipient_confirmed", recipient_id=row.id)
            return row.id
    ctx.record_alone(
        AuditAction.CONFIRM_RECIPIENT, ResourceType.RECIPIENT, refused, AuditOutcome.REFUSED
    )
    raise InvalidConfirmation()


def revoke(owner: str, recipient_id: str, ctx: AuditContext) -> RecipientView:
    """The client's recipient no longer gets mail (someone else's answers as missing)."""
    with session_scope() as session:
        row = session.get(Recipient, recipient_id)
        if row is not None and row.owner == owner:
            # Its link dies with it: naming the address again needs a new one.
            row.state, row.token, row.expires_at = RecipientState.REVOKED, None, None
            ctx.record(session, AuditAction.REVOKE_RECIPIENT, ResourceType.RECIPIENT, row.id)
            session.flush()
            return RecipientView.of(row)
    ctx.record_alone(
        AuditAction.REVOKE_RECIPIENT, ResourceType.RECIPIENT, recipient_id, AuditOutcome.REFUSED
    )
    raise RecipientNotFound(recipient_id)


def list_for(owner: str) -> list[RecipientView]:
    with session_scope() as session:
        rows = session.scalars(
            select(Recipient).where(Recipient.owner == owner).order_by(Recipient.created_at)
        )
        return [RecipientView.of(row) for row in rows]


def deliverable(owner: str, addresses: Sequence[str]) -> tuple[list[str], str | None]:
    """The addresses of `owner`'s notification that may get it now, and why any is left out.

    Confirmation on: those confirmed (or the account's own). Off: the account's own address
    instead, whatever was named."""
    with session_scope() as session:
        rows = session.scalars(
            select(Recipient).where(Recipient.owner == owner, Recipient.state.in_(_USABLE))
        )
        usable = {normalised(row.address): row.state for row in rows}
    if not _confirming():
        own = [a for a, state in usable.items() if state == RecipientState.ACCOUNT]
        return (own[:1], None) if own else ([], "no account address")
    to = [a for a in addresses if normalised(a) in usable]
    return to, (None if len(to) == len(addresses) else "recipient not confirmed")

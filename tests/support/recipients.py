"""Addresses already confirmed for a client, for tests whose subject is the mail itself (the
confirmation flow is tested in tests/integration/api/test_recipients.py), and the token of a
confirmation e-mail."""

from __future__ import annotations

import re
import uuid
from email.message import Message

from sqlalchemy import select

from backend.core.crypto import keyring
from backend.core.db.models import Recipient, utcnow
from backend.core.db.session import session_scope
from backend.core.enums import RecipientState
from backend.core.security.confirmation import address_digest, normalised
from tests.support.smtp import decoded

_TOKEN_RE = re.compile(r"/api/recipients/confirm\?token=([A-Za-z0-9_.-]+)")


def confirmed(owner: str, address: str) -> str:
    """Mark `address` confirmed for `owner` (as its link would); the recipient's id."""
    keyring.ensure(owner)
    digest = address_digest(owner, address)
    with session_scope() as session:
        row = session.scalars(
            select(Recipient).where(Recipient.owner == owner, Recipient.address_digest == digest)
        ).first()
        if row is None:
            row = Recipient(id=str(uuid.uuid4()), owner=owner, address_digest=digest,
                            address=normalised(address), sends=0, created_at=utcnow(),
                            state=RecipientState.CONFIRMED)  # fmt: skip
            session.add(row)
        row.state, row.token, row.confirmed_at = RecipientState.CONFIRMED, None, utcnow()
        return row.id


def confirmation_token(message: Message) -> str:
    """The token of a confirmation e-mail's link."""
    match = _TOKEN_RE.search(decoded(message)[1])
    assert match is not None, decoded(message)
    return match.group(1)

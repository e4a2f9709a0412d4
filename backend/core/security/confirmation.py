"""Signed recipient-confirmation links: who holds the link may confirm one address for one
client until the link expires, and nobody else can make one.

A token is `<recipient id>.<expiry, epoch seconds>.<MAC>`, the MAC being
HMAC-SHA256(K, id, client, normalised address, expiry) with K derived from ID_SECRET for this
purpose alone. The client and the address are bound by the MAC without travelling in the link
(the URL lands in mail logs and proxies: it names neither a person nor an address); the
verifier loads the recipient row by its id and recomputes the MAC with the row's client and
address. Changing any part (another row's id, a later expiry) fails the MAC.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
from dataclasses import dataclass

from backend.core.errors import InvalidConfirmation
from backend.core.settings import settings

__all__ = ["ParsedToken", "address_digest", "normalised", "parse", "sign", "verify"]

_PURPOSE = b"recipient-confirmation"
_TOKEN_RE = re.compile(r"^([0-9a-f-]{36})\.([0-9]{1,12})\.([A-Za-z0-9_-]{43})$")


def _key(purpose: bytes) -> bytes:
    secret = settings.security.effective_id_secret
    if not secret:
        raise RuntimeError("ID_SECRET is not set (required in production)")
    return hmac.new(secret.encode(), purpose, hashlib.sha256).digest()


def normalised(address: str) -> str:
    """The form addresses are compared in: trimmed, lower case (mail providers treat the
    local part case-insensitively in practice, and a client may write it either way)."""
    return address.strip().lower()


def address_digest(owner: str, address: str) -> str:
    """A keyed digest of (client, address): the lookup key of a recipient row, which tells
    nobody without ID_SECRET which address it stands for."""
    message = f"{owner}\n{normalised(address)}".encode()
    return hmac.new(_key(b"recipient-address"), message, hashlib.sha256).hexdigest()


def _mac(recipient_id: str, owner: str, address: str, expires: int) -> str:
    message = f"{recipient_id}\n{owner}\n{normalised(address)}\n{expires}".encode()
    digest = hmac.new(_key(_PURPOSE), message, hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def sign(recipient_id: str, owner: str, address: str, expires: int) -> str:
    return f"{recipient_id}.{expires}.{_mac(recipient_id, owner, address, expires)}"


@dataclass(frozen=True)
class ParsedToken:
    recipient_id: str
    expires: int
    mac: str


def parse(token: str) -> ParsedToken:
    """The token's parts, before any check of the MAC. Raises InvalidConfirmation."""
    match = _TOKEN_RE.match(token)
    if match is None:
        raise InvalidConfirmation()
    return ParsedToken(match.group(1), int(match.group(2)), match.group(3))


def verify(parsed: ParsedToken, *, owner: str, address: str, now: float) -> None:
    """Raises InvalidConfirmation unless the MAC matches (client, address) and it has not
    expired."""
    try:
        expected = _mac(parsed.recipient_id, owner, address, parsed.expires)
        same = hmac.compare_digest(expected.encode(), parsed.mac.encode())
    except (ValueError, binascii.Error):
        same = False
    if not same or parsed.expires <= now:
        raise InvalidConfirmation()

"""Ids derived from what a client sends (an idempotency key): HMAC-SHA256 under ID_SECRET, so
that nobody without the server's secret can compute the id of someone else's case, batch,
report or task."""

from __future__ import annotations

import hashlib
import hmac
import uuid

from backend.core.settings import settings

__all__ = ["derived_uuid"]


def derived_uuid(purpose: str, *parts: str) -> str:
    """A stable UUID for (purpose, parts) that only holders of ID_SECRET can compute."""
    secret = settings.security.effective_id_secret
    if not secret:
        raise RuntimeError("ID_SECRET is not set (required in production)")
    message = "\n".join((purpose, *parts)).encode()
    digest = hmac.new(secret.encode(), message, hashlib.sha256).digest()
    return str(uuid.UUID(bytes=digest[:16], version=4))

"""The batch completion webhook: validating the URL a client gives, and building the signed
POST (HMAC-SHA256 over timestamp and body) that tells it the batch completed.

SSRF guard: in production the URL may not name a loopback or private address, and the name
must resolve to public addresses only when the callback is sent.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import json
import socket
import time
from dataclasses import dataclass
from urllib.parse import urlsplit

from backend.core.enums import BatchStatus
from backend.core.errors import CallbackRefused, InvalidRequest
from backend.core.settings import settings
from backend.services.batches import BatchCounts, get_batch

SIGNATURE_HEADER = "X-LTQ-Signature"
TIMESTAMP_HEADER = "X-LTQ-Timestamp"
DELIVERY_HEADER = "X-LTQ-Delivery"


@dataclass(frozen=True)
class Callback:
    """A signed webhook request, ready to POST."""

    url: str
    host: str
    body: bytes
    headers: dict[str, str]


def _private_hosts_allowed() -> bool:
    return settings.app.environment != "production" or settings.webhooks.allow_private_hosts


def _is_public_ip(text: str) -> bool:
    try:
        return ipaddress.ip_address(text).is_global
    except ValueError:
        return True  # a name: checked once resolved, when the callback is sent


def validate_callback_url(url: str) -> str:
    """An http(s) URL without credentials; in production not a loopback or private host
    (the API must not be a way into our own network). Raises InvalidRequest."""
    if not settings.webhooks.secret:
        raise InvalidRequest("callback_url is not available: the server has no WEBHOOK_SECRET")
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise InvalidRequest("callback_url must be an http(s) URL with a host")
    if parts.username or parts.password:
        raise InvalidRequest("callback_url must not carry credentials")
    host = parts.hostname
    local = host == "localhost" or host.endswith(".localhost") or not _is_public_ip(host)
    if local and not _private_hosts_allowed():
        raise InvalidRequest("callback_url must point to a public host")
    return url


def sign(body: bytes, timestamp: str, secret: str) -> str:
    """`sha256=<hex>` of HMAC-SHA256(secret, "<timestamp>.<body>"); the timestamp lets the
    receiver refuse an old message replayed at it."""
    mac = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return f"sha256={mac.hexdigest()}"


def completion_callback(batch_id: str) -> Callback:
    """The signed POST that tells the requester a batch completed. Raises CallbackRefused."""
    batch = get_batch(batch_id)
    if batch is None or batch.status != BatchStatus.COMPLETED or not batch.callback_url:
        raise CallbackRefused(f"batch {batch_id} has no completion to call back")
    secret = settings.webhooks.secret
    if not secret:
        raise CallbackRefused("WEBHOOK_SECRET is not set")
    counts = BatchCounts.of(batch).to_dict()
    payload = {k: counts[k] for k in ("batch_id", "total", "done", "failed", "status")}
    payload["completed_at"] = counts["completed_at"]
    body = json.dumps(payload, separators=(",", ":")).encode()
    timestamp = str(int(time.time()))
    url = batch.callback_url
    host = urlsplit(url).hostname or ""
    _check_resolved(host, urlsplit(url).port)
    return Callback(
        url=url,
        host=host,
        body=body,
        headers={
            "Content-Type": "application/json",
            SIGNATURE_HEADER: sign(body, timestamp, secret),
            TIMESTAMP_HEADER: timestamp,
            DELIVERY_HEADER: f"batch_completed:{batch.id}",
        },
    )


def _check_resolved(host: str, port: int | None) -> None:
    """In production, refuse a name that resolves to a private address (the API checked
    only literal addresses). A rebinding DNS could still answer differently at connect time."""
    if _private_hosts_allowed():
        return
    try:
        infos = socket.getaddrinfo(host, port or 443, type=socket.SOCK_STREAM)
    except OSError as exc:
        raise CallbackRefused(f"callback host does not resolve ({type(exc).__name__})") from exc
    if not all(_is_public_ip(str(info[4][0])) for info in infos):
        raise CallbackRefused("callback host resolves to a private address")


def refusal_is_final(status_code: int) -> bool:
    """A 4xx answer is the receiver's refusal; retrying changes nothing (but 408/425/429)."""
    return 400 <= status_code < 500 and status_code not in (408, 425, 429)

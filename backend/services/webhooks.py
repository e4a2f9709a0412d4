"""The batch completion webhook: validating the URL a client gives, and building the signed
POST (HMAC-SHA256 over timestamp and body) that tells it the batch completed.

SSRF guard: in production the URL must be https and may not name a loopback or private
address; when the callback is sent the name is resolved once, every address it resolves to must
be public (not private, loopback, link-local, multicast, reserved, IPv4-mapped, NAT64, 6to4 or
Teredo), and the connection goes to the address that was checked (`Callback.address`), with
the original Host header and TLS server name: a rebinding DNS gets no second answer.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import json
import socket
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import httpx

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
    # The address that was checked: the POST connects to it (no second DNS lookup).
    address: str = ""

    def pinned(self) -> tuple[str, dict[str, str], dict[str, Any]]:
        """(URL to the checked address, headers with the original Host, extensions with the
        TLS server name)."""
        parts = urlsplit(self.url)
        literal = f"[{self.address}]" if ":" in self.address else self.address
        netloc = literal + (f":{parts.port}" if parts.port else "")
        url = parts._replace(netloc=netloc).geturl()
        host_header = parts.hostname or "" if not parts.port else f"{parts.hostname}:{parts.port}"
        headers = {**self.headers, "Host": host_header}
        extensions = {"sni_hostname": parts.hostname} if parts.scheme == "https" else {}
        return url, headers, extensions


def _private_hosts_allowed() -> bool:
    return settings.app.environment != "production" or settings.webhooks.allow_private_hosts


# Ranges Python may call global that carry or reach another address (IPv4 inside IPv6), or
# that no callback has any business with.
_BLOCKED = [
    ipaddress.ip_network(n)
    for n in (
        "64:ff9b::/96",  # NAT64
        "64:ff9b:1::/48",  # local-use NAT64
        "2002::/16",  # 6to4
        "2001::/32",  # Teredo
        "::ffff:0:0/96",  # IPv4-mapped
        "::/96",  # IPv4-compatible (deprecated)
        "100::/64",  # discard
        "fe80::/10",  # link-local
        "fc00::/7",  # unique local
        "ff00::/8",  # multicast
        "0.0.0.0/8",
        "100.64.0.0/10",  # carrier-grade NAT
        "169.254.0.0/16",  # link-local (cloud metadata)
        "224.0.0.0/4",  # multicast
        "240.0.0.0/4",  # reserved
    )
]


def forbidden_address(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    """True for any address a callback may not reach in production."""
    if any(ip.version == net.version and ip in net for net in _BLOCKED):
        return True
    return (
        not ip.is_global
        or ip.is_private
        or ip.is_loopback
        or ip.is_link_local
        or ip.is_multicast
        or ip.is_reserved
        or ip.is_unspecified
    )


def _is_public_ip(text: str) -> bool:
    try:
        return not forbidden_address(ipaddress.ip_address(text.strip("[]")))
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
    if parts.scheme != "https" and settings.app.environment == "production":
        raise InvalidRequest("callback_url must be https")
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
    parts = urlsplit(url)
    if parts.scheme != "https" and settings.app.environment == "production":
        raise CallbackRefused("callback refused: not https")
    host = parts.hostname or ""
    address = resolve_checked(host, parts.port or (443 if parts.scheme == "https" else 80))
    return Callback(
        url=url,
        host=host,
        address=address,
        body=body,
        headers={
            "Content-Type": "application/json",
            SIGNATURE_HEADER: sign(body, timestamp, secret),
            TIMESTAMP_HEADER: timestamp,
            DELIVERY_HEADER: f"batch_completed:{batch.id}",
        },
    )


def resolve_checked(host: str, port: int) -> str:
    """Resolve `host` once and return the address to connect to. In production every address
    it resolves to must be public (else CallbackRefused, with no detail: the owner must not
    learn about our network from it)."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except OSError as exc:
        raise CallbackRefused("callback refused: its host does not resolve") from exc
    addresses = [str(info[4][0]).split("%")[0] for info in infos]
    if not _private_hosts_allowed() and not all(_is_public_ip(a) for a in addresses):
        raise CallbackRefused("callback refused: its host is not public")
    return addresses[0]


def refusal_is_final(status_code: int) -> bool:
    """A 4xx answer is the receiver's refusal; retrying changes nothing (but 408/425/429)."""
    return 400 <= status_code < 500 and status_code not in (408, 425, 429)


def post(callback: Callback) -> httpx.Response:
    """POST the callback to the address that was checked, with the original Host header and
    TLS server name (certificates are verified against the name), no redirects."""
    url, headers, extensions = callback.pinned()
    with httpx.Client(timeout=settings.webhooks.timeout_s, follow_redirects=False) as client:
        return client.post(url, content=callback.body, headers=headers, extensions=extensions)

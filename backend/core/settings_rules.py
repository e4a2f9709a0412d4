"""The rules across settings, checked when `Settings` is built (so at every process's start):
a clear error names the variable to fix.

- outside development, the built-in JWT secret is refused; any secret under 32 characters too;
- production needs DATA_KEYS (personal data sealed at rest);
- credentials and case text never travel in clear over a network: SMTP_USER needs
  SMTP_STARTTLS or SMTP_SSL, and in production LLM_URL is https:// or names a loopback host;
- test hooks (TEST_ERASURE_PAUSE_AFTER) only with ENVIRONMENT=test.
"""

from __future__ import annotations

import ipaddress
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

if TYPE_CHECKING:
    from backend.core.settings import Settings

__all__ = ["check", "secure_or_loopback"]


def check(settings: Settings) -> None:
    """Raise ValueError, naming the setting, where `settings` breaks a rule above."""
    from backend.core.settings import DEFAULT_JWT_SECRET

    environment = settings.app.environment
    if environment != "development" and settings.auth.secret == DEFAULT_JWT_SECRET:
        raise ValueError(
            "JWT_SECRET is the built-in development default; set a real secret "
            "(or ENVIRONMENT=development for local use)"
        )
    if len(settings.auth.secret) < 32:
        raise ValueError("JWT_SECRET must be at least 32 characters")
    if environment == "production" and settings.privacy.data_keys is None:
        raise ValueError(
            "DATA_KEYS is not set: production needs a key-encryption key for personal "
            "data at rest (`python -m backend keys generate` makes one)"
        )
    if settings.smtp.user and not (settings.smtp.starttls or settings.smtp.ssl):
        raise ValueError(
            "SMTP_USER is set but neither SMTP_STARTTLS nor SMTP_SSL: the SMTP password "
            "would travel in clear; enable one of them"
        )
    if environment == "production" and not secure_or_loopback(settings.llm.url):
        raise ValueError(
            f"LLM_URL must be https:// in production (or name a loopback host): the case "
            f"text would travel in clear to {urlsplit(settings.llm.url).hostname}"
        )
    if settings.privacy.test_erasure_pause_after and environment != "test":
        raise ValueError("TEST_ERASURE_PAUSE_AFTER is a test hook: only ENVIRONMENT=test")


def secure_or_loopback(url: str) -> bool:
    """An https:// URL, or one whose host is this machine (localhost, 127.0.0.0/8, ::1)."""
    parts = urlsplit(url)
    if parts.scheme == "https":
        return True
    host = (parts.hostname or "").lower()
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False

"""The rules across settings, checked when `Settings` is built (so at every process's start):
a clear error names the variable to fix.

(Secrets, keys and the production-only verdicts, DATA_KEYS included, are
`backend.core.security.config_check`'s: each process's start-up guard and `check-config`.)
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
    environment = settings.app.environment
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

"""Production configuration verdicts: what each process refuses to start with.

`verdicts(cfg, processes)` lists what is wrong for those processes (fatal, or a warning);
`guard(process)` runs at each process's start and, in production, exits with one clear line
and status 78 on a fatal verdict. `python -m backend check-config` prints every verdict without
starting anything. Outside production nothing is fatal: the dev defaults are the point there.
"""

from __future__ import annotations

import ipaddress
import sys
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from urllib.parse import urlsplit

from backend.core.settings import DEFAULT_ID_SECRET, DEFAULT_JWT_SECRET, Settings

__all__ = ["EXIT_CONFIG", "Process", "Verdict", "guard", "verdicts"]

EXIT_CONFIG = 78  # EX_CONFIG (sysexits.h)
_WEAK_SECRETS = {
    DEFAULT_JWT_SECRET,
    DEFAULT_ID_SECRET,
    "changeme",
    "change-me",
    "secret",
    "password",
}
_MIN_SECRET = 32


class Process(StrEnum):
    API = "api"
    WORKER = "worker"
    BEAT = "beat"
    FLOWER = "flower"


@dataclass(frozen=True)
class Verdict:
    fatal: bool
    setting: str
    message: str

    def line(self) -> str:
        return f"{'FATAL' if self.fatal else 'WARNING'} {self.setting}: {self.message}"


def _weak(secret: str | None) -> str | None:
    """Why a secret is unacceptable, or None."""
    if not secret:
        return "is not set"
    if secret in _WEAK_SECRETS or secret.lower() in _WEAK_SECRETS:
        return "is a published or well-known value"
    if len(secret) < _MIN_SECRET:
        return f"is shorter than {_MIN_SECRET} characters"
    if len(set(secret)) < 10:
        return "has fewer than 10 distinct characters"
    return None


def is_loopback(host: str | None) -> bool:
    if not host:
        return False
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _pem_readable(value: str) -> bool:
    text = value.strip()
    if text.startswith("-----BEGIN"):
        return True
    try:
        return Path(text).expanduser().read_text().startswith("-----BEGIN")
    except OSError:
        return False


def _auth(cfg: Settings) -> list[Verdict]:
    auth, out = cfg.auth, []
    if auth.algorithm == "HS256":
        why = _weak(auth.secret)
        if why:
            out.append(Verdict(True, "JWT_SECRET", f"{why}; set 32+ random characters"))
    else:
        if not auth.public_key or not _pem_readable(auth.public_key):
            out.append(Verdict(True, "JWT_PUBLIC_KEY", f"{auth.algorithm} needs a PEM public key"))
        if auth.private_key:
            out.append(Verdict(False, "JWT_PRIVATE_KEY", "the API needs only the public key"))
    if auth.max_ttl_s > 24 * 3600:
        out.append(Verdict(False, "JWT_MAX_TTL_S", "tokens may live more than a day"))
    if auth.oidc_issuer and not (auth.oidc_jwks_url or "").startswith("https://"):
        out.append(Verdict(True, "OIDC_JWKS_URL", "an OIDC issuer needs an https:// JWKS URL"))
    return out


def _signing_material_on_worker(cfg: Settings) -> list[Verdict]:
    if cfg.auth.secret or cfg.auth.private_key:
        return [
            Verdict(
                False,
                "JWT_SECRET/JWT_PRIVATE_KEY",
                "workers and beat never verify a token: remove the key from their environment",
            )
        ]
    return []


def _transport(cfg: Settings, *, smtp: bool) -> list[Verdict]:
    if cfg.security.allow_insecure_transport:
        return []
    out = []
    urls = {"REDIS_URL": cfg.redis.url, "BROKER_URL": cfg.redis.broker_url}
    for name, url in urls.items():
        if not url:
            continue
        parts = urlsplit(url)
        if parts.scheme in {"redis", "amqp"} and not is_loopback(parts.hostname):
            out.append(
                Verdict(
                    True,
                    name,
                    f"{parts.scheme}:// to {parts.hostname} is not encrypted; use "
                    f"{parts.scheme}s:// or ALLOW_INSECURE_TRANSPORT=1",
                )
            )
    if smtp and not (cfg.smtp.starttls or cfg.smtp.ssl) and not is_loopback(cfg.smtp.host):
        out.append(
            Verdict(
                True,
                "SMTP_HOST",
                f"plain SMTP to {cfg.smtp.host}; set SMTP_STARTTLS or SMTP_SSL, "
                "or ALLOW_INSECURE_TRANSPORT=1",
            )
        )
    return out


def _dev_only(cfg: Settings) -> list[Verdict]:
    out = []
    if any(m == "tests" or m.startswith("tests.") for m in cfg.tasks.extra_modules):
        out.append(Verdict(True, "EXTRA_TASK_MODULES", "names test instruments (development only)"))
    if cfg.webhooks.allow_private_hosts:
        out.append(
            Verdict(False, "WEBHOOK_ALLOW_PRIVATE_HOSTS", "callbacks may reach private networks")
        )
    if "*" in cfg.api.cors_origins:
        out.append(Verdict(True, "CORS_ORIGINS", "'*' lets any web page call the API"))
    return out


def _flower(cfg: Settings) -> list[Verdict]:
    out = []
    why = _weak(cfg.flower.password)
    if why:
        out.append(Verdict(True, "FLOWER_PASSWORD", f"{why}; Flower would be open"))
    if not is_loopback(cfg.flower.address):
        out.append(
            Verdict(
                True,
                "FLOWER_ADDRESS",
                f"{cfg.flower.address} is not loopback; put Flower behind a TLS proxy",
            )
        )
    return out


def verdicts(cfg: Settings, processes: list[Process] | None = None) -> list[Verdict]:
    """Every verdict for these processes (all four by default). Fatal only in production."""
    chosen = processes or list(Process)
    found: list[Verdict] = []
    if Process.API in chosen:
        found += _auth(cfg)
        why = _weak(cfg.security.id_secret)
        if why:
            found.append(Verdict(True, "ID_SECRET", f"{why}; ids from idempotency keys need it"))
        if not cfg.app.public_base_url.startswith("https://"):
            found.append(Verdict(False, "PUBLIC_BASE_URL", "links in e-mails are not https"))
    if (Process.API in chosen or Process.WORKER in chosen) and cfg.privacy.data_keys is None:
        found.append(
            Verdict(
                True,
                "DATA_KEYS",
                "personal data at rest needs a key-encryption key "
                "(`python -m backend keys generate` makes one)",
            )
        )
    if Process.WORKER in chosen or Process.BEAT in chosen:
        found += _signing_material_on_worker(cfg) if Process.API not in chosen else []
    found += _transport(cfg, smtp=Process.WORKER in chosen)
    found += _dev_only(cfg)
    if Process.FLOWER in chosen:
        found += _flower(cfg)
    seen: set[str] = set()
    unique = [v for v in found if not (v.line() in seen or seen.add(v.line()))]  # type: ignore[func-returns-value]
    if cfg.app.environment != "production":
        return [Verdict(False, v.setting, v.message) for v in unique]
    return unique


def guard(process: Process, cfg: Settings | None = None) -> None:
    """At a process's start: in production, exit (status 78) on the first fatal verdict."""
    from backend.core.settings import settings

    cfg = cfg or settings
    if cfg.app.environment != "production":
        return
    fatal = [v for v in verdicts(cfg, [process]) if v.fatal]
    if fatal:
        sys.stderr.write(
            f"refusing to start {process.value} in production: {fatal[0].setting} "
            f"{fatal[0].message} (python -m backend check-config lists all)\n"
        )
        sys.stderr.flush()
        raise SystemExit(EXIT_CONFIG)

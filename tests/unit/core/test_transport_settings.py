"""Transport rules checked at start: no SMTP password and no case text in clear over a network,
and PostgreSQL's TLS options reach the driver as the URL gives them."""

from __future__ import annotations

import pytest

from backend.core.crypto import aead
from backend.core.settings import (
    AppSettings,
    AuthSettings,
    LLMSettings,
    PrivacySettings,
    Settings,
    SmtpSettings,
)


def _settings(environment: str = "production", **parts: object) -> Settings:
    return Settings(
        app=AppSettings(environment=environment),
        auth=AuthSettings(secret="x" * 40),
        privacy=PrivacySettings(DATA_KEYS=aead.generate_entry("k1")),
        **parts,  # type: ignore[arg-type]
    )


@pytest.mark.parametrize(
    "url", ["http://llm.example.org/v1", "http://10.0.0.7:8080/v1", "ftp://llm.example.org"]
)
def test_production_refuses_a_plain_llm_url_off_this_machine(url: str) -> None:
    with pytest.raises(ValueError, match="LLM_URL must be https://"):
        _settings(llm=LLMSettings(url=url))


@pytest.mark.parametrize(
    "url",
    ["https://llm.example.org/v1", "http://127.0.0.1:8080/v1", "http://localhost/v1",
     "http://[::1]:8080/v1"],
)  # fmt: skip
def test_production_accepts_https_or_a_loopback_llm(url: str) -> None:
    assert _settings(llm=LLMSettings(url=url)).llm.url == url


def test_development_may_use_a_plain_llm_url() -> None:
    _settings("development", llm=LLMSettings(url="http://gpu-box.lan:8080/v1"))


def test_smtp_credentials_without_tls_are_refused_in_every_environment() -> None:
    for environment in ("development", "production"):
        with pytest.raises(ValueError, match="SMTP_USER is set but neither"):
            _settings(environment, smtp=SmtpSettings(user="app", password="pw"))
    _settings(smtp=SmtpSettings(user="app", password="pw", starttls=True))
    _settings(smtp=SmtpSettings(user="app", password="pw", ssl=True))
    _settings(smtp=SmtpSettings())  # no login, no password to protect


def test_postgres_sslmode_and_friends_reach_the_driver() -> None:
    from sqlalchemy import event

    from backend.core.db.session import get_engine

    url = (
        "postgresql+psycopg://app@db.example.org/app"
        "?sslmode=verify-full&sslrootcert=/etc/ssl/db-ca.pem"
    )
    engine = get_engine(url)
    seen: dict[str, object] = {}

    class Stop(Exception):
        pass

    @event.listens_for(engine, "do_connect")
    def _capture(dialect: object, conn_rec: object, cargs: object, cparams: dict) -> None:  # type: ignore[type-arg]
        seen.update(cparams)
        raise Stop  # what psycopg.connect would have been called with; no network

    with pytest.raises(Stop):
        engine.connect()
    assert seen["sslmode"] == "verify-full" and seen["sslrootcert"] == "/etc/ssl/db-ca.pem"
    assert seen["connect_timeout"] == 5 and seen["host"] == "db.example.org"


def test_the_erasure_pause_hook_is_refused_outside_tests() -> None:
    hook = PrivacySettings(DATA_KEYS=aead.generate_entry("k1"), TEST_ERASURE_PAUSE_AFTER="ROWS")
    for environment in ("development", "production"):
        with pytest.raises(ValueError, match="test hook"):
            Settings(
                app=AppSettings(environment=environment),
                auth=AuthSettings(secret="x" * 40),
                privacy=hook,
            )
    Settings(app=AppSettings(environment="test"), auth=AuthSettings(secret="x" * 40), privacy=hook)

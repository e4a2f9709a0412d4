"""SMTP credentials travel only over TLS: real aiosmtpd servers (plain, STARTTLS, implicit TLS,
with a CA the test makes) record every AUTH they see; the mailer never sends one in clear."""

from __future__ import annotations

import ssl
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from backend.adapters import mailer
from backend.core.errors import MailError
from backend.core.settings import settings
from backend.devtools.redis_server import free_port
from tests.support.tls import make_pki


class Server:
    """Accepts any login and any message; notes each login and whether it came over TLS."""

    def __init__(self) -> None:
        self.logins: list[tuple[str, bool]] = []
        self.messages: list[bytes] = []

    def authenticator(self, server: Any, session: Any, envelope: Any, mechanism: str,
                      auth_data: Any) -> Any:  # fmt: skip
        from aiosmtpd.smtp import AuthResult

        tls = server.transport.get_extra_info("ssl_object") is not None
        self.logins.append((auth_data.login.decode(), tls))
        return AuthResult(success=True)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.messages.append(envelope.content)
        return "250 OK"


@contextmanager
def smtp_server(
    *, starttls: ssl.SSLContext | None = None, implicit: ssl.SSLContext | None = None
) -> Iterator[tuple[Server, int]]:
    from aiosmtpd.controller import Controller

    recorder, port = Server(), free_port()
    controller = Controller(
        recorder, hostname="127.0.0.1", port=port, ssl_context=implicit, tls_context=starttls,
        authenticator=recorder.authenticator, auth_require_tls=False,
    )  # fmt: skip
    controller.start()
    try:
        yield recorder, port
    finally:
        controller.stop()


@pytest.fixture()
def pki(tmp_path: Path) -> dict[str, Path]:
    return make_pki(tmp_path)


def _server_context(pki: dict[str, Path]) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(pki["server"].with_suffix(".crt"), pki["server"].with_suffix(".key"))
    return context


def _use(monkeypatch: pytest.MonkeyPatch, port: int, **smtp: Any) -> None:
    """Point the mailer at the test server (settings as the process would have read them)."""
    values = {"host": "127.0.0.1", "port": port, "user": "app", "password": "s3gredo",
              "starttls": False, "ssl": False, "timeout_s": 5, "tls_ca_file": None,
              **smtp}  # fmt: skip
    for name, value in values.items():
        monkeypatch.setattr(settings.smtp, name, value)


def _message() -> Any:
    return mailer.build_message(to=["cliente@example.org"], subject="Teste", text="oi", html=None)


def test_no_login_over_a_plain_connection(monkeypatch: pytest.MonkeyPatch) -> None:
    with smtp_server() as (server, port):
        _use(monkeypatch, port)  # settings refuse this at start; the mailer refuses it too
        with pytest.raises(MailError, match="without TLS"):
            mailer.send(_message())
        _use(monkeypatch, port, starttls=True)  # the server offers no STARTTLS: no fallback
        with pytest.raises(MailError, match="STARTTLS"):
            mailer.send(_message())
    assert server.logins == [] and server.messages == []


def test_login_after_starttls_with_the_servers_certificate_verified(
    monkeypatch: pytest.MonkeyPatch, pki: dict[str, Path]
) -> None:
    with smtp_server(starttls=_server_context(pki)) as (server, port):
        _use(monkeypatch, port, starttls=True)  # the system's CAs do not know this server
        with pytest.raises(MailError, match=r"CERTIFICATE_VERIFY_FAILED|certificate verify"):
            mailer.send(_message())
        assert server.logins == []
        _use(monkeypatch, port, starttls=True, tls_ca_file=pki["ca"].with_suffix(".crt"))
        mailer.send(_message())
    assert server.logins == [("app", True)] and len(server.messages) == 1


def test_login_over_implicit_tls(monkeypatch: pytest.MonkeyPatch, pki: dict[str, Path]) -> None:
    with smtp_server(implicit=_server_context(pki)) as (server, port):
        _use(monkeypatch, port, ssl=True, tls_ca_file=pki["ca"].with_suffix(".crt"))
        mailer.send(_message())
    assert server.logins == [("app", True)] and len(server.messages) == 1

"""Finding 5 over real sockets: the callback connects to the address that was checked (no
second DNS answer can redirect it), keeps the Host header, is https-only and public-only in
production, and its owner sees only delivered or failed."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from backend.core.errors import CallbackRefused, InvalidRequest
from backend.core.settings import settings
from backend.platform.records import for_client
from backend.services import webhooks


class _Receiver(BaseHTTPRequestHandler):
    hosts: list[str] = []

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        _Receiver.hosts.append(self.headers["Host"])
        self.send_response(204)
        self.end_headers()

    def log_message(self, *_: Any) -> None:
        pass


@pytest.fixture()
def receiver() -> Iterator[int]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Receiver)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    _Receiver.hosts = []
    yield server.server_port
    server.shutdown()


def test_the_post_goes_to_the_checked_address_with_the_original_host(receiver: int) -> None:
    """`rebind.invalid` does not resolve at all: the request still arrives, so no second
    lookup was made after the check (a rebinding DNS could not have redirected it)."""
    callback = webhooks.Callback(
        url=f"http://rebind.invalid:{receiver}/hook", host="rebind.invalid", body=b"{}",
        headers={"Content-Type": "application/json"}, address="127.0.0.1",
    )  # fmt: skip
    assert webhooks.post(callback).status_code == 204
    assert _Receiver.hosts == [f"rebind.invalid:{receiver}"]


def test_production_refuses_http_and_names_that_resolve_to_private_addresses(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(settings.app, "environment", "production")
    monkeypatch.setattr(settings.webhooks, "allow_private_hosts", False)
    with pytest.raises(InvalidRequest, match="https"):
        webhooks.validate_callback_url("http://example.com/hook")
    for literal in ("https://[64:ff9b::a00:1]/h", "https://[2002:a00:1::1]/h",
                    "https://[::ffff:127.0.0.1]/h", "https://169.254.169.254/h"):  # fmt: skip
        with pytest.raises(InvalidRequest):
            webhooks.validate_callback_url(literal)
    # A name is checked once resolved; the refusal says nothing about our network.
    with pytest.raises(CallbackRefused) as refused:
        webhooks.resolve_checked("localhost", 443)
    assert "127.0.0.1" not in str(refused.value)


def test_the_owner_sees_only_delivered_or_failed() -> None:
    failed = {
        "name": "notifications.send_webhook", "state": "FAILURE", "worker": "w@h",
        "result": None, "progress": None,
        "error": {"type": "ConnectError", "message": "[Errno 111] Connection refused"},
        "history": [{"state": "RETRY", "detail": "ConnectError: 10.0.0.5:22 refused"}],
    }  # fmt: skip
    shown = for_client(failed)
    assert shown["error"] == {"type": "delivery_failed", "message": "the callback failed"}
    assert "10.0.0.5" not in str(shown) and "Errno" not in str(shown)
    ok = for_client({**failed, "state": "SUCCESS", "error": None, "result": {"status_code": 202}})
    assert ok["result"] == {"delivery": "delivered"}

"""A real SMTP server (aiosmtpd) that keeps what it receives, for tests that send e-mail."""

from __future__ import annotations

import email
from typing import Any


class Mailbox:
    def __init__(self, port: int) -> None:
        from aiosmtpd.controller import Controller

        self.messages: list[Any] = []
        self.controller = Controller(self, hostname="127.0.0.1", port=port)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.messages.append(email.message_from_bytes(envelope.content))
        return "250 OK"

"""A real SMTP server (aiosmtpd) that keeps what it receives, for tests that send e-mail."""

from __future__ import annotations

import email
from email.header import decode_header, make_header
from email.message import Message
from typing import Any


class Mailbox:
    def __init__(self, port: int) -> None:
        from aiosmtpd.controller import Controller

        self.messages: list[Any] = []
        self.controller = Controller(self, hostname="127.0.0.1", port=port)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.messages.append(email.message_from_bytes(envelope.content))
        return "250 OK"


def decoded(message: Message) -> tuple[str, str]:
    """Subject and plain-text body of a received message, decoded."""
    subject = str(make_header(decode_header(message["Subject"] or "")))
    body = ""
    for part in message.walk():
        if part.get_content_type() == "text/plain":
            payload = part.get_payload(decode=True)
            assert isinstance(payload, bytes)
            body = payload.decode(part.get_content_charset() or "utf-8")
    return subject, body

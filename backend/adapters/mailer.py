"""Send e-mail over SMTP (host, port, STARTTLS/TLS, credentials from settings), with a timeout.

Credentials go only over TLS: with SMTP_USER set, the connection must be SMTP_SSL or upgraded
by STARTTLS (a server that does not offer it fails the send), and the socket is checked to be
TLS before AUTH; the server's certificate is verified (SMTP_TLS_CA_FILE for a private CA).
"""

from __future__ import annotations

import hashlib
import smtplib
import ssl
from collections.abc import Callable
from email.message import EmailMessage
from email.utils import parseaddr

from backend.core.errors import MailError
from backend.core.settings import settings


def message_id_for(key: str) -> str:
    """The same Message-ID for every send under one idempotency key.

    A task that crashes between a send and its ledger record sends again on redelivery
    (backend/resilience/effects.py); with the same Message-ID the receiver can drop the copy.
    The key is hashed so that nothing of it shows in the header.
    """
    digest = hashlib.sha256(key.encode()).hexdigest()[:40]
    domain = parseaddr(settings.mail.mail_from)[1].rpartition("@")[2] or "localhost"
    return f"<{digest}@{domain}>"


def build_message(
    *, to: list[str], subject: str, text: str, html: str | None, message_id: str | None = None
) -> EmailMessage:
    message = EmailMessage()
    if message_id:
        message["Message-ID"] = message_id
    message["From"] = settings.mail.mail_from
    message["To"] = ", ".join(to)
    message["Subject"] = subject
    message.set_content(text)
    if html:
        message.add_alternative(html, subtype="html")
    return message


def send(message: EmailMessage, on_accepted: Callable[[], None] | None = None) -> None:
    """Send `message`; `on_accepted` runs the moment the server has accepted it, before the
    closing QUIT round trip (the effect ledger marks the send done there)."""
    ca_file = settings.smtp.tls_ca_file
    context = ssl.create_default_context(cafile=str(ca_file) if ca_file else None)
    host, port, timeout = settings.smtp.host, settings.smtp.port, settings.smtp.timeout_s
    try:
        smtp = (
            smtplib.SMTP_SSL(host, port, timeout=timeout, context=context)
            if settings.smtp.ssl
            else smtplib.SMTP(host, port, timeout=timeout)
        )
        with smtp:
            if settings.smtp.starttls and not settings.smtp.ssl:
                smtp.starttls(context=context)
            if settings.smtp.user:
                if not isinstance(smtp.sock, ssl.SSLSocket):
                    raise MailError(
                        "refusing to log in to the SMTP server without TLS "
                        "(set SMTP_STARTTLS or SMTP_SSL)"
                    )
                smtp.login(settings.smtp.user, settings.smtp.password or "")
            smtp.send_message(message)
            if on_accepted is not None:
                on_accepted()
    except (smtplib.SMTPException, OSError) as exc:
        raise MailError(f"{type(exc).__name__}: {exc}") from exc

"""A local SMTP server for development and tests: files each message as a .eml, sends nothing.

Run `python -m backend.devtools.smtp_sink --port 1025`; messages land in $MAILBOX_DIR (var/mailbox).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import time
import uuid
from pathlib import Path

from aiosmtpd.smtp import SMTP, Envelope, Session

log = logging.getLogger("smtp_sink")


def mailbox_dir() -> Path:
    return Path(os.environ.get("MAILBOX_DIR", "var/mailbox"))


class MailboxHandler:
    """aiosmtpd handler that writes every accepted message to one file in `directory`."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        content = envelope.original_content or b""
        # Bcc recipients appear only in the envelope; keep them in the file for tests to read.
        headers = f"X-Envelope-From: {envelope.mail_from}\r\n" + "".join(
            f"X-Envelope-To: {rcpt}\r\n" for rcpt in envelope.rcpt_tos
        )
        name = f"{time.strftime('%Y%m%dT%H%M%S')}-{uuid.uuid4().hex[:12]}.eml"
        partial = self.directory / f".{name}.part"
        # Written under a hidden name then renamed, so a reader never sees half a message.
        partial.write_bytes(headers.encode() + content)
        partial.rename(self.directory / name)
        # Sizes and counts only: addresses and content are personal data and stay out of logs.
        log.info(
            "stored message %s (%d bytes, %d recipients)",
            name,
            len(content),
            len(envelope.rcpt_tos),
        )
        return "250 Message accepted for delivery"


async def serve(port: int, directory: Path) -> None:
    """Accept mail on 127.0.0.1:`port` until SIGINT or SIGTERM."""
    directory.mkdir(parents=True, exist_ok=True)
    loop = asyncio.get_running_loop()
    handler = MailboxHandler(directory)
    server = await loop.create_server(lambda: SMTP(handler), "127.0.0.1", port)
    stopped = asyncio.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stopped.set)
    log.info("SMTP sink on 127.0.0.1:%d, mailbox %s", port, directory)
    await stopped.wait()
    server.close()
    await server.wait_closed()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, default=1025)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    # aiosmtpd logs MAIL FROM / RCPT TO addresses at INFO.
    logging.getLogger("mail.log").setLevel(logging.WARNING)
    asyncio.run(serve(args.port, mailbox_dir()))


if __name__ == "__main__":
    main()

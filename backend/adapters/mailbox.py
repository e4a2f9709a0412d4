"""Reads the local mailbox: the .eml files the development SMTP sink stores (one per message,
named `<received-ms>-<id>.eml`, with the envelope recipients in `X-Envelope-To`)."""

from __future__ import annotations

import email.header
import email.parser
from pathlib import Path

__all__ = ["read_messages"]


def read_messages(directory: Path, limit: int = 50) -> list[dict[str, object]]:
    """The newest `limit` messages the sink stored, as header summaries (newest first)."""
    if not directory.is_dir():
        return []
    files = sorted(directory.glob("*.eml"), reverse=True)[:limit]
    out: list[dict[str, object]] = []
    for path in files:
        with path.open("rb") as fh:
            message = email.parser.BytesHeaderParser().parse(fh)
        out.append(
            {
                "id": path.stem,
                "received_at": path.stem.split("-", 1)[0],
                "from": message.get("From"),
                "to": message.get_all("X-Envelope-To") or [],
                "subject": str(email.header.make_header(email.header.decode_header(
                    message.get("Subject", "")))),
                "size_bytes": path.stat().st_size,
            }
        )  # fmt: skip
    return out

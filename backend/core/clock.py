"""Wall-clock time as the platform stores it: integer milliseconds since the epoch (UTC)."""

from __future__ import annotations

from datetime import UTC, datetime


def now_ms() -> int:
    return int(datetime.now(UTC).timestamp() * 1000)


def iso_ms(value: str | int | None) -> str | None:
    """RFC 3339 (with offset, millisecond precision) of a stored millisecond time."""
    if value in (None, ""):
        return None
    return datetime.fromtimestamp(int(value) / 1000, UTC).isoformat(timespec="milliseconds")

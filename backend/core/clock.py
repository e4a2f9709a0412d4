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


def rfc3339(value: datetime) -> str:
    """RFC 3339 of a stored time, `Z` for UTC, as the API's models write it (a naive time,
    which is how SQLite gives them back, is UTC)."""
    aware = value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    return aware.isoformat().replace("+00:00", "Z")

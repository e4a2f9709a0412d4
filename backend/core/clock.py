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


def as_utc(value: datetime) -> datetime:
    """A naive time (SQLite keeps no offset) is UTC; an aware one is converted to UTC."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def rfc3339(value: datetime | None) -> str | None:
    """A time as the API writes it (and as webhooks carry it): RFC 3339 in UTC, `Z` suffix."""
    if value is None:
        return None
    return as_utc(value).isoformat().replace("+00:00", "Z")

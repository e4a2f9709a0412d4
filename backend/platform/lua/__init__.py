"""The task platform's Lua scripts: each runs one state change atomically inside Redis."""

from __future__ import annotations

from pathlib import Path

__all__ = ["script"]

_DIR = Path(__file__).parent


def script(name: str) -> str:
    """The source of `<name>.lua` in this folder (registered by the caller with Redis)."""
    return (_DIR / f"{name}.lua").read_text()

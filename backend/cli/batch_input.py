"""Reading a file of cases for `python -m backend batch submit`: JSONL, a JSON array or CSV
(title, description, client_email), each case checked locally against the server's limits,
and cut into chunks with stable idempotency keys."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

FIELDS = ("title", "description", "client_email")
# The server's limits (backend/api/routes/triage.py: TriageCreate); it checks again.
_LIMITS = {"title": 300, "description": 20_000, "client_email": 320}


class UsageError(Exception):
    """Bad arguments, an unreadable file, or an API that refuses or cannot be reached."""


@dataclass(frozen=True)
class SourceItem:
    """One case of the file: where it is (`line 3`, `item 2`) and the case, or why not."""

    where: str
    case: dict[str, str] | None
    error: str | None = None


# --- reading the file ---------------------------------------------------------------------------


def load_cases(path: Path) -> list[SourceItem]:
    """The file's cases, each checked; raises UsageError if the file is not readable at all."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise UsageError(f"cannot read {path}: {exc.strerror}") from exc
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise UsageError(f"{path} is not UTF-8") from exc
    kind = _format_of(path, text)
    if kind == "json":
        return _from_json_array(text)
    if kind == "csv":
        return _from_csv(text)
    return _from_jsonl(text)


def _format_of(path: Path, text: str) -> str:
    suffix = path.suffix.lower()
    if suffix == ".csv":
        return "csv"
    if suffix in (".jsonl", ".ndjson"):
        return "jsonl"
    head = text.lstrip()[:1]
    if head == "[":
        return "json"
    return "jsonl" if head == "{" or suffix == ".json" else "csv"


def _from_jsonl(text: str) -> list[SourceItem]:
    items = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        where = f"line {number}"
        try:
            items.append(_checked(where, json.loads(line)))
        except json.JSONDecodeError as exc:
            items.append(SourceItem(where, None, f"invalid JSON ({exc.msg})"))
    return items


def _from_json_array(text: str) -> list[SourceItem]:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise UsageError(f"invalid JSON at line {exc.lineno}: {exc.msg}") from exc
    if not isinstance(data, list):
        raise UsageError("a JSON file must hold an array of cases")
    return [_checked(f"item {number}", raw) for number, raw in enumerate(data, start=1)]


def _from_csv(text: str) -> list[SourceItem]:
    reader = csv.DictReader(io.StringIO(text))
    if reader.fieldnames is None or not {"title", "description"} <= set(reader.fieldnames):
        raise UsageError("a CSV file needs a header with title, description[, client_email]")
    items = []
    for row in reader:
        where = f"line {reader.line_num}"
        # Empty cells are absent values (an optional e-mail left blank).
        raw = {k: v for k, v in row.items() if v not in (None, "")}
        items.append(_checked(where, raw))
    return items


def _checked(where: str, raw: Any) -> SourceItem:
    error = check_case(raw)
    return SourceItem(where, None, error) if error else SourceItem(where, raw)


def check_case(raw: Any) -> str | None:
    """Why the server would refuse this case (None if it looks fine); the server decides."""
    if not isinstance(raw, dict):
        return "a case must be an object with title and description"
    unknown = sorted(str(k) for k in raw if k not in FIELDS)
    if unknown:
        return f"unknown field(s): {', '.join(unknown)}"
    for name in FIELDS:
        value = raw.get(name)
        if value is None and name == "client_email":
            continue
        if not isinstance(value, str) or not value.strip():
            return f"{name}: must be a non-empty string"
        if len(value.strip()) > _LIMITS[name]:
            return f"{name}: at most {_LIMITS[name]} characters"
    email = raw.get("client_email")
    if email is not None and not _looks_like_email(email):
        return "client_email: not an e-mail address"
    return None


def _looks_like_email(value: str) -> bool:
    local, _, domain = value.strip().rpartition("@")
    return bool(local) and "." in domain and " " not in value.strip()


def chunk_key(digest: str, chunk_size: int, index: int) -> str:
    """The Idempotency-Key of one chunk: the same file cut the same way gives the same keys."""
    return f"cli:{digest[:40]}:{chunk_size}:{index}"


def chunks(items: Sequence[SourceItem], size: int) -> Iterator[list[SourceItem]]:
    valid = [item for item in items if item.case is not None]
    for start in range(0, len(valid), size):
        yield valid[start : start + size]


# --- talking to the API -------------------------------------------------------------------------

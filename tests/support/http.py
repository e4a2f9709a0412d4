"""HTTP helpers for tests that call the API: bearer headers and reading an SSE stream."""

from __future__ import annotations

import json
from typing import Any


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def read_sse(client: Any, path: str, token: str) -> list[tuple[str, dict[str, Any]]]:
    """Every (event name, JSON data) of a Server-Sent Events stream, until the server ends it."""
    events: list[tuple[str, dict[str, Any]]] = []
    name = ""
    with client.stream("GET", path, headers=auth(token)) as r:
        assert r.status_code == 200, r.read()
        for line in r.iter_lines():
            if line.startswith("event:"):
                name = line.split(":", 1)[1].strip()
            elif line.startswith("data:"):
                events.append((name, json.loads(line.split(":", 1)[1])))
    return events

"""A minimal asyncio HTTP/1.1 load client: keep-alive, hand-built requests, little CPU.

One connection per client; each request is written whole, then the status line and headers
are read, then Content-Length bytes of body. On a 2-core machine the client competes with the
server for CPU, so it does as little as it can (no httpx, no header parsing beyond the length).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping
from dataclasses import dataclass, field

try:
    import uvloop
except ImportError:  # pragma: no cover - uvloop is in the lock file
    uvloop = None  # type: ignore[assignment]


@dataclass
class LoadResult:
    latencies_s: list[float] = field(default_factory=list)
    statuses: dict[int, int] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    elapsed_s: float = 0.0

    @property
    def count(self) -> int:
        return len(self.latencies_s)


def build_request(
    host: str,
    port: int,
    path: str,
    body: bytes,
    token: str,
    headers: Mapping[str, str] | None = None,
) -> bytes:
    """A keep-alive JSON POST; `headers` adds lines such as Idempotency-Key."""
    extra = "".join(f"{name}: {value}\r\n" for name, value in (headers or {}).items())
    head = (
        f"POST {path} HTTP/1.1\r\n"
        f"Host: {host}:{port}\r\n"
        "Content-Type: application/json\r\n"
        f"Authorization: Bearer {token}\r\n"
        f"{extra}"
        f"Content-Length: {len(body)}\r\n"
        "Connection: keep-alive\r\n"
        "\r\n"
    )
    return head.encode() + body


async def exchange(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, request: bytes
) -> tuple[int, bytes]:
    """Write one request and read its response: (status, body)."""
    writer.write(request)
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head[9:12])
    lower = head.lower()
    at = lower.find(b"content-length:")
    if at < 0:
        raise RuntimeError("response without Content-Length")
    end = lower.index(b"\r\n", at)
    length = int(lower[at + 15 : end])
    body = await reader.readexactly(length) if length else b""
    return status, body


async def _client(
    host: str,
    port: int,
    request: bytes,
    schedule: list[float] | None,
    count: int,
    result: LoadResult,
) -> None:
    """Send `count` requests back to back, or at the given absolute perf_counter times.

    With a schedule, latency runs from the scheduled send time, so a slow response also
    charges the requests that queued behind it (no coordinated omission).
    """
    reader, writer = await asyncio.open_connection(host, port)
    clock = time.perf_counter
    latencies = result.latencies_s
    statuses = result.statuses
    try:
        for i in range(count):
            if schedule is not None:
                start = schedule[i]
                delay = start - clock()
                if delay > 0:
                    await asyncio.sleep(delay)
            else:
                start = clock()
            status, _ = await exchange(reader, writer, request)
            latencies.append(clock() - start)
            statuses[status] = statuses.get(status, 0) + 1
    finally:
        writer.close()


async def _run(
    host: str,
    port: int,
    request: bytes,
    clients: int,
    total: int,
    rate: float | None,
    timeout_s: float,
) -> LoadResult:
    result = LoadResult()
    per_client = [total // clients + (1 if i < total % clients else 0) for i in range(clients)]
    t0 = time.perf_counter() + 0.05
    schedules: list[list[float] | None] = []
    for c in range(clients):
        if rate is None:
            schedules.append(None)
        else:
            # Client c sends every clients/rate s, offset so the clients interleave evenly.
            interval = clients / rate
            schedules.append([t0 + c / rate + k * interval for k in range(per_client[c])])
    started = time.perf_counter()
    tasks = [
        asyncio.ensure_future(_client(host, port, request, schedules[c], per_client[c], result))
        for c in range(clients)
    ]
    done, pending = await asyncio.wait(tasks, timeout=timeout_s)
    for task in pending:
        task.cancel()
    if pending:
        result.errors.append(f"timeout: {len(pending)} clients still running after {timeout_s}s")
        await asyncio.gather(*pending, return_exceptions=True)
    for task in done:
        exc = task.exception()
        if exc is not None:
            result.errors.append(f"{type(exc).__name__}: {exc}")
    result.elapsed_s = time.perf_counter() - started
    return result


def run_load(
    host: str,
    port: int,
    request: bytes,
    *,
    clients: int,
    total: int,
    rate: float | None = None,
    timeout_s: float = 120.0,
) -> LoadResult:
    """`clients` keep-alive connections sending `total` requests, saturated or at `rate`/s."""
    coro = _run(host, port, request, clients, total, rate, timeout_s)
    if uvloop is not None:
        return uvloop.run(coro)
    return asyncio.run(coro)

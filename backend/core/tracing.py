"""W3C trace context (`traceparent`): one request's work followed across processes.

The API reads the caller's `traceparent` (or starts a trace) for each request; every task it
enqueues carries a child of it in its message headers (written by the enqueue Lua call, with
the message); the worker binds the task's trace to its log lines, and follow-ups it enqueues
carry it on. Log lines show `trace_id` and `span_id`, so that one trace id finds a request's
line in the API and its tasks' lines in every worker.

    traceparent: 00-<32 hex trace id>-<16 hex parent span id>-<2 hex flags>
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass

import structlog

from backend.core import randomness

__all__ = ["HEADER", "TraceContext", "child_header", "current", "parse", "start", "traced"]

HEADER = "traceparent"
_FORMAT = re.compile(r"00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})")
_ZERO_TRACE, _ZERO_SPAN = "0" * 32, "0" * 16


@dataclass(frozen=True)
class TraceContext:
    trace_id: str
    span_id: str  # this process's span (the parent of whatever it calls or enqueues)
    flags: str = "01"

    @property
    def header(self) -> str:
        return f"00-{self.trace_id}-{self.span_id}-{self.flags}"

    def child(self) -> TraceContext:
        return TraceContext(self.trace_id, randomness.token_hex(8), self.flags)


_current: ContextVar[TraceContext | None] = ContextVar("ltq_trace", default=None)


def parse(header: str | None) -> TraceContext | None:
    """The context a valid `traceparent` names (version 00; all-zero ids are invalid)."""
    match = _FORMAT.fullmatch((header or "").strip().lower())
    if match is None or match.group(1) == _ZERO_TRACE or match.group(2) == _ZERO_SPAN:
        return None
    return TraceContext(match.group(1), match.group(2), match.group(3))


def start(parent: str | None = None) -> TraceContext:
    """A new span: a child of `parent` if it is a valid traceparent, else a new trace."""
    found = parse(parent)
    if found is not None:
        return found.child()
    return TraceContext(randomness.token_hex(16), randomness.token_hex(8))


def current() -> TraceContext | None:
    return _current.get()


def child_header() -> str | None:
    """The traceparent to put on a message sent now (a child of the current span), if any."""
    context = _current.get()
    return context.child().header if context is not None else None


@contextmanager
def traced(context: TraceContext) -> Iterator[TraceContext]:
    """Make `context` current, and bind its ids to every log line, for the block."""
    token = _current.set(context)
    with structlog.contextvars.bound_contextvars(
        trace_id=context.trace_id, span_id=context.span_id
    ):
        try:
            yield context
        finally:
            _current.reset(token)

"""W3C traceparent: parsed strictly, continued as a child span, or started afresh."""

from __future__ import annotations

from backend.core import tracing


def test_a_valid_traceparent_is_continued_as_a_child_span() -> None:
    header = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
    context = tracing.start(header)
    assert context.trace_id == "4bf92f3577b34da6a3ce929d0e0e4736"
    assert context.span_id != "00f067aa0ba902b7" and len(context.span_id) == 16
    assert tracing.parse(context.header) == context


def test_invalid_headers_start_a_new_trace() -> None:
    for bad in (None, "", "garbage", "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
                "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
                "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01"):  # fmt: skip
        assert tracing.parse(bad) is None
        fresh = tracing.start(bad)
        assert len(fresh.trace_id) == 32 and fresh.trace_id != "0" * 32


def test_the_current_span_is_the_parent_of_what_is_sent_in_it() -> None:
    assert tracing.current() is None and tracing.child_header() is None
    context = tracing.start(None)
    with tracing.traced(context):
        sent = tracing.parse(tracing.child_header())
        assert sent is not None and sent.trace_id == context.trace_id
        assert sent.span_id != context.span_id
    assert tracing.current() is None

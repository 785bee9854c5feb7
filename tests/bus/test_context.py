"""The hot-path OpenTelemetry helpers give what the API's own functions give."""

from __future__ import annotations

import random

from opentelemetry import baggage, trace
from opentelemetry import context as otel_context
from opentelemetry.trace import Link, NonRecordingSpan, SpanContext, TraceFlags
from opentelemetry.trace.span import TraceState

from bus import _context


def a_span_context(flags: int = TraceFlags.SAMPLED) -> SpanContext:
    return SpanContext(
        random.getrandbits(128),
        random.getrandbits(64),
        False,
        TraceFlags(flags),
        TraceState([("v", "1")]),
    )


def test_the_direct_paths_are_in_use_with_the_default_runtime_context() -> None:
    # If an OpenTelemetry upgrade made a check at import fail, the bus would silently
    # fall back to the slower API functions: this test says so instead.
    assert _context.attach is not otel_context.attach
    assert _context.current is not otel_context.get_current
    assert _context.link is not Link
    assert _context.INDEXABLE


def test_a_span_context_reads_by_index_as_by_property() -> None:
    for ctx in (a_span_context(), a_span_context(flags=0), trace.INVALID_SPAN_CONTEXT):
        assert (ctx[0], ctx[1], ctx[2], ctx[3], ctx[4], ctx[5]) == (
            ctx.trace_id,
            ctx.span_id,
            ctx.is_remote,
            ctx.trace_flags,
            ctx.trace_state,
            ctx.is_valid,
        )


def test_attach_current_and_detach_are_the_apis() -> None:
    ctx = baggage.set_baggage("k", "v")
    token = _context.attach(ctx)
    try:
        assert otel_context.get_current() is ctx and _context.current() is ctx
        api_token = otel_context.attach(otel_context.Context())
        otel_context.detach(api_token)
        assert _context.current() is ctx
    finally:
        _context.detach(token)
    assert baggage.get_baggage("k") is None


def test_the_current_span_and_a_context_with_a_span_are_the_apis() -> None:
    span = NonRecordingSpan(a_span_context())
    base = baggage.set_baggage("k", "v")
    made = _context.with_span(base, span)
    assert made == trace.set_span_in_context(span, base)
    assert type(made) is otel_context.Context
    assert _context.current_span(made) is span is trace.get_current_span(made)
    assert _context.current_span(base) is trace.INVALID_SPAN is trace.get_current_span(base)
    token = otel_context.attach(base)
    try:
        assert _context.with_span(None, span) == trace.set_span_in_context(span)
    finally:
        otel_context.detach(token)


def test_span_contexts_and_links_are_the_constructors() -> None:
    parent = a_span_context(flags=0)
    made = _context.child_context(parent, 42)
    expected = SpanContext(
        parent.trace_id, 42, False, TraceFlags(TraceFlags.SAMPLED), parent.trace_state
    )
    assert made == expected and type(made) is SpanContext
    assert made.is_valid and made.trace_flags.sampled and not made.is_remote
    assert made.trace_state is parent.trace_state
    link = _context.link(parent)
    assert type(link) is Link and link.context is parent and link.attributes in (None, {})
    assert link.attributes == Link(parent).attributes

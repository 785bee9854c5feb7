"""The OpenTelemetry API on the hot path: the same results, minus its call layers.

Each hop of the bus reads the current context and span, makes a context current and
back, and for a sampled hop makes two span contexts, a link and a context holding the
new span. Through the API's functions that is about 3 us of Python calls on a hop that
costs 2 us untraced. So this module offers the same operations, done directly:

* with the API's default runtime context (``ContextVarsRuntimeContext``), its
  ``ContextVar`` and the span key are used as they are;
* ``SpanContext`` (a tuple) and ``Link`` are built without re-running the checks of
  their constructors on values the bus knows are valid.

Each shortcut is checked once, at import, against the API's own function on a probe
value, and the API's function is used instead when they differ (a runtime context
chosen with ``OTEL_PYTHON_CONTEXT``, another API version).
"""

from __future__ import annotations

from collections.abc import Callable
from contextvars import ContextVar, Token
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.trace import Link, Span, SpanContext, TraceFlags
from opentelemetry.trace.span import TraceState

__all__ = ["attach", "child_context", "current", "current_span", "detach", "link", "with_span"]

_SAMPLED = TraceFlags(TraceFlags.SAMPLED)


def _api_span(context: Context) -> Span:
    return trace.get_current_span(context)


def _api_with_span(context: Context | None, span: Span) -> Context:
    return trace.set_span_in_context(span, context)


def _api_child_context(parent: SpanContext, span_id: int) -> SpanContext:
    return SpanContext(parent.trace_id, span_id, False, _SAMPLED, parent.trace_state)


def _tuple_child_context(parent: SpanContext, span_id: int) -> SpanContext:
    # (trace_id, span_id, is_remote, trace_flags, trace_state, is_valid), as __new__ builds.
    return tuple.__new__(SpanContext, (parent[0], span_id, False, _SAMPLED, parent[4], True))


def _new_link(context: SpanContext) -> Link:
    made = object.__new__(Link)
    made._context = context
    made._attributes = None
    return made


attach: Callable[[Context], Token[Context]] = otel_context.attach
"""Make ``context`` current; returns the token for :func:`detach`."""
detach: Callable[[Token[Context]], None] = otel_context.detach
"""Restore the context current before the :func:`attach` that returned ``token``."""
current: Callable[[], Context] = otel_context.get_current
"""The current context."""
current_span: Callable[[Context], Span] = _api_span
"""The span current in a context (``INVALID_SPAN`` if none)."""
with_span: Callable[[Context | None, Span], Context] = _api_with_span
"""A copy of a context (``None``: the current one) with ``span`` current in it."""
child_context: Callable[[SpanContext, int], SpanContext] = _api_child_context
"""The sampled, local span context of a new span of ``parent``'s trace with that span id."""
link: Callable[[SpanContext], Link] = Link
"""A link to a span context, without attributes."""
INDEXABLE = False
"""Whether a ``SpanContext`` reads as ``(trace_id, span_id, is_remote, trace_flags,
trace_state, is_valid)`` by index, which skips a property call per field."""


def _use_direct_paths() -> None:
    """Switch each shortcut on if it gives what the API gives."""
    global attach, child_context, current, current_span, detach, link, with_span, INDEXABLE  # noqa: PLW0603
    state = TraceState([("k", "v")])
    parent = SpanContext(1, 2, False, _SAMPLED, state)
    if _tuple_child_context(parent, 3) == _api_child_context(parent, 3):
        child_context = _tuple_child_context
        remote = SpanContext(1, 2, True, TraceFlags(0), state)
        INDEXABLE = (remote[2], remote[3], remote[5]) == (True, 0, True)
    if vars(_new_link(parent)) == vars(Link(parent)):
        link = _new_link
    try:
        from opentelemetry.context import _RUNTIME_CONTEXT  # noqa: PLC0415
        from opentelemetry.context.contextvars_context import (  # noqa: PLC0415
            ContextVarsRuntimeContext,
        )
        from opentelemetry.trace.propagation import _SPAN_KEY  # noqa: PLC0415
    except ImportError:  # pragma: no cover - an API without these names
        return
    var: Any = getattr(_RUNTIME_CONTEXT, "_current_context", None)
    if type(_RUNTIME_CONTEXT) is not ContextVarsRuntimeContext or not isinstance(var, ContextVar):
        return  # pragma: no cover - another runtime context
    span = trace.NonRecordingSpan(parent)
    probe = trace.set_span_in_context(span)
    if probe.get(_SPAN_KEY) is not span:
        return  # pragma: no cover - the span is kept under another key
    token = var.set(probe)
    try:
        if otel_context.get_current() is not probe:
            return  # pragma: no cover - the API reads another variable
    finally:
        var.reset(token)
    invalid = trace.INVALID_SPAN

    def direct_span(context: Context) -> Span:
        # Only set_span_in_context writes the key, and it takes a Span.
        found: Span | None = context.get(_SPAN_KEY)  # type: ignore[assignment]
        return invalid if found is None else found

    def direct_with_span(context: Context | None, span: Span) -> Context:
        values = dict(var.get() if context is None else context)
        values[_SPAN_KEY] = span
        return Context(values)

    attach, detach, current = var.set, var.reset, var.get
    current_span, with_span = direct_span, direct_with_span


_use_direct_paths()

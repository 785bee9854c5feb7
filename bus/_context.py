"""The OpenTelemetry context on the hot path: the API's functions, minus their call layers.

``opentelemetry.context.attach``/``detach``/``get_current`` each go through the runtime
context object to a ``ContextVar``, and ``trace.get_current_span`` adds an ABC
``isinstance`` check: together about 0.7 us of a hop that is untraced in 2 us. With
the API's default runtime context (``ContextVarsRuntimeContext``) these functions use
its ``ContextVar`` and the span key directly, with the same results; anything else (a
runtime context chosen with ``OTEL_PYTHON_CONTEXT``, an API without these names) gets
the API's own functions. The check runs once, at import.
"""

from __future__ import annotations

from collections.abc import Callable
from contextvars import ContextVar, Token

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.trace import Span

__all__ = ["attach", "current", "current_span", "detach"]

attach: Callable[[Context], Token[Context]] = otel_context.attach
detach: Callable[[Token[Context]], None] = otel_context.detach
current: Callable[[], Context] = otel_context.get_current


def current_span(context: Context) -> Span:
    """The span current in ``context`` (``INVALID_SPAN`` if none), as the API's."""
    return trace.get_current_span(context)


def _direct() -> None:
    """Switch to the direct paths if they give what the API gives."""
    global attach, detach, current, current_span
    try:
        from opentelemetry.context import _RUNTIME_CONTEXT  # noqa: PLC0415
        from opentelemetry.context.contextvars_context import (  # noqa: PLC0415
            ContextVarsRuntimeContext,
        )
        from opentelemetry.trace.propagation import _SPAN_KEY  # noqa: PLC0415
    except ImportError:  # pragma: no cover - an API without these names
        return
    var = getattr(_RUNTIME_CONTEXT, "_current_context", None)
    if type(_RUNTIME_CONTEXT) is not ContextVarsRuntimeContext or not isinstance(var, ContextVar):
        return  # pragma: no cover - another runtime context
    probe = trace.set_span_in_context(trace.INVALID_SPAN)
    if probe.get(_SPAN_KEY) is not trace.INVALID_SPAN:
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
        span: Span | None = context.get(_SPAN_KEY)  # type: ignore[assignment]
        return invalid if span is None else span

    attach, detach, current, current_span = var.set, var.reset, var.get, direct_span


_direct()

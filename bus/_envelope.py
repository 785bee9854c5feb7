"""An event in flight: the event plus the trace context of the span that published it."""

from __future__ import annotations

from typing import Generic, TypeVar

from opentelemetry.trace import SpanContext

from ._event import Event

__all__ = ["Envelope"]

E_co = TypeVar("E_co", bound=Event, covariant=True)


class Envelope(Generic[E_co]):
    """What the bus puts in a subscriber's mailbox.

    In-process the span context travels as an object beside the event: serializing it
    to ``traceparent`` on every hop would cost about 6.6 µs (inject + extract, see
    ``shared/DESIGN.md``). :func:`bus.to_wire` and :func:`bus.from_wire` convert when
    an event leaves the process or is stored.

    Attributes:
        event: The frozen event.
        span_context: Context of the ``publish`` span, or ``None`` when tracing is off.
    """

    __slots__ = ("event", "span_context")

    def __init__(self, event: E_co, span_context: SpanContext | None = None) -> None:
        self.event = event
        self.span_context = span_context

    def __repr__(self) -> str:
        return f"Envelope({self.event.type} {self.event.id})"

"""An event in flight: the event plus the trace context of the span that published it."""

from __future__ import annotations

import contextvars
from typing import Generic, TypeVar

from opentelemetry.context import Context
from opentelemetry.trace import SpanContext

from ._event import Event

__all__ = ["Envelope"]

E_co = TypeVar("E_co", bound=Event, covariant=True)

# How the handling of an envelope is traced, decided by the bus's tracer at publish:
# not yet (an envelope made elsewhere), a hop span, no span (the sampler drops the
# hop), or through the SDK's tracer.
UNDECIDED, HOP, DROPPED, SDK = 0, 1, 2, 3


class Envelope(Generic[E_co]):
    """What the bus puts in a subscriber's mailbox.

    In-process the span context travels as an object beside the event: serializing it
    to ``traceparent`` on every hop would cost about 6.6 µs (inject + extract, see
    ``shared/DESIGN.md``). :func:`bus.lowlevel.to_wire` and
    :func:`bus.lowlevel.from_wire` convert when an event leaves the process or is stored.

    Attributes:
        event: The frozen event.
        span_context: Context of the ``publish`` span (or, for a hop the sampler drops,
            of the publisher's span), or ``None`` when tracing is off.
        context: The OpenTelemetry context current where the event was published, or
            ``None``.
        snapshot: Every context variable where the event was published (``contextvars``:
            the OpenTelemetry context, baggage, request ids, logging contexts), or
            ``None``. The subscriber's handler runs in a copy of it; a hop the sampler
            drops needs nothing more, for a fraction of a microsecond.
        received: Where it came from: ``""`` for this process, else the subject of the
            message it arrived in from another process (a transport sets it; what was
            received is delivered to this process's subscribers only).
    """

    __slots__ = ("_process", "context", "event", "received", "snapshot", "span_context")

    def __init__(
        self,
        event: E_co,
        span_context: SpanContext | None = None,
        context: Context | None = None,
        snapshot: contextvars.Context | None = None,
    ) -> None:
        self.event = event
        self.span_context = span_context
        self.context = context
        self.snapshot = snapshot
        self.received = ""
        self._process = UNDECIDED

    def __repr__(self) -> str:
        return f"Envelope({self.event.type} {self.event.id})"

"""Trace context on the bus: messaging spans and W3C propagation.

Span names and attributes follow the OpenTelemetry messaging semantic conventions:
``publish <event type>`` is a PRODUCER span and ``process <event type>`` a CONSUMER span,
the child of the publish span and linked to it.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.trace import Link, NonRecordingSpan, Span, SpanContext, SpanKind
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from ._envelope import Envelope
from ._event import Event

__all__ = ["BusTracer", "from_wire", "to_wire"]

MESSAGING_SYSTEM = "actorchestra"
_PROPAGATOR = TraceContextTextMapPropagator()


class BusTracer:
    """Creates the bus's messaging spans with one tracer.

    Args:
        tracer_provider: Where spans go; ``None`` uses the global provider.
    """

    __slots__ = ("_tracer",)

    def __init__(self, tracer_provider: trace.TracerProvider | None = None) -> None:
        self._tracer = trace.get_tracer("actorchestra.bus", tracer_provider=tracer_provider)

    def start_publish(self, event: Event, destination: str) -> Span:
        """Start the PRODUCER span of one publish, a child of the current context."""
        return self._tracer.start_span(
            f"publish {event.type}",
            kind=SpanKind.PRODUCER,
            attributes={
                "messaging.system": MESSAGING_SYSTEM,
                "messaging.operation.type": "send",
                "messaging.operation.name": "publish",
                "messaging.destination.name": destination,
                "messaging.message.id": event.id,
                "actorchestra.workflow.id": event.workflow_id,
                "actorchestra.task.id": event.task_id,
            },
        )

    @contextmanager
    def process(self, envelope: Envelope[Event], subscriber: str) -> Iterator[Span]:
        """Run the body inside the CONSUMER span of handling ``envelope``.

        The span's parent is the publish span carried in the envelope (when there is
        one), and it also links to it; the span is current while the body runs, so
        events published by the handler continue the trace. An exception escaping the
        body sets status ERROR, is recorded on the span and propagates.
        """
        event = envelope.event
        parent_sc = envelope.span_context
        if parent_sc is not None:
            ctx = trace.set_span_in_context(NonRecordingSpan(parent_sc))
            links = [Link(parent_sc)]
        else:
            ctx = None
            links = None
        span = self._tracer.start_span(
            f"process {event.type}",
            context=ctx,
            kind=SpanKind.CONSUMER,
            links=links,
            attributes={
                "messaging.system": MESSAGING_SYSTEM,
                "messaging.operation.type": "process",
                "messaging.operation.name": "process",
                "messaging.destination.name": event.recipient or event.type,
                "messaging.consumer.group.name": subscriber,
                "messaging.message.id": event.id,
                "actorchestra.workflow.id": event.workflow_id,
                "actorchestra.task.id": event.task_id,
            },
        )
        token = otel_context.attach(trace.set_span_in_context(span))
        try:
            yield span
        except BaseException as exc:
            span.record_exception(exc)
            span.set_status(trace.Status(trace.StatusCode.ERROR, f"{type(exc).__name__}: {exc}"))
            raise
        finally:
            otel_context.detach(token)
            span.end()


def to_wire(envelope: Envelope[Event]) -> Event:
    """Return the event with ``traceparent``/``tracestate`` filled from the envelope.

    Use it when an event leaves the process or is stored (W3C Trace Context).
    """
    if envelope.span_context is None or not envelope.span_context.is_valid:
        return envelope.event
    carrier: dict[str, str] = {}
    ctx = trace.set_span_in_context(NonRecordingSpan(envelope.span_context))
    _PROPAGATOR.inject(carrier, context=ctx)
    return envelope.event.model_copy(
        update={
            "traceparent": carrier.get("traceparent", ""),
            "tracestate": carrier.get("tracestate", ""),
        }
    )


def from_wire(event: Event) -> Envelope[Event]:
    """Turn an event read from outside the process back into an envelope.

    The span context is extracted from ``traceparent``/``tracestate``; an event without
    them gets an envelope with no span context.
    """
    if not event.traceparent:
        return Envelope(event)
    carrier: dict[str, Any] = {"traceparent": event.traceparent}
    if event.tracestate:
        carrier["tracestate"] = event.tracestate
    ctx = _PROPAGATOR.extract(carrier)
    span_context: SpanContext = trace.get_current_span(ctx).get_span_context()
    return Envelope(event, span_context if span_context.is_valid else None)

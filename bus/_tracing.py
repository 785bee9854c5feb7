"""Trace context on the bus: messaging spans and W3C propagation.

Span names and attributes follow the OpenTelemetry messaging semantic conventions
(``{messaging.operation.name} {destination}``, the destination being the template, the
event type): ``publish <event type>`` is a PRODUCER span and ``process <event type>`` a
CONSUMER span, the child of the publish span and linked to it.
"""

from __future__ import annotations

import contextlib
import contextvars
from collections.abc import Callable, Iterator
from types import TracebackType
from typing import TYPE_CHECKING, Any, TypeVar

import pydantic
from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.trace import Link, NonRecordingSpan, Span, SpanContext, SpanKind, TraceFlags
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator
from opentelemetry.util.types import AttributeValue

from ._envelope import DROPPED, HOP, SDK, Envelope
from ._errors import error_text
from ._event import Event
from ._telemetry import Telemetry

if TYPE_CHECKING:
    from ._hop_spans import HopSpans

__all__ = [
    "BusTracer",
    "ProcessScope",
    "continuing_trace",
    "from_wire",
    "record_failure",
    "remote_span_context",
    "to_wire",
    "traceparent",
]

MESSAGING_SYSTEM = "actorchestra"
R = TypeVar("R")
_PROPAGATOR = TraceContextTextMapPropagator()
_SAMPLED = TraceFlags.SAMPLED


class BusTracer:
    """Creates the bus's messaging spans with one tracer, on OpenTelemetry's public API.

    Three fast paths keep tracing cheap enough for every hop (see ``shared/DESIGN.md``):

    * The context current at publish travels in the :class:`Envelope` as objects: the
      OpenTelemetry context and a snapshot of every context variable (baggage, request
      ids, structlog contexts). No ``traceparent`` is formatted or parsed in-process,
      and the handler runs in a copy of the snapshot (``contextvars``).
    * When the application gave its span processor (``Telemetry.span_processor``, its
      word that the sampler follows the parent, as the SDK's default ``ParentBased``
      does), a hop whose parent is not sampled creates no span at all: the handler runs
      in the publisher's context, the outcome the sampler would give (nothing recorded,
      same trace id and flags) for a fraction of a microsecond.
    * Under the same condition, a hop whose parent is sampled and local is a
      :class:`~bus._hop_spans.HopSpan`, handed finished to that processor.

    Everything else goes through the tracer, as any instrumentation would.

    Args:
        telemetry: Where spans go (see :class:`Telemetry`).
        publish_spans: ``False`` makes one span per hop: the ``process`` span, the child
            of the publisher's span (the messaging conventions allow a consumer span
            without a producer span), for about half the cost of tracing a hop.
    """

    __slots__ = ("_hops", "_publish_spans", "_tracer")

    def __init__(self, telemetry: Telemetry, *, publish_spans: bool = True) -> None:
        self._tracer = telemetry.tracer("actorchestra.bus")
        self._publish_spans = publish_spans
        self._hops: HopSpans | None = None
        if telemetry.span_processor is not None:
            from ._hop_spans import HopSpans  # noqa: PLC0415 - the SDK, only when given

            provider = telemetry.tracer_provider or trace.get_tracer_provider()
            hops = HopSpans.for_telemetry(provider, telemetry.span_processor)
            if hops is not None and telemetry.span_limits is not None:
                hops = hops.with_limits(telemetry.span_limits)
            self._hops = hops

    def _child(self, parent: SpanContext) -> int:
        """How a child span of ``parent`` is made: ``HOP``, ``DROPPED`` or ``SDK``."""
        if self._hops is None or not parent.is_valid:
            return SDK
        if parent.trace_flags & _SAMPLED:
            return SDK if parent.is_remote else HOP
        return DROPPED  # the sampler follows the parent: it would drop this one

    def start_publish(
        self, event: Event, recipient: str | None, routed: bool
    ) -> tuple[Envelope[Event], Span | None]:
        """The envelope for publishing ``event``, and its PRODUCER span if it gets one.

        ``recipient`` is ``event.recipient`` (the caller has it already).

        The span is the child of the current span, and the caller ends it once the
        event is delivered. There is none outside any trace for an event whose
        ``starts_trace`` is false, none when the event is not ``routed`` (a broadcast
        nobody subscribes to: nothing hops), and none when the sampler would drop it.
        """
        context = otel_context.get_current()
        decided = _DECIDED.get()
        if decided is not None and decided[0] is context:  # in a hop's handler: known
            parent, child = decided[1], decided[2]
            if child is DROPPED:
                envelope = Envelope(event, parent, context, contextvars.copy_context())
                envelope._process = DROPPED  # the snapshot carries the decision on
                return envelope, None
        else:
            current = trace.get_current_span(context)
            parent = current.get_span_context()
            child = self._child(parent)
            if child is DROPPED and not current.is_recording():
                snapshot = contextvars.copy_context()
                snapshot.run(_DECIDED.set, (context, parent, DROPPED))
                envelope = Envelope(event, parent, context, snapshot)
                envelope._process = DROPPED
                return envelope, None
        if not parent.is_valid:  # outside any trace
            if not event.starts_trace:
                return Envelope(event), None
            if not routed or not self._publish_spans:  # the process span is the root
                return Envelope(event, None, context, contextvars.copy_context()), None
        elif not routed:
            return Envelope(event, parent, context, contextvars.copy_context()), None
        elif not self._publish_spans:  # the process span is the child of the publisher's
            envelope = Envelope(event, parent, context, contextvars.copy_context())
            envelope._process = child
            return envelope, None
        attributes = _message_attributes(event, recipient, "send", "publish")
        name = f"publish {event.type}"
        span: Span
        snapshot = contextvars.copy_context()
        if child is HOP:
            span = self._hops.start(name, SpanKind.PRODUCER, parent, attributes)  # type: ignore[union-attr]
            envelope = Envelope(event, span.get_span_context(), context, snapshot)
            envelope._process = HOP  # the child of a hop span is one
            return envelope, span
        span = self._tracer.start_span(
            name, context=context, kind=SpanKind.PRODUCER, attributes=attributes
        )
        if not span.is_recording():  # the sampler dropped it: the hop continues from it
            context = trace.set_span_in_context(span, context)
        return Envelope(event, span.get_span_context(), context, snapshot), span

    def handle(
        self, envelope: Envelope[Event], subscriber: str, handler: Callable[[Event], R]
    ) -> R:
        """Run ``handler(envelope.event)`` inside its ``process`` span (see :class:`ProcessScope`).

        In a copy of the publisher's context variables when the envelope carries them;
        a hop the sampler drops runs the handler there and nothing else.
        """
        snapshot = envelope.snapshot
        if snapshot is None:
            with ProcessScope(self, envelope, subscriber):
                return handler(envelope.event)
        process = envelope._process
        if process is DROPPED:  # the snapshot says so to what the handler publishes
            return snapshot.copy().run(handler, envelope.event)
        if process is HOP:
            return snapshot.copy().run(self._in_hop_span, envelope, subscriber, handler)
        return snapshot.copy().run(self._in_process_span, envelope, subscriber, handler)

    def _in_process_span(
        self, envelope: Envelope[Event], subscriber: str, handler: Callable[[Event], R]
    ) -> R:
        with ProcessScope(self, envelope, subscriber):
            return handler(envelope.event)

    def _in_hop_span(
        self, envelope: Envelope[Event], subscriber: str, handler: Callable[[Event], R]
    ) -> R:
        # Runs in a copy of the publisher's context variables: what it attaches there
        # ends with the copy, so there is nothing to detach.
        span = self._start_process(envelope, subscriber, envelope.span_context, HOP)
        context = trace.set_span_in_context(span, envelope.context)
        otel_context.attach(context)
        _DECIDED.set((context, span.get_span_context(), HOP))  # its children are hop spans
        try:
            return handler(envelope.event)
        except BaseException as exc:
            record_failure(span, exc)
            raise
        finally:
            span.end()

    def _start_process(
        self, envelope: Envelope[Event], subscriber: str, parent: SpanContext | None, child: int
    ) -> Span:
        event = envelope.event
        attributes = _message_attributes(event, event.recipient, "process", "process")
        attributes["messaging.consumer.group.name"] = subscriber
        if envelope.received:  # it came over NATS: the hop's system and subject are NATS's
            attributes["messaging.system"] = "nats"
            attributes["messaging.destination.name"] = envelope.received
        name = f"process {event.type}"
        if parent is None:  # a root: the event came from outside any trace
            return self._tracer.start_span(name, kind=SpanKind.CONSUMER, attributes=attributes)
        linked = self._publish_spans  # the publish span is its parent and its link
        if child is HOP:
            return self._hops.start(name, SpanKind.CONSUMER, parent, attributes, link_parent=linked)  # type: ignore[union-attr]
        return self._tracer.start_span(
            name,
            context=trace.set_span_in_context(NonRecordingSpan(parent)),
            kind=SpanKind.CONSUMER,
            links=(Link(parent),) if linked else (),
            attributes=attributes,
        )


# What is known of a context in the handlers the bus runs (each in its own copy of the
# context variables): ``(context, span context, child)`` - while the OpenTelemetry
# context current is ``context``, the current span's context is ``span context`` and its
# children are made as ``child`` (HOP or DROPPED). Contexts are immutable, so the triple
# stays true of that object; what the handler publishes from it skips the decision, and
# a hop the sampler dropped is passed on by its snapshot alone. (Not the envelope: its
# snapshot would chain every earlier hop's context.)
_DECIDED: contextvars.ContextVar[tuple[object, SpanContext, int] | None] = contextvars.ContextVar(
    "actorchestra_decided", default=None
)


def _message_attributes(
    event: Event, recipient: str | None, kind: str, operation: str
) -> dict[str, AttributeValue]:
    """A hop's attributes (OpenTelemetry messaging conventions).

    The destination template is the event type (the span name's ``{destination}``, low
    cardinality); the destination name is the recipient an event is addressed to, or
    the event type for a broadcast; the conversation is the workflow.
    """
    attributes: dict[str, AttributeValue] = {
        "messaging.system": MESSAGING_SYSTEM,
        "messaging.operation.type": kind,
        "messaging.operation.name": operation,
        "messaging.destination.template": event.type,
        "messaging.destination.name": recipient or event.type,
        "messaging.message.id": event.id,
        "actorchestra.workflow.id": event.workflow_id,
        "actorchestra.task.id": event.task_id,
    }
    if event.workflow_id:
        attributes["messaging.message.conversation_id"] = event.workflow_id
    return attributes


class ProcessScope:
    """The ``with`` block of handling one envelope: its CONSUMER ``process`` span.

    The span's parent is the publish span carried in the envelope (when there is
    one), and it also links to it; the span is current while the body runs, so
    events published by the handler continue the trace. An exception escaping the
    body sets status ERROR, is recorded on the span and propagates. A hop the
    sampler drops gets no span: the publisher's context is current instead. An
    event with no trace context whose ``starts_trace`` is false gets neither.
    (A class, not a generator: it runs on every hop.)
    """

    __slots__ = ("_envelope", "_span", "_subscriber", "_token", "_tracer")

    def __init__(self, tracer: BusTracer, envelope: Envelope[Event], subscriber: str) -> None:
        self._tracer = tracer
        self._envelope = envelope
        self._subscriber = subscriber

    def __enter__(self) -> Span:
        envelope = self._envelope
        parent = envelope.span_context
        context = envelope.context
        self._span = None
        if parent is None:
            if not envelope.event.starts_trace:
                self._token = None
                return trace.INVALID_SPAN
            child = SDK  # a root: the event came from outside any trace
        else:
            child = envelope._process or self._tracer._child(parent)
            if child is DROPPED:
                if context is None:  # e.g. an envelope made from a wire event
                    context = trace.set_span_in_context(NonRecordingSpan(parent))
                self._token = otel_context.attach(context)
                return trace.get_current_span(context)
        span = self._span = self._tracer._start_process(envelope, self._subscriber, parent, child)
        self._token = otel_context.attach(trace.set_span_in_context(span, context))
        return span

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._token is not None:
            otel_context.detach(self._token)
        span = self._span
        if span is None:
            return
        if exc is not None:
            record_failure(span, exc)
        span.end()


@contextlib.contextmanager
def continuing_trace(span_context: SpanContext) -> Iterator[None]:
    """Make ``span_context`` the current span's while the block runs, without a new span."""
    token = otel_context.attach(trace.set_span_in_context(NonRecordingSpan(span_context)))
    try:
        yield
    finally:
        otel_context.detach(token)


def record_failure(span: Span, exc: BaseException) -> None:
    """Status ERROR and an ``exception`` event (OTel exception conventions).

    A pydantic error quotes its input (maybe a model's text) in its message and its
    traceback: it is recorded by kind and location only, without the stack trace.
    """
    if not span.is_recording():
        return
    text = error_text(exc)
    module = type(exc).__module__
    kind = type(exc).__qualname__ if module == "builtins" else f"{module}.{type(exc).__qualname__}"
    span.set_attribute("error.type", kind)  # the conventions' error.type: the exception type
    if isinstance(exc, pydantic.ValidationError):
        span.add_event("exception", {"exception.type": kind, "exception.message": text})
    else:
        span.record_exception(exc)
    span.set_status(trace.Status(trace.StatusCode.ERROR, f"{type(exc).__name__}: {text}"))


def traceparent(envelope: Envelope[Event]) -> tuple[str, str]:
    """The W3C ``traceparent`` and ``tracestate`` headers of the envelope's span context.

    Both are ``""`` without a valid span context. Formatted directly (version ``00``,
    W3C Trace Context level 1), about 1 µs, where a propagator ``inject`` costs several.
    """
    ctx = envelope.span_context
    if ctx is None or not ctx.is_valid:
        return "", ""
    header = f"00-{ctx.trace_id:032x}-{ctx.span_id:016x}-{ctx.trace_flags:02x}"
    return header, ctx.trace_state.to_header() if ctx.trace_state else ""


def to_wire(envelope: Envelope[Event]) -> Event:
    """Return the event with ``traceparent``/``tracestate`` filled from the envelope.

    Use it when an event leaves the process or is stored (W3C Trace Context).
    """
    parent, state = traceparent(envelope)
    if not parent:
        return envelope.event
    return envelope.event.model_copy(update={"traceparent": parent, "tracestate": state})


def from_wire(event: Event) -> Envelope[Event]:
    """Turn an event read from outside the process back into an envelope.

    The span context is extracted from ``traceparent``/``tracestate``; an event without
    them gets an envelope with no span context.
    """
    return Envelope(event, remote_span_context(event.traceparent, event.tracestate))


def remote_span_context(parent: str, state: str = "") -> SpanContext | None:
    """The remote span context of W3C ``traceparent``/``tracestate`` headers, if valid."""
    if not parent:
        return None
    carrier: dict[str, Any] = {"traceparent": parent}
    if state:
        carrier["tracestate"] = state
    ctx = _PROPAGATOR.extract(carrier)
    span_context: SpanContext = trace.get_current_span(ctx).get_span_context()
    return span_context if span_context.is_valid else None

"""Trace context on the bus: messaging spans and W3C propagation.

Span names and attributes follow the OpenTelemetry messaging semantic conventions:
``publish <event type>`` is a PRODUCER span and ``process <event type>`` a CONSUMER span,
the child of the publish span and linked to it.
"""

from __future__ import annotations

from types import TracebackType
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.trace import Link, NonRecordingSpan, Span, SpanContext, SpanKind
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator
from opentelemetry.util.types import AttributeValue

from ._envelope import Envelope
from ._event import Event
from ._hop_spans import HopSpans

__all__ = ["BusTracer", "ProcessScope", "from_wire", "to_wire", "traceparent"]

MESSAGING_SYSTEM = "actorchestra"
_PROPAGATOR = TraceContextTextMapPropagator()


class BusTracer:
    """Creates the bus's messaging spans with one tracer.

    Two fast paths keep tracing cheap enough for every hop (see ``shared/DESIGN.md``):

    * When the provider's sampler is the SDK's ``ParentBased`` with its default of
      dropping the children of unsampled parents, a hop whose parent is not sampled
      creates no span at all: the parent's span context travels on instead. The outcome
      is the sampler's own (nothing recorded, same trace id and flags), for under 1 us
      instead of about 5 us for a non-recording SDK span.
    * A hop whose parent is sampled and local is a :class:`HopSpan` when the provider
      qualifies (:meth:`HopSpans.for_provider`): the same finished span reaches the span
      processors for about a third of an SDK span's cost.

    Args:
        tracer_provider: Where spans go; ``None`` uses the global provider.
    """

    __slots__ = ("_drop_local", "_drop_remote", "_hops", "_tracer")

    def __init__(self, tracer_provider: trace.TracerProvider | None = None) -> None:
        self._tracer = trace.get_tracer("actorchestra.bus", tracer_provider=tracer_provider)
        self._drop_local = self._drop_remote = False
        provider = tracer_provider if tracer_provider is not None else trace.get_tracer_provider()
        self._hops = HopSpans.for_provider(provider)
        try:  # the library needs only the API; the SDK's sampler is recognized if present
            from opentelemetry.sdk.trace.sampling import ALWAYS_OFF, ParentBased  # noqa: PLC0415
        except ImportError:  # pragma: no cover - the SDK is a dependency today
            return
        sampler = getattr(provider, "sampler", None)
        if isinstance(sampler, ParentBased):
            # Its delegates for unsampled parents: ALWAYS_OFF unless configured otherwise.
            self._drop_local = getattr(sampler, "_local_parent_not_sampled", None) is ALWAYS_OFF
            self._drop_remote = getattr(sampler, "_remote_parent_not_sampled", None) is ALWAYS_OFF

    def _dropped(self, parent: SpanContext) -> bool:
        """Whether the sampler would surely drop a child of ``parent``."""
        if not parent.is_valid or parent.trace_flags.sampled:
            return False
        return self._drop_remote if parent.is_remote else self._drop_local

    def _fast(self, parent: SpanContext) -> HopSpans | None:
        """The hop-span maker, if a child of ``parent`` can be a :class:`HopSpan`."""
        hops = self._hops
        if hops is None or not parent.trace_flags.sampled or parent.is_remote:
            return None
        return hops if parent.is_valid else None

    def start_publish(self, event: Event, destination: str) -> Span:
        """Start the PRODUCER span of one publish, a child of the current context."""
        current = trace.get_current_span()
        parent = current.get_span_context()
        if not current.is_recording() and self._dropped(parent):
            return current  # ending it is a no-op: it is not recording
        attributes: dict[str, AttributeValue] = {
            "messaging.system": MESSAGING_SYSTEM,
            "messaging.operation.type": "send",
            "messaging.operation.name": "publish",
            "messaging.destination.name": destination,
            "messaging.message.id": event.id,
            "actorchestra.workflow.id": event.workflow_id,
            "actorchestra.task.id": event.task_id,
        }
        name = f"publish {event.type}"
        hops = self._fast(parent)
        if hops is not None:
            return hops.start(name, SpanKind.PRODUCER, parent, attributes)
        return self._tracer.start_span(name, kind=SpanKind.PRODUCER, attributes=attributes)

    def process(self, envelope: Envelope[Event], subscriber: str) -> ProcessScope:
        """The CONSUMER span of handling ``envelope``, as a context manager.

        The span's parent is the publish span carried in the envelope (when there is
        one), and it also links to it; the span is current while the body runs, so
        events published by the handler continue the trace. An exception escaping the
        body sets status ERROR, is recorded on the span and propagates.
        """
        return ProcessScope(self, envelope, subscriber)

    def _start_process(self, envelope: Envelope[Event], subscriber: str) -> Span:
        event = envelope.event
        parent_sc = envelope.span_context
        if parent_sc is not None and self._dropped(parent_sc):
            return NonRecordingSpan(parent_sc)
        attributes: dict[str, AttributeValue] = {
            "messaging.system": MESSAGING_SYSTEM,
            "messaging.operation.type": "process",
            "messaging.operation.name": "process",
            "messaging.destination.name": event.recipient or event.type,
            "messaging.consumer.group.name": subscriber,
            "messaging.message.id": event.id,
            "actorchestra.workflow.id": event.workflow_id,
            "actorchestra.task.id": event.task_id,
        }
        name = f"process {event.type}"
        hops = self._fast(parent_sc) if parent_sc is not None else None
        if hops is not None and parent_sc is not None:
            return hops.start(name, SpanKind.CONSUMER, parent_sc, attributes, (Link(parent_sc),))
        ctx = links = None
        if parent_sc is not None:
            ctx = trace.set_span_in_context(NonRecordingSpan(parent_sc))
            links = [Link(parent_sc)]
        return self._tracer.start_span(
            name, context=ctx, kind=SpanKind.CONSUMER, links=links, attributes=attributes
        )


class ProcessScope:
    """The ``with`` block of one ``process`` span (a class: cheaper than a generator)."""

    __slots__ = ("_envelope", "_span", "_subscriber", "_token", "_tracer")

    def __init__(self, tracer: BusTracer, envelope: Envelope[Event], subscriber: str) -> None:
        self._tracer = tracer
        self._envelope = envelope
        self._subscriber = subscriber

    def __enter__(self) -> Span:
        span = self._span = self._tracer._start_process(self._envelope, self._subscriber)
        self._token = otel_context.attach(trace.set_span_in_context(span))
        return span

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        span = self._span
        otel_context.detach(self._token)
        if exc is not None and span.is_recording():
            span.record_exception(exc)
            span.set_status(trace.Status(trace.StatusCode.ERROR, f"{type(exc).__name__}: {exc}"))
        span.end()


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
    if not event.traceparent:
        return Envelope(event)
    carrier: dict[str, Any] = {"traceparent": event.traceparent}
    if event.tracestate:
        carrier["tracestate"] = event.tracestate
    ctx = _PROPAGATOR.extract(carrier)
    span_context: SpanContext = trace.get_current_span(ctx).get_span_context()
    return Envelope(event, span_context if span_context.is_valid else None)

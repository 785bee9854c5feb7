"""Hop spans: the bus's messaging spans, finished on OpenTelemetry's public API only.

An SDK span costs 10-15 us to start and end (a sampler call, attribute cleaning under a
lock, id generation, a second object for the span processors), more than a whole
untraced hop of the bus. The bus's own spans are simple: their parent is known, local
and sampled, and the bus ends them in the thread that started them. So when the
application gives the bus its span processor (``bus.Telemetry(span_processor=...)``,
which ``actors.telemetry.setup_telemetry()`` does), a :class:`HopSpan` stands in for
the SDK span of such a hop: an API ``Span`` while it runs (the handler inside a
``process`` span adds attributes, events and child spans as usual), and at its end one
SDK ``ReadableSpan``, built with its public constructor and handed to the processor's
``on_end``, as the SDK's own span is. Attributes, events and links keep the span
limits (``SpanLimits``; the ``OTEL_*_LIMIT`` variables by default) through
``BoundedAttributes`` and ``BoundedList``, ``exception.type`` is spelled as the SDK
spells it, and the status follows the SDK's rules, so an exporter sees what it would
see from the SDK's span.

This module imports the OpenTelemetry SDK: the bus imports it only when given a span
processor, so the core needs only ``opentelemetry-api``.
"""

from __future__ import annotations

import logging
import random
import time
import traceback
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from opentelemetry import trace
from opentelemetry.attributes import BoundedAttributes
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import Event as SpanEvent
from opentelemetry.sdk.trace import ReadableSpan, SpanLimits, SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.id_generator import RandomIdGenerator
from opentelemetry.sdk.util import BoundedList
from opentelemetry.sdk.util.instrumentation import InstrumentationScope
from opentelemetry.trace import Link, SpanContext, SpanKind, Status, StatusCode, TraceFlags
from opentelemetry.util import types

__all__ = ["HopSpan", "HopSpans"]

logger = logging.getLogger(__name__)

_UNSET = Status(StatusCode.UNSET)
_SAMPLED = TraceFlags(TraceFlags.SAMPLED)


def _ask_the_sdk(scope: str) -> tuple[Callable[[type[BaseException]], str], InstrumentationScope]:
    """How this SDK spells ``exception.type``, and the scope its tracer gives ``scope``.

    Read from a span the SDK made, once: ``exception.type`` changed spelling in 1.3x.
    """
    spans = _Collect()
    provider = TracerProvider(shutdown_on_exit=False)
    provider.add_span_processor(spans)
    probe = trace.get_tracer(scope, tracer_provider=provider).start_span("probe")
    probe.record_exception(_ProbeError())
    probe.end()
    [made] = spans.spans
    spelled = (made.events[0].attributes or {}).get("exception.type") if made.events else None
    made_scope = made.instrumentation_scope or InstrumentationScope(scope)
    if spelled != f"{__name__}._ProbeError":
        return (lambda kind: kind.__qualname__), made_scope
    return (
        lambda kind: (
            f"{kind.__module__}.{kind.__qualname__}"
            if kind.__module__ and kind.__module__ != "builtins"
            else kind.__qualname__
        )
    ), made_scope


class _Collect(SpanProcessor):
    def __init__(self) -> None:
        self.spans: list[ReadableSpan] = []

    def on_end(self, span: ReadableSpan) -> None:
        self.spans.append(span)


class _ProbeError(Exception):
    """An exception of this module, for :func:`_ask_the_sdk`."""


class HopSpans:
    """Makes :class:`HopSpan` objects that end into one span processor.

    Args:
        span_processor: Where finished spans go (``on_end``); the provider's own.
        resource: The provider's resource.
        span_limits: The provider's span limits.
        id_generator: The provider's id generator (span ids).
    """

    __slots__ = ("_exception_type", "_limits", "_new_span_id", "_on_end", "_resource", "_scope")

    def __init__(
        self,
        span_processor: SpanProcessor,
        resource: Resource,
        span_limits: SpanLimits,
        id_generator: Any = None,  # noqa: ANN401 - an SDK IdGenerator
    ) -> None:
        self._on_end = span_processor.on_end
        self._resource = resource
        self._limits = span_limits
        self._new_span_id: Callable[[], int] = (
            (lambda: random.getrandbits(64))  # RandomIdGenerator's own rule
            if id_generator is None or type(id_generator) is RandomIdGenerator
            else id_generator.generate_span_id
        )
        self._exception_type, self._scope = _ask_the_sdk("actorchestra.bus")

    @staticmethod
    def for_telemetry(provider: trace.TracerProvider, span_processor: object) -> HopSpans | None:
        """Hop spans into ``span_processor`` for ``provider``, or ``None`` if it cannot be.

        It can when ``provider`` is an SDK ``TracerProvider`` (its public ``resource``
        and ``id_generator``) and ``span_processor`` an SDK ``SpanProcessor``.
        """
        if not isinstance(provider, TracerProvider):
            return None
        if not isinstance(span_processor, SpanProcessor):
            return None
        return HopSpans(span_processor, provider.resource, SpanLimits(), provider.id_generator)

    def with_limits(self, limits: SpanLimits) -> HopSpans:
        """These hop spans, under ``limits`` instead (a provider given explicit limits)."""
        self._limits = limits
        return self

    def start(
        self,
        name: str,
        kind: SpanKind,
        parent: SpanContext,
        attributes: dict[str, types.AttributeValue],
        link_parent: bool = False,
    ) -> HopSpan:
        """Start a span, the child of the sampled, local ``parent`` (and linked to it)."""
        span_id = self._new_span_id()
        while not span_id:  # pragma: no cover - one chance in 2**64
            span_id = self._new_span_id()
        context = SpanContext(parent.trace_id, span_id, False, _SAMPLED, parent.trace_state)
        return HopSpan(self, name, kind, context, parent, attributes, link_parent)


def _within(attributes: Mapping[str, types.AttributeValue], limits: SpanLimits) -> bool:
    """Whether the bus's own attributes (clean strings) are within ``limits`` as they are."""
    if limits.max_span_attributes is not None and len(attributes) > limits.max_span_attributes:
        return False
    longest = limits.max_span_attribute_length
    return longest is None or all(
        not isinstance(v, str) or len(v) <= longest for v in attributes.values()
    )


class HopSpan(trace.Span):
    """A recording span of one bus hop (see the module doc).

    Ended by the bus in the thread that started it; until then the handler that runs
    inside it may change it, as it would an SDK span.
    """

    __slots__ = (
        "_attributes",
        "_cleaned",
        "_context",
        "_end_time",
        "_events",
        "_kind",
        "_link_parent",
        "_links",
        "_name",
        "_owner",
        "_parent",
        "_start_time",
        "_status",
    )

    def __init__(  # noqa: PLR0917 - made in one place, HopSpans.start
        self,
        owner: HopSpans,
        name: str,
        kind: SpanKind,
        context: SpanContext,
        parent: SpanContext,
        attributes: dict[str, types.AttributeValue],
        link_parent: bool,
    ) -> None:
        self._owner = owner
        self._name = name
        self._kind = kind
        self._context = context
        self._parent = parent
        self._attributes = attributes
        self._cleaned = False  # whether attributes must go through BoundedAttributes
        self._link_parent = link_parent
        self._events: list[SpanEvent] | tuple[()] = ()  # a list once one is added
        self._links: list[Link] | tuple[()] = ()
        self._status = _UNSET
        self._start_time = time.time_ns()
        self._end_time: int | None = None

    def get_span_context(self) -> SpanContext:
        """This span's context (sampled, local)."""
        return self._context

    def is_recording(self) -> bool:
        """True until the span ends."""
        return self._end_time is None

    def end(self, end_time: int | None = None) -> None:
        """End the span and hand it, finished, to the span processor (once)."""
        if self._end_time is not None:
            logger.warning("Calling end() on an ended span.")
            return
        self._end_time = end = end_time if end_time is not None else time.time_ns()
        owner = self._owner
        limits = owner._limits
        links: Sequence[Link] = self._links
        if self._link_parent:
            links = (Link(self._parent), *links)
        if limits.max_links is not None and len(links) > limits.max_links:
            links = BoundedList.from_seq(limits.max_links, links)
        events: Sequence[SpanEvent] = self._events
        if limits.max_events is not None and len(events) > limits.max_events:
            events = BoundedList.from_seq(limits.max_events, events)
        attributes: Mapping[str, types.AttributeValue] = self._attributes
        if self._cleaned or not _within(attributes, limits):
            attributes = BoundedAttributes(
                limits.max_span_attributes,
                attributes,
                immutable=False,
                max_value_len=limits.max_span_attribute_length,
            )
        owner._on_end(
            ReadableSpan(
                name=self._name,
                context=self._context,
                parent=self._parent,
                resource=owner._resource,
                attributes=attributes,
                events=events,
                links=links,
                kind=self._kind,
                status=self._status,
                start_time=self._start_time,
                end_time=end,
                instrumentation_scope=owner._scope,
            )
        )

    def _link_attributes(self, attributes: types.Attributes) -> BoundedAttributes:
        limits = self._owner._limits
        return BoundedAttributes(
            limits.max_link_attributes,
            attributes,
            max_value_len=limits.max_attribute_length,
            immutable=True,
        )

    def set_attributes(self, attributes: Mapping[str, types.AttributeValue]) -> None:
        """Set attributes (ignored, with a warning, once ended)."""
        if self._end_time is not None:
            logger.warning("Setting attribute on ended span.")
            return
        self._cleaned = True  # the caller's values: cleaned as the SDK cleans them
        self._attributes.update(attributes)

    def set_attribute(self, key: str, value: types.AttributeValue) -> None:
        """Set one attribute (ignored, with a warning, once ended)."""
        if self._end_time is not None:
            logger.warning("Setting attribute on ended span.")
            return
        self._cleaned = True
        self._attributes[key] = value

    def add_event(
        self,
        name: str,
        attributes: types.Attributes = None,
        timestamp: int | None = None,
    ) -> None:
        """Add an event (time in ns since the epoch; now by default)."""
        if self._end_time is not None:
            logger.warning("Calling add_event() on an ended span.")
            return
        limits = self._owner._limits
        bounded = BoundedAttributes(
            limits.max_event_attributes,
            attributes,
            max_value_len=limits.max_attribute_length,
            immutable=True,
        )
        event = SpanEvent(name, bounded, timestamp)
        if isinstance(self._events, list):
            self._events.append(event)
        else:
            self._events = [event]

    def add_link(self, context: SpanContext, attributes: types.Attributes = None) -> None:
        """Link another span (a link to an invalid context without attributes is ignored)."""
        if self._end_time is not None:
            logger.warning("Calling add_link() on an ended span.")
            return
        if not context.is_valid and not attributes:
            return
        link = Link(context, self._link_attributes(attributes))
        if isinstance(self._links, list):
            self._links.append(link)
        else:
            self._links = [link]

    def update_name(self, name: str) -> None:
        """Rename the span."""
        if self._end_time is None:
            self._name = name

    def set_status(self, status: Status | StatusCode, description: str | None = None) -> None:
        """Set the status, as the SDK does: OK is final, UNSET is ignored."""
        if self._end_time is not None:
            return
        code = status.status_code if isinstance(status, Status) else status
        if self._status.status_code is StatusCode.OK or code is StatusCode.UNSET:
            return
        self._status = status if isinstance(status, Status) else Status(status, description)

    def record_exception(
        self,
        exception: BaseException,
        attributes: types.Attributes = None,
        timestamp: int | None = None,
        escaped: bool = False,
    ) -> None:
        """Record ``exception`` as an ``exception`` event, as the SDK's span does."""
        event: dict[str, types.AttributeValue] = {
            "exception.type": self._owner._exception_type(type(exception)),
            "exception.message": str(exception),
            "exception.stacktrace": "".join(traceback.format_exception(exception)),
            "exception.escaped": str(escaped),
        }
        event.update(attributes or {})
        self.add_event("exception", event, timestamp)

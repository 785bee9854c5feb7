"""Hop spans: the bus's messaging spans, recorded straight into an SDK provider's processors.

An OpenTelemetry SDK span costs 10-15 us to start and end (sampler call, attribute
cleaning under a lock, id generation, a second object for the span processors), more
than a whole untraced hop of the bus. The bus's own spans are simple: their parent is
known and sampled, their attributes are known-clean strings, and the bus ends them in
the thread that started them. So for children of a sampled in-process parent, under the
SDK's default ``ParentBased`` sampling (whose decision for them is "record and sample"),
a :class:`HopSpan` stands in for the SDK span. It is both an API ``Span`` (code running
inside a ``process`` span adds attributes, events and child spans as usual) and the
SDK's :class:`~opentelemetry.sdk.trace.ReadableSpan` the span processors and exporters
read, as the SDK's own span is. It takes its span ids from the provider's id generator,
and calls the processors' ``on_start`` only when one of them does something there.
Everything else (roots, remote parents, other samplers, a provider that is not the
SDK's) goes through the ordinary tracer.
"""

from __future__ import annotations

import functools
import random
import time
import traceback
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from opentelemetry import trace
from opentelemetry.sdk.trace import Event as SpanEvent
from opentelemetry.sdk.trace import ReadableSpan, SpanProcessor
from opentelemetry.sdk.trace import TracerProvider as SdkProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor
from opentelemetry.sdk.trace.id_generator import RandomIdGenerator
from opentelemetry.sdk.trace.sampling import ALWAYS_ON, ParentBased
from opentelemetry.sdk.util.instrumentation import InstrumentationScope
from opentelemetry.trace import Link, SpanContext, SpanKind, Status, StatusCode
from opentelemetry.util import types

from . import _context

__all__ = ["HopSpan", "HopSpans"]

_UNSET = Status(StatusCode.UNSET)
# ``on_start`` of these processors does nothing, so calling it can be skipped.
_NO_OP_ON_START = frozenset(
    {SpanProcessor.on_start, BatchSpanProcessor.on_start, SimpleSpanProcessor.on_start}
)


class HopSpans:
    """Makes :class:`HopSpan` objects for one SDK tracer provider.

    Use :meth:`for_provider`, which returns ``None`` when the provider does not qualify.
    """

    __slots__ = (
        "_linked_type",
        "_new_span_id",
        "_on_end",
        "_on_start",
        "_processor",
        "_seen",
        "_span_type",
    )

    def __init__(self, provider: Any) -> None:  # noqa: ANN401 - an SDK TracerProvider
        self._processor = provider._active_span_processor
        self._seen: object = self  # the processor set _on_start and _on_end were made for
        self._on_start: tuple[Callable[[Any, None], None], ...] = ()
        self._on_end: tuple[Callable[[Any], None], ...] = ()
        shared = {
            "_owner": self,
            "_resource": provider.resource,
            "_instrumentation_scope": InstrumentationScope("actorchestra.bus"),
        }
        self._span_type: type[HopSpan] = type("HopSpan", (HopSpan,), shared)
        self._linked_type: type[HopSpan] = type(
            "HopSpan", (HopSpan,), {**shared, "_links_parent": True}
        )
        ids = provider.id_generator
        self._new_span_id: Callable[[], int] = (
            functools.partial(random.getrandbits, 64)  # RandomIdGenerator's, without a frame
            if type(ids) is RandomIdGenerator
            else ids.generate_span_id
        )

    @staticmethod
    def for_provider(provider: trace.TracerProvider) -> HopSpans | None:
        """Hop spans for ``provider``, or ``None`` if it does not qualify.

        It qualifies if it is an enabled SDK provider whose sampler is ``ParentBased``
        and samples the local children of sampled parents (the SDK's default).
        """
        if not isinstance(provider, SdkProvider) or getattr(provider, "_disabled", False):
            return None
        sampler = provider.sampler
        if not isinstance(sampler, ParentBased):
            return None
        if getattr(sampler, "_local_parent_sampled", None) is not ALWAYS_ON:
            return None
        if not hasattr(provider, "_active_span_processor"):
            return None  # pragma: no cover - an SDK without the attribute we rely on
        return HopSpans(provider)

    def start(
        self,
        name: str,
        kind: SpanKind,
        parent: SpanContext,
        attributes: dict[str, types.AttributeValue],
        link_parent: bool = False,
    ) -> HopSpan:
        """Start a span, the child of the sampled, local ``parent`` (and linked to it).

        The link is made when the span's links are read (at export), so a span waiting
        in a batch holds no link objects: fewer objects for the garbage collector.
        """
        span_id = self._new_span_id()
        while not span_id:  # pragma: no cover - one chance in 2**64
            span_id = self._new_span_id()
        context = _context.child_context(parent, span_id)
        maker = self._linked_type if link_parent else self._span_type
        span = maker(name, kind, context, parent, attributes)
        processors = getattr(self._processor, "_span_processors", None)
        if processors is not self._seen:
            self._refresh(processors)
        for on_start in self._on_start:
            on_start(span, None)
        return span

    def _refresh(self, processors: Sequence[SpanProcessor] | None) -> None:
        """Take the provider's current processors (they may be added at any time).

        ``on_start`` is called only on those that do something there; ``on_end`` on each
        directly, saving the multi-processor's loop. Without the SDK's processor tuple
        (another SDK version), both go through the multi-processor.
        """
        self._seen = processors
        if processors is None:
            self._on_start = (self._processor.on_start,)
            self._on_end = (self._processor.on_end,)
            return
        self._on_start = tuple(
            p.on_start for p in processors if type(p).on_start not in _NO_OP_ON_START
        )
        self._on_end = tuple(_on_end_of(p) for p in processors)


# BatchSpanProcessor.on_end checks the span's sampled flag, then hands it to its batch
# processor's ``emit``: those are the names its code uses. Hop spans are always sampled,
# so while the SDK's function is still that one, the bus calls ``emit`` itself (five
# Python calls fewer per span).
_BSP_ON_END_NAMES = ("context", "trace_flags", "sampled", "_batch_processor", "emit")
_BSP_EMITS = BatchSpanProcessor.on_end.__code__.co_names == _BSP_ON_END_NAMES


def _on_end_of(processor: SpanProcessor) -> Callable[[Any], None]:
    """What to call with an ended hop span: ``processor.on_end``, or what it would call."""
    if _BSP_EMITS and type(processor) is BatchSpanProcessor:
        emit = getattr(getattr(processor, "_batch_processor", None), "emit", None)
        if callable(emit):
            return emit  # type: ignore[no-any-return]
    return processor.on_end


class HopSpan(trace.Span, ReadableSpan):
    """A recording span of one bus hop (see the module doc).

    It is ended by the bus in the thread that started it; until then the handler that
    runs inside it may change it. Attributes are taken as given (no span limits).
    Each :class:`HopSpans` makes them through its own subclass, whose class attributes
    hold what all its spans share (owner, resource, scope), so a span sets only what
    is its own.
    """

    # ReadableSpan's fields. Those shared or usually unchanged are class attributes.
    _owner: HopSpans
    _context: SpanContext
    _parent: SpanContext
    _attributes: dict[str, types.AttributeValue]
    _instrumentation_info = None
    _links_parent = False  # true on the subclass of spans linked to their parent
    _added_links: tuple[Link, ...] = ()
    _events: Sequence[SpanEvent] = ()
    _status = _UNSET
    _end_time: int | None = None

    def __init__(
        self,
        name: str,
        kind: SpanKind,
        context: SpanContext,
        parent: SpanContext,
        attributes: dict[str, types.AttributeValue],
    ) -> None:
        # Not ReadableSpan.__init__: a keyword call setting fields shared by all spans.
        self._name = name
        self._kind = kind
        self._context = context
        self._parent = parent
        self._attributes = attributes
        self._start_time = time.time_ns()

    @property
    def _links(self) -> tuple[Link, ...]:  # type: ignore[override] # read-only here
        if self._links_parent:
            return (_context.link(self._parent), *self._added_links)
        return self._added_links

    def get_span_context(self) -> SpanContext:
        """This span's context (sampled, local)."""
        return self._context

    def is_recording(self) -> bool:
        """True until the span ends."""
        return self._end_time is None

    def end(self, end_time: int | None = None) -> None:
        """End the span and hand it to the provider's span processors (once)."""
        if self._end_time is not None:
            return
        self._end_time = end_time if end_time is not None else time.time_ns()
        for on_end in self._owner._on_end:
            on_end(self)

    def set_attributes(self, attributes: Mapping[str, types.AttributeValue]) -> None:
        """Set attributes (ignored once ended)."""
        if self._end_time is None:
            self._attributes.update(attributes)

    def set_attribute(self, key: str, value: types.AttributeValue) -> None:
        """Set one attribute (ignored once ended)."""
        if self._end_time is None:
            self._attributes[key] = value

    def add_event(
        self,
        name: str,
        attributes: types.Attributes = None,
        timestamp: int | None = None,
    ) -> None:
        """Add an event (time in ns since the epoch; now by default)."""
        if self._end_time is None:
            when = timestamp if timestamp else time.time_ns()
            self._events = (*self._events, SpanEvent(name, dict(attributes or {}), when))

    def add_link(self, context: SpanContext, attributes: types.Attributes = None) -> None:
        """Link another span."""
        if self._end_time is None:
            self._added_links = (*self._added_links, Link(context, attributes))

    def update_name(self, name: str) -> None:
        """Rename the span."""
        if self._end_time is None:
            self._name = name

    def set_status(self, status: Status | StatusCode, description: str | None = None) -> None:
        """Set the status, as the SDK does (OK is final; a description only with ERROR)."""
        if isinstance(status, StatusCode):
            status = Status(status, description)
        if self._end_time is None and self._status.status_code is not StatusCode.OK:
            self._status = status

    def record_exception(
        self,
        exception: BaseException,
        attributes: types.Attributes = None,
        timestamp: int | None = None,
        escaped: bool = False,
    ) -> None:
        """Record ``exception`` as an ``exception`` event (OTel exception conventions)."""
        event: dict[str, types.AttributeValue] = {
            "exception.type": type(exception).__qualname__,
            "exception.message": str(exception),
            "exception.stacktrace": "".join(traceback.format_exception(exception)),
            "exception.escaped": str(escaped),
        }
        event.update(attributes or {})
        self.add_event("exception", event, timestamp)

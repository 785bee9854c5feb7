"""Hop spans: the bus's messaging spans, recorded straight into an SDK provider's processors.

An OpenTelemetry SDK span costs 10-15 us to start and end (sampler call, attribute
cleaning under a lock, id generation), more than a whole untraced hop of the bus. The
bus's own spans are simple: their parent is known and sampled, their attributes are
known-clean strings, nobody holds them once the hop is over. So for children of a
sampled in-process parent, under the SDK's default ``ParentBased`` sampling (whose
decision for them is "record and sample"), a :class:`HopSpan` stands in for the SDK
span: it implements the API ``Span`` (so code running inside a ``process`` span can add
attributes, events and child spans as usual) and on ``end`` hands the provider's span
processors the same :class:`~opentelemetry.sdk.trace.ReadableSpan` the SDK would, for
about a third of the cost. Everything else (roots, remote parents, other samplers, a
provider that is not the SDK's) goes through the ordinary tracer.
"""

from __future__ import annotations

import random
import threading
import time
import traceback
from collections.abc import Mapping, Sequence
from typing import Any

from opentelemetry import trace
from opentelemetry.trace import Link, SpanContext, SpanKind, Status, StatusCode, TraceFlags
from opentelemetry.util import types

__all__ = ["HopSpan", "HopSpans"]

_SAMPLED = TraceFlags(TraceFlags.SAMPLED)


class HopSpans:
    """Makes :class:`HopSpan` objects for one SDK tracer provider.

    Use :meth:`for_provider`, which returns ``None`` when the provider does not qualify.
    """

    __slots__ = ("_processor", "_readable", "_resource", "_scope", "_span_event")

    def __init__(self, provider: Any) -> None:  # noqa: ANN401 - an SDK TracerProvider
        from opentelemetry.sdk.trace import Event as SpanEvent  # noqa: PLC0415
        from opentelemetry.sdk.trace import ReadableSpan  # noqa: PLC0415
        from opentelemetry.sdk.util.instrumentation import InstrumentationScope  # noqa: PLC0415

        self._processor = provider._active_span_processor
        self._resource = provider.resource
        self._scope = InstrumentationScope("actorchestra.bus")
        self._readable = ReadableSpan
        self._span_event = SpanEvent

    @staticmethod
    def for_provider(provider: trace.TracerProvider) -> HopSpans | None:
        """Hop spans for ``provider``, or ``None`` if it does not qualify.

        It qualifies if it is an enabled SDK provider whose sampler is ``ParentBased``
        and samples the local children of sampled parents (the SDK's default).
        """
        try:
            from opentelemetry.sdk.trace import TracerProvider as SdkProvider  # noqa: PLC0415
            from opentelemetry.sdk.trace.sampling import ALWAYS_ON, ParentBased  # noqa: PLC0415
        except ImportError:  # pragma: no cover - the SDK is a dependency today
            return None
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
        links: Sequence[Link] = (),
    ) -> HopSpan:
        """Start a span, the child of the sampled, local ``parent``."""
        context = SpanContext(
            parent.trace_id, random.getrandbits(64), False, _SAMPLED, parent.trace_state
        )
        span = HopSpan(
            owner=self,
            name=name,
            kind=kind,
            context=context,
            parent=parent,
            attributes=attributes,
            links=links,
        )
        self._processor.on_start(span, None)
        return span

    def _finish(self, span: HopSpan, end_time: int) -> None:
        events = tuple(
            self._span_event(name, attrs, timestamp) for name, attrs, timestamp in span.events
        )
        readable = self._readable(
            name=span.name,
            context=span.context,
            parent=span.parent,
            resource=self._resource,
            attributes=span.attributes,
            events=events,
            links=tuple(span.links),
            kind=span.kind,
            status=span.status,
            start_time=span.start_time,
            end_time=end_time,
            instrumentation_scope=self._scope,
        )
        self._processor.on_end(readable)


class HopSpan(trace.Span):
    """A recording span of one bus hop (see the module doc). Thread-safe like SDK spans."""

    __slots__ = (
        "_ended",
        "_lock",
        "_owner",
        "attributes",
        "context",
        "events",
        "kind",
        "links",
        "name",
        "parent",
        "start_time",
        "status",
    )

    def __init__(
        self,
        *,
        owner: HopSpans,
        name: str,
        kind: SpanKind,
        context: SpanContext,
        parent: SpanContext,
        attributes: dict[str, types.AttributeValue],
        links: Sequence[Link],
    ) -> None:
        self._owner = owner
        self._lock = threading.Lock()
        self._ended = False
        self.name = name
        self.kind = kind
        self.context = context
        self.parent = parent
        self.attributes = attributes
        self.links = list(links)
        self.events: list[tuple[str, Mapping[str, types.AttributeValue], int]] = []
        self.status = Status()
        self.start_time = time.time_ns()

    def get_span_context(self) -> SpanContext:
        """This span's context (sampled, local)."""
        return self.context

    def is_recording(self) -> bool:
        """True until the span ends."""
        return not self._ended

    def end(self, end_time: int | None = None) -> None:
        """End the span and hand it to the provider's span processors (once)."""
        with self._lock:
            if self._ended:
                return
            self._ended = True
        self._owner._finish(self, end_time if end_time is not None else time.time_ns())

    def set_attributes(self, attributes: Mapping[str, types.AttributeValue]) -> None:
        """Set attributes (ignored once ended)."""
        with self._lock:
            if not self._ended:
                self.attributes.update(attributes)

    def set_attribute(self, key: str, value: types.AttributeValue) -> None:
        """Set one attribute (ignored once ended)."""
        self.set_attributes({key: value})

    def add_event(
        self,
        name: str,
        attributes: types.Attributes = None,
        timestamp: int | None = None,
    ) -> None:
        """Add an event (time in ns since the epoch; now by default)."""
        with self._lock:
            if not self._ended:
                self.events.append(
                    (name, dict(attributes or {}), timestamp if timestamp else time.time_ns())
                )

    def add_link(self, context: SpanContext, attributes: types.Attributes = None) -> None:
        """Link another span."""
        with self._lock:
            if not self._ended:
                self.links.append(Link(context, attributes))

    def update_name(self, name: str) -> None:
        """Rename the span."""
        with self._lock:
            if not self._ended:
                self.name = name

    def set_status(self, status: Status | StatusCode, description: str | None = None) -> None:
        """Set the status, as the SDK does (OK is final; a description only with ERROR)."""
        if isinstance(status, StatusCode):
            status = Status(status, description)
        with self._lock:
            if not self._ended and self.status.status_code is not StatusCode.OK:
                self.status = status

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

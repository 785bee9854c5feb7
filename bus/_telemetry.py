"""Telemetry: the tracer and meter providers a bus and its actors report to, as one value."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from opentelemetry import metrics, trace

if TYPE_CHECKING:
    from opentelemetry.sdk.trace import SpanLimits, SpanProcessor

__all__ = ["Telemetry"]


@dataclass(frozen=True, slots=True)
class Telemetry:
    """Where spans and metrics go: a pair of providers, passed around as one value.

    Each ``None`` means OpenTelemetry's global provider, looked up when a tracer or
    meter is asked for (the API's no-op one unless the application installed its own).
    Building one creates no tracer, meter, thread or exporter.

    Args:
        tracer_provider: Where spans go; ``None`` uses the global tracer provider.
        meter_provider: Where metrics go; ``None`` uses the global meter provider.
        span_processor: The SDK tracer provider's span processor (e.g. the
            ``SynchronousMultiSpanProcessor`` it was built with,
            ``TracerProvider(active_span_processor=...)``), given again so the bus can
            hand the spans of its hops to it directly, finished (the fast path of
            ``bus._hop_spans``). Giving it is the application's word that the
            provider's sampler follows the parent — samples the children of sampled
            parents and drops those of unsampled ones, as the SDK's default
            ``ParentBased`` samplers do — and that no processor needs ``on_start`` for
            these spans (export processors do not).
            :func:`actors.telemetry.setup_telemetry` gives it when both hold. ``None``:
            every span goes through the tracer.
        span_limits: The provider's span limits, if it was given explicit ones
            (``TracerProvider(span_limits=...)``); ``None`` means the SDK's default,
            ``SpanLimits()`` from the ``OTEL_*_LIMIT`` variables.

    Example:
        >>> from opentelemetry.sdk.trace import TracerProvider
        >>> from bus import Telemetry
        >>> telemetry = Telemetry(tracer_provider=TracerProvider())
        >>> with telemetry.tracer("example").start_as_current_span("work") as span:
        ...     span.is_recording()
        True
    """

    tracer_provider: trace.TracerProvider | None = None
    meter_provider: metrics.MeterProvider | None = None
    span_processor: SpanProcessor | None = None
    span_limits: SpanLimits | None = None

    def tracer(self, name: str) -> trace.Tracer:
        """A tracer from :attr:`tracer_provider` (or the global provider if ``None``).

        Args:
            name: The instrumentation scope, e.g. ``"actorchestra.supervisor"``.

        Returns:
            The provider's tracer for ``name``.
        """
        return trace.get_tracer(name, tracer_provider=self.tracer_provider)

    def meter(self, name: str) -> metrics.Meter:
        """A meter from :attr:`meter_provider` (or the global provider if ``None``).

        Args:
            name: The instrumentation scope, e.g. ``"actorchestra.bus"``.

        Returns:
            The provider's meter for ``name``.
        """
        return metrics.get_meter(name, meter_provider=self.meter_provider)

"""Telemetry: the tracer and meter providers a bus and its actors report to, as one value."""

from __future__ import annotations

from dataclasses import dataclass

from opentelemetry import metrics, trace

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

"""Telemetry set-up for applications and examples (the library itself installs nothing).

:func:`setup_telemetry` builds an OpenTelemetry SDK ``TracerProvider`` and
``MeterProvider`` from the standard ``OTEL_*`` environment variables:
``OTEL_SERVICE_NAME`` and ``OTEL_RESOURCE_ATTRIBUTES`` for the resource,
``OTEL_TRACES_SAMPLER``/``OTEL_TRACES_SAMPLER_ARG`` for sampling, and — when
``OTEL_EXPORTER_OTLP_ENDPOINT`` (or the ``..._TRACES_``/``..._METRICS_`` variants) is
set — OTLP exporters, gRPC unless ``OTEL_EXPORTER_OTLP_PROTOCOL`` is ``http/protobuf``
(headers, timeouts and TLS from the exporters' own ``OTEL_EXPORTER_OTLP_*`` variables).

The spans follow the OpenTelemetry semantic conventions: messaging spans for the bus, and
the GenAI conventions as of ``semantic-conventions-genai`` v0.1.0 (Development status;
its first standalone release, on top of semantic-conventions v1.45.0): the latest names,
e.g. ``gen_ai.provider.name`` (not ``gen_ai.system``), ``gen_ai.input.messages`` /
``gen_ai.output.messages``, ``gen_ai.tool.call.arguments``, and ``invoke_workflow``
naming the workflow in ``gen_ai.agent.name``.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass

from opentelemetry import metrics

try:
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import MetricExporter, PeriodicExportingMetricReader
    from opentelemetry.sdk.resources import SERVICE_NAME, Resource
    from opentelemetry.sdk.trace import (
        ReadableSpan,
        SpanLimits,
        SynchronousMultiSpanProcessor,
        TracerProvider,
    )
    from opentelemetry.sdk.trace.export import (
        BatchSpanProcessor,
        SimpleSpanProcessor,
        SpanExporter,
    )
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
    from opentelemetry.sdk.trace.id_generator import IdGenerator
    from opentelemetry.sdk.trace.sampling import ParentBased, Sampler
except ImportError as exc:  # pragma: no cover - the [otlp] extra is not installed
    msg = "actors.telemetry needs the OpenTelemetry SDK: pip install 'actorchestra[otlp]'"
    raise ImportError(msg) from exc

from bus import Telemetry

__all__ = ["TelemetrySetup", "format_span_tree", "sdk_tracer_provider", "setup_telemetry"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class TelemetrySetup:
    """What :func:`setup_telemetry` built: the SDK providers and their exporters.

    Attributes:
        tracer_provider: Pass it to ``EventBus`` (its actors and team report to it).
        meter_provider: Pass it to ``EventBus``.
        memory: In-memory copy of finished spans, if asked for.
        otlp: Whether spans and metrics are exported over OTLP.
    """

    tracer_provider: TracerProvider
    meter_provider: MeterProvider
    memory: InMemorySpanExporter | None
    otlp: bool

    telemetry: Telemetry
    """What to give ``EventBus(telemetry=...)`` (and ``Planner(telemetry=...)``): both
    providers, and the span processor of the bus's fast path when the sampler allows."""

    def shutdown(self, timeout: float = 10.0) -> bool:
        """Flush and shut the exporters down within ``timeout`` seconds.

        Returns:
            False (and a WARNING is logged) if spans or metrics could not be flushed in time.
        """
        deadline = time.monotonic() + timeout
        flushed = self.tracer_provider.force_flush(int(timeout * 1000))
        if not flushed:
            logger.warning("Spans were not all exported within %s s; some are lost", timeout)
        self.tracer_provider.shutdown()
        remaining_ms = max(0.0, deadline - time.monotonic()) * 1000
        try:
            metrics_flushed = self.meter_provider.force_flush(remaining_ms)
        except Exception:  # the SDK raises on a timeout
            logger.warning("Metrics were not exported within %s s; some are lost", timeout)
            metrics_flushed = False
        self.meter_provider.shutdown(max(remaining_ms, 1.0))
        return flushed and metrics_flushed


def setup_telemetry(
    service_name: str = "actorchestra", *, keep_in_memory: bool = False
) -> TelemetrySetup:
    """Build a tracer provider from the ``OTEL_*`` environment (see the module doc).

    Args:
        service_name: ``service.name``, unless ``OTEL_SERVICE_NAME`` is set.
        keep_in_memory: Also keep finished spans in memory (for :func:`format_span_tree`).

    Returns:
        The providers and their exporters. They are *not* installed globally.
    """
    resource = Resource.create({SERVICE_NAME: os.environ.get("OTEL_SERVICE_NAME", service_name)})
    readers = []
    metrics_endpoint = os.environ.get("OTEL_EXPORTER_OTLP_METRICS_ENDPOINT") or os.environ.get(
        "OTEL_EXPORTER_OTLP_ENDPOINT"
    )
    if metrics_endpoint:
        readers.append(PeriodicExportingMetricReader(_otlp_metric_exporter()))
    meter_provider = MeterProvider(resource=resource, metric_readers=readers)
    # The sampler comes from OTEL_TRACES_SAMPLER.
    provider, telemetry = sdk_tracer_provider(resource=resource, meter_provider=meter_provider)
    memory = None
    if keep_in_memory:
        memory = InMemorySpanExporter()
        provider.add_span_processor(SimpleSpanProcessor(memory))
    endpoint = os.environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") or os.environ.get(
        "OTEL_EXPORTER_OTLP_ENDPOINT"
    )
    if endpoint:
        provider.add_span_processor(BatchSpanProcessor(_otlp_span_exporter()))
    otlp = bool(endpoint or metrics_endpoint)
    return TelemetrySetup(provider, meter_provider, memory, otlp, telemetry)


def sdk_tracer_provider(
    *,
    resource: Resource | None = None,
    root_sampler: Sampler | None = None,
    span_limits: SpanLimits | None = None,
    id_generator: IdGenerator | None = None,
    meter_provider: metrics.MeterProvider | None = None,
) -> tuple[TracerProvider, Telemetry]:
    """An SDK tracer provider whose bus spans take the fast path, and its :class:`Telemetry`.

    The provider is built on a ``SynchronousMultiSpanProcessor`` of our own
    (``TracerProvider(active_span_processor=...)``); processors added to it later with
    ``add_span_processor`` land there too, and the returned ``Telemetry`` gives it to
    the bus (``Telemetry.span_processor``), so hop spans reach them finished without the
    SDK's per-span machinery. Exported spans are the same as the SDK's own.

    The fast path is declared only when the sampler follows the parent: with
    ``root_sampler`` the sampler is ``ParentBased(root_sampler)``; without it, the SDK
    reads ``OTEL_TRACES_SAMPLER``, and the fast path is declared when that is unset or
    one of the ``parentbased_*`` samplers (the OpenTelemetry SDK environment
    variables). Otherwise every span goes through the tracer.

    Args:
        resource: The provider's resource; the SDK's default if ``None``.
        root_sampler: The sampler of traces' roots; see above.
        span_limits: Span limits; ``SpanLimits()`` (the ``OTEL_*_LIMIT`` variables) if
            ``None``.
        id_generator: Trace and span ids; random if ``None``.
        meter_provider: The ``Telemetry``'s meter provider; the global one if ``None``.

    Returns:
        The provider (add your span processors to it) and the value to give
        ``EventBus(telemetry=...)``.
    """
    processor = SynchronousMultiSpanProcessor()  # type: ignore[no-untyped-call]
    sampler = ParentBased(root_sampler) if root_sampler is not None else None
    provider = TracerProvider(
        sampler=sampler,
        resource=resource,
        active_span_processor=processor,
        id_generator=id_generator,
        span_limits=span_limits,
    )
    from_env = os.environ.get("OTEL_TRACES_SAMPLER", "").strip().lower()
    follows_parent = root_sampler is not None or from_env in ("", *_PARENT_BASED)
    return provider, Telemetry(
        provider,
        meter_provider,
        span_processor=processor if follows_parent else None,
        span_limits=span_limits,
    )


_PARENT_BASED = ("parentbased_always_on", "parentbased_always_off", "parentbased_traceidratio")


def _protocol(signal: str) -> str:
    return os.environ.get(f"OTEL_EXPORTER_OTLP_{signal}_PROTOCOL") or os.environ.get(
        "OTEL_EXPORTER_OTLP_PROTOCOL", "grpc"
    )


def _otlp_span_exporter() -> SpanExporter:
    # Imported when used: importing the gRPC exporter loads grpcio.
    if _protocol("TRACES").startswith("http"):
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import (  # noqa: PLC0415
            OTLPSpanExporter as HttpSpanExporter,
        )

        return HttpSpanExporter()
    from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import (  # noqa: PLC0415
        OTLPSpanExporter as GrpcSpanExporter,
    )

    return GrpcSpanExporter()


def _otlp_metric_exporter() -> MetricExporter:
    if _protocol("METRICS").startswith("http"):
        from opentelemetry.exporter.otlp.proto.http.metric_exporter import (  # noqa: PLC0415
            OTLPMetricExporter as HttpMetricExporter,
        )

        return HttpMetricExporter()
    from opentelemetry.exporter.otlp.proto.grpc.metric_exporter import (  # noqa: PLC0415
        OTLPMetricExporter as GrpcMetricExporter,
    )

    return GrpcMetricExporter()


def format_span_tree(spans: Sequence[ReadableSpan]) -> str:
    """Render finished spans as an indented tree, one line per span with its duration.

    Children are ordered by start time; spans whose parent is not in ``spans`` are
    roots.
    """
    by_id = {s.context.span_id: s for s in spans if s.context is not None}
    children: dict[int | None, list[ReadableSpan]] = {}
    for s in spans:
        parent = s.parent.span_id if s.parent is not None and s.parent.span_id in by_id else None
        children.setdefault(parent, []).append(s)
    lines: list[str] = []

    def walk(parent: int | None, depth: int) -> None:
        for s in sorted(children.get(parent, []), key=lambda s: s.start_time or 0):
            ms = ((s.end_time or 0) - (s.start_time or 0)) / 1e6
            status = "" if s.status.is_ok else f" [{s.status.status_code.name}]"
            lines.append(f"{'  ' * depth}{s.name} ({ms:.1f} ms){status}")
            if s.context is not None:
                walk(s.context.span_id, depth + 1)

    walk(None, 0)
    return "\n".join(lines)

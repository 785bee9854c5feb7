"""Telemetry set-up for applications and examples (the library itself installs nothing).

:func:`setup_telemetry` builds an OpenTelemetry SDK ``TracerProvider`` from the
standard ``OTEL_*`` environment variables: ``OTEL_SERVICE_NAME`` and
``OTEL_RESOURCE_ATTRIBUTES`` for the resource, ``OTEL_TRACES_SAMPLER`` for sampling,
and — when ``OTEL_EXPORTER_OTLP_ENDPOINT`` (or ``..._TRACES_ENDPOINT``) is set — an OTLP
exporter, gRPC unless ``OTEL_EXPORTER_OTLP_PROTOCOL`` is ``http/protobuf``.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass

from opentelemetry.sdk.resources import SERVICE_NAME, Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import (
    BatchSpanProcessor,
    SimpleSpanProcessor,
    SpanExporter,
)
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

__all__ = ["Telemetry", "format_span_tree", "setup_telemetry"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Telemetry:
    """What :func:`setup_telemetry` built.

    Attributes:
        tracer_provider: Pass it to ``EventBus``, ``Team`` and ``Planner``.
        memory: In-memory copy of finished spans, if asked for.
        otlp: Whether spans are exported over OTLP.
    """

    tracer_provider: TracerProvider
    memory: InMemorySpanExporter | None
    otlp: bool

    def shutdown(self, timeout: float = 10.0) -> bool:
        """Flush and shut the exporters down within ``timeout`` seconds.

        Returns:
            False (and a WARNING is logged) if spans could not be flushed in time.
        """
        flushed = self.tracer_provider.force_flush(int(timeout * 1000))
        if not flushed:
            logger.warning("Spans were not all exported within %s s; some are lost", timeout)
        self.tracer_provider.shutdown()
        return flushed


def setup_telemetry(
    service_name: str = "actorchestra", *, keep_in_memory: bool = False
) -> Telemetry:
    """Build a tracer provider from the ``OTEL_*`` environment (see the module doc).

    Args:
        service_name: ``service.name``, unless ``OTEL_SERVICE_NAME`` is set.
        keep_in_memory: Also keep finished spans in memory (for :func:`format_span_tree`).

    Returns:
        The provider and its exporters. It is *not* installed globally.
    """
    resource = Resource.create({SERVICE_NAME: os.environ.get("OTEL_SERVICE_NAME", service_name)})
    provider = TracerProvider(resource=resource)
    memory = None
    if keep_in_memory:
        memory = InMemorySpanExporter()
        provider.add_span_processor(SimpleSpanProcessor(memory))
    endpoint = os.environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") or os.environ.get(
        "OTEL_EXPORTER_OTLP_ENDPOINT"
    )
    if endpoint:
        provider.add_span_processor(BatchSpanProcessor(_otlp_exporter()))
    return Telemetry(provider, memory, bool(endpoint))


def _otlp_exporter() -> SpanExporter:
    protocol = os.environ.get("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL") or os.environ.get(
        "OTEL_EXPORTER_OTLP_PROTOCOL", "grpc"
    )
    if protocol.startswith("http"):
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import (  # noqa: PLC0415
            OTLPSpanExporter as HttpExporter,
        )

        return HttpExporter()
    from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import (  # noqa: PLC0415
        OTLPSpanExporter as GrpcExporter,
    )

    return GrpcExporter()


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
